"""Retarget onto the skeleton of any BVH file and write it animated in its own layout.

The target keeps its joints, OFFSETs, End Sites and channel lists; rotations become Euler
angles in each joint's channel order (degrees, unwrapped over time so they never jump by
360). Root motion goes to the pelvis joint's position channels (or, lacking them, to the
nearest ancestor that has some), written the way the file itself uses them: added to the
OFFSET or replacing it. The floor is the file's zero height, as in motion capture files;
its up and forward axes are read from its rest pose (pelvis to neck is up, right hip to
left hip is left), snapped to the nearest axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DanceRevError
from ..formats.bvh import POSITION_CHANNELS, ROTATION_CHANNELS, Bvh
from ..motion import Motion
from .detect import resolve_bone_map
from .frames import J, rest_points
from .rest import RigRest, rest_from_bvh
from .rigmaps import BoneMap
from .rotations import matrix_to_euler, quaternion_to_matrix
from .solver import Retargeted, retarget

CANONICAL_AXES = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]).T


def bvh_axes_matrix(rest: RigRest, bone_map: BoneMap) -> np.ndarray:
    """4 x 4 rotation from the file's axes to the canonical ones (left +X, front -Y, up +Z)."""
    points = rest_points(rest, bone_map)
    top = points[J["neck"]] if np.isfinite(points[J["neck"]]).all() else points[J["head"]]
    up = top - 0.5 * (points[J["left_hip"]] + points[J["right_hip"]])
    left = points[J["left_hip"]] - points[J["right_hip"]]
    up_axis, left_axis = _snap(up), _snap(left)
    if abs(up_axis @ left_axis) > 0.5:
        raise DanceRevError("cannot tell the BVH skeleton's up axis from its left axis")
    forward = np.cross(left_axis, up_axis)
    file_axes = np.stack([left_axis, forward, up_axis], axis=1)
    matrix = np.eye(4)
    matrix[:3, :3] = CANONICAL_AXES @ file_axes.T
    return matrix


def _snap(vector: np.ndarray) -> np.ndarray:
    axis = np.zeros(3)
    index = int(np.argmax(np.abs(vector)))
    axis[index] = np.sign(vector[index]) or 1.0
    return axis


def retarget_to_bvh(motion: Motion | np.ndarray, fps: float, template: Bvh,
                    rig_map: str | Path | BoneMap | None = None, *, smoothing: float = 0.0
                    ) -> tuple[Bvh, Retargeted]:
    """The template skeleton animated with `motion` (canonical joints) at `fps`."""
    rest = rest_from_bvh(template)
    bone_map = resolve_bone_map(rest, rig_map)
    rest = rest.with_object_matrix(bvh_axes_matrix(rest, bone_map))
    result = retarget(motion, rest, bone_map, fps=fps, smoothing=smoothing, anchor="rest",
                      floor=0.0)
    frames = result.num_frames
    columns = []
    rotations = quaternion_to_matrix(result.rotations)
    translation_joint = _translation_joint(template, rest.index[result.root_bone])
    for index, joint in enumerate(template.joints):
        offset = np.asarray(joint.offset, dtype=np.float64)
        translation = np.zeros((frames, 3))
        if index == translation_joint:
            translation = result.root_translation
        elif result.keyed[index]:
            translation = result.locations[:, index]  # rest axes = file axes in a BVH
        if not template.translation_adds_offset[index]:
            translation = translation + offset
        angles = _euler_columns(joint.channels, rotations[:, index])
        for channel in joint.channels:
            if channel in POSITION_CHANNELS:
                columns.append(translation[:, POSITION_CHANNELS.index(channel)])
            else:
                columns.append(angles[channel])
    values = np.stack(columns, axis=1) if columns else np.zeros((frames, 0))
    return Bvh(template.joints, 1.0 / fps, values), result


def _translation_joint(template: Bvh, pelvis: int) -> int:
    """The pelvis, or its nearest ancestor with position channels (all at rest)."""
    joint = pelvis
    while joint >= 0:
        if any(c in POSITION_CHANNELS for c in template.joints[joint].channels):
            return joint
        joint = template.joints[joint].parent
    raise DanceRevError(f"BVH joint {template.joints[pelvis].name!r} and its ancestors have "
                        f"no position channels: the root motion has nowhere to go")


def _euler_columns(channels: tuple[str, ...], matrices: np.ndarray) -> dict[str, np.ndarray]:
    """Degrees per rotation channel with R = product of the channels' rotations in order."""
    listed = [c[0] for c in channels if c in ROTATION_CHANNELS]
    if not listed:
        return {}
    order = "".join(listed + [a for a in "XYZ" if a not in listed])
    angles = np.degrees(np.unwrap(matrix_to_euler(matrices, order), axis=0))
    return {f"{axis}rotation": angles[:, i] for i, axis in enumerate(order) if axis in listed}
