"""Making lifted poses a body: constant bones, a path over the floor, feet on the ground.

Lifters answer frame by frame, so bones stretch a little from frame to frame; a rig cannot.
`constant_bone_lengths` keeps each predicted bone's direction and gives it one length for the
whole clip (the clip's median, left and right averaged), re-solving the joints from the
pelvis down the tree. `place_on_floor` moves the root-relative body over the floor along a
path estimated from the 2D root and the body's size in the image, and sets its height so
the lowest sole touches z = 0; that height is smoothed over a few frames so that noise in
the predicted legs does not make the body bob while a foot stands still, but never so much
that a sole sinks more than 2 cm into the floor. The flight of a
jump is not recovered: some foot is always on the floor.
"""

from __future__ import annotations

import numpy as np

from ..skeletons import CANONICAL_24, joint_set
from ..smoothing import smooth_over_time
from .features import body_size
from .projection import body25_from_canonical
from .skeleton import (
    BONES,
    INPUT_KEYPOINTS,
    ROOT_KEYPOINT,
    SOLE_HEIGHTS,
    STANDARD_TOTAL_LENGTH,
    bone_lengths,
)

ASSUMED_DISTANCE = 5.0  # metres from camera to dancer, on average over a clip
GROUND_SIGMA = 0.06  # seconds: smoothing of the body's height over the floor
FLOOR_TOLERANCE = 0.02  # metres a sole may sink below z = 0 after that smoothing


def clip_bone_lengths(positions: np.ndarray) -> np.ndarray:
    """One length per bone (23) for a clip: the median over frames, left and right averaged."""
    lengths = np.median(bone_lengths(positions), axis=0)
    mirror = joint_set(CANONICAL_24.name).mirror_permutation
    paired = np.array([mirror[b] for b in BONES]) - 1
    return 0.5 * (lengths + lengths[paired])


def constant_bone_lengths(positions: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Joints (T x 24 x 3) re-solved down the tree with the bones' directions kept and each
    bone at its length in `lengths` (default `clip_bone_lengths`)."""
    positions = np.asarray(positions, dtype=np.float64)
    lengths = clip_bone_lengths(positions) if lengths is None else np.asarray(lengths)
    out = positions.copy()
    for joint in CANONICAL_24.topological_order:
        parent = CANONICAL_24.parents[joint]
        if parent < 0:
            continue
        direction = positions[:, joint] - positions[:, parent]
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        fallback = np.array([0.0, 0.0, 1.0])  # a bone of length zero points up
        direction = np.where(norm > 1e-9, direction / np.maximum(norm, 1e-12), fallback)
        out[:, joint] = out[:, parent] + lengths[joint - 1] * direction
    return out


def floor_height(relative: np.ndarray, fps: float) -> np.ndarray:
    """Pelvis height (T) that puts the lowest sole of root-relative joints on z = 0."""
    size = bone_lengths(relative).sum(axis=-1).mean() / STANDARD_TOTAL_LENGTH
    soles = np.stack([relative[:, joint, 2] - height * size
                      for joint, height in SOLE_HEIGHTS.items()], axis=1)
    needed = -soles.min(axis=1)
    return np.maximum(smooth_over_time(needed, GROUND_SIGMA * fps), needed - FLOOR_TOLERANCE)


def floor_path(root_plane: np.ndarray, plane_size: np.ndarray,
               relative: np.ndarray) -> np.ndarray:
    """Horizontal pelvis path (T x 2, metres, starting at 0, 0) from the image.

    Under weak perspective a body S metres in size that measures s in the image is at
    metres-per-image-unit m = S / s: the root's image x times m is its sideways position, and
    m grows in proportion to the distance from the camera, which is taken to be
    ASSUMED_DISTANCE on average over the clip. S is measured on the lifted pose exactly as
    s is on the keypoints (`features.body_size`), so the pose's own shape cancels out.
    """
    keypoints = body25_from_canonical(relative)
    flat = keypoints[..., [0, 2]]  # the image plane seen from the front: X and Z
    size_3d = body_size(flat[:, INPUT_KEYPOINTS] - flat[:, None, ROOT_KEYPOINT])
    metres = size_3d / plane_size
    sideways = root_plane[:, 0] * metres
    depth = ASSUMED_DISTANCE * (metres / metres.mean() - 1.0)
    path = np.stack([sideways, depth], axis=1)
    return path - path[:1]


def place_on_floor(relative: np.ndarray, path: np.ndarray, fps: float) -> np.ndarray:
    """Root-relative joints (T x 24 x 3) moved along `path` (T x 2) with feet on z = 0."""
    absolute = np.asarray(relative, dtype=np.float64).copy()
    absolute[..., :2] += path[:, None, :]
    absolute[..., 2] += floor_height(relative, fps)[:, None]
    return absolute

