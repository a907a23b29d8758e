"""Physically plausible generated 3D dances: bones keep their length, feet stay out of the floor.

A model that writes joint positions frame by frame is bound by neither rule: its bones
stretch and shrink, and nothing stops a foot from going through the floor. Both are put right
after generation, as lifting does for 2D input: every bone gets one length for the whole
dance (its median, left and right averaged) with its direction kept, the dance stands on the
floor (the 5th percentile of its lowest soles at z = 0, as the training data stands), and any
frame whose sole would still sink deeper than SINK_ALLOWED is raised, smoothly, so
contacts do not jitter. Jumps are kept: nothing is pulled down. Finally the whole dance is
turned about the vertical axis so that on average it faces the front (-Y, the camera in
Blender's front view): the training data's dancers face every way, and a character that
shows the audience its back is rarely what an animator wants.
"""

from __future__ import annotations

import numpy as np

from .body_frame import FEET, FOOT_JOINT_HEIGHT, facing, rotate_yaw
from .lifting.postprocess import GROUND_SIGMA, constant_bone_lengths
from .smoothing import smooth_over_time

STAND_PERCENTILE = 5.0  # the lowest soles of a dance this often below the floor, before lifting
SINK_ALLOWED = 0.015  # metres a sole may stay below the floor: under 2 cm after float32 rounding


def soles(positions: np.ndarray) -> np.ndarray:
    """Per frame, the height of the lowest sole (FOOT_JOINT_HEIGHT under the lowest foot joint)."""
    return positions[:, FEET, 2].min(axis=1) - FOOT_JOINT_HEIGHT


def face_front(positions: np.ndarray) -> np.ndarray:
    """The dance turned about the vertical through its first root position so that its mean
    facing (a circular mean over frames) is -Y."""
    angles = facing(positions)
    mean = np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())
    return rotate_yaw(positions, -np.pi / 2 - mean, positions[0, 0, :2])


def on_the_floor_with_constant_bones(positions: np.ndarray, fps: float) -> np.ndarray:
    """Absolute canonical joints with one length per bone, standing on the floor, no sole
    more than SINK_ALLOWED below it (jumps kept)."""
    positions = np.asarray(positions, dtype=np.float64)
    root = positions[:, :1]
    fixed = constant_bone_lengths(positions - root) + root
    fixed[..., 2] -= np.percentile(soles(fixed), STAND_PERCENTILE)
    needed = np.maximum(0.0, -soles(fixed))
    raise_by = np.maximum(smooth_over_time(needed, GROUND_SIGMA * fps),
                          needed - SINK_ALLOWED)
    fixed[..., 2] += raise_by[:, None]
    return fixed


def plausible_positions(positions: np.ndarray, fps: float) -> np.ndarray:
    """Absolute canonical joints (T x 24 x 3, metres, Z up): constant bones, on the floor,
    facing the front."""
    return face_front(on_the_floor_with_constant_bones(positions, fps))
