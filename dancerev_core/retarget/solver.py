"""Retargeting: canonical joint positions -> per-bone local rotations and root motion.

What the numbers mean (Blender's pose-bone convention, so the Blender side writes them
as they are):
- `rotations[t, b]` is a unit quaternion (w, x, y, z): the rotation of bone b relative to
  its rest orientation, expressed in the bone's own rest axes (the columns of
  `RigRest.matrices[b]`; for a Blender bone, Y runs head -> tail and X/Z follow the roll).
  With pose matrices P, rest matrices M (`bone.matrix_local`) and parent p,
  P_b = P_p @ inv(M_p) @ M_b @ T(locations[t, b]) @ R(rotations[t, b]) - exactly
  `pose_bone.rotation_quaternion` (rotation mode QUATERNION) and `pose_bone.location`.
  For BVH joints (rest axes = the file's axes) it is the joint's channel rotation.
- `locations[t, b]` is zero except for the pelvis bone (root motion) and for driven bones
  that do not hang below the driven chain (an IK foot parented to the rig's root): it is
  the offset of the bone's head, in the bone's rest axes and armature units.
- `root_translation[t]` is the displacement of the pelvis bone's head from its rest
  position, in armature space.
- Bones the map does not drive (fingers, twist and helper bones, IK targets, Rigify's
  mechanism bones) keep the identity: they stay at rest relative to their parent.
  `keyed[b]` marks the bones worth keying: the driven ones (fingers and toes aside, which
  stay at rest) and those given a location; the rest may be left alone.
- The world is DanceRev's canonical frame (metres, Z up); `RigRest.object_matrix` takes
  armature space there, so scaled or rotated armature objects need nothing else.

How each driven bone turns is `frames`' business: a joint's world rotation is its posed
frame times its rest frame transposed, applied to the bone's rest orientation; the local
rotation follows from the parent bone's world rotation. Root motion is the dance's pelvis
path scaled by the character's leg length over the dancer's, about the ground.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DanceRevError
from ..motion import Motion
from ..skeletons import CANONICAL_24
from ..smoothing import smooth_over_time
from .frames import J, JointFrames, JointPlan
from .rest import RigRest
from .rigmaps import BoneMap
from .rotations import continuous_signs, matrix_to_quaternion

Anchor = Literal["rest", "world"]
ENDS = ("left_hand", "right_hand", "left_foot", "right_foot")  # fingers, toes: never keyed


@dataclass(frozen=True, eq=False)
class Retargeted:
    """The result (arrays T x B x ..., bones in `RigRest` order; see the module docstring).

    `scale` is the character's leg length over the dancer's (armature units per metre
    divided by the object scale), by which the root motion was scaled.
    """

    bone_names: tuple[str, ...]
    rotations: np.ndarray
    locations: np.ndarray
    root_translation: np.ndarray
    root_bone: str
    keyed: np.ndarray
    scale: float
    bone_map: BoneMap

    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]


def as_positions(motion: Motion | np.ndarray) -> np.ndarray:
    """T x 24 x 3 canonical positions (metres, Z up) from a motion or an array."""
    if isinstance(motion, Motion):
        if motion.skeleton != CANONICAL_24.name or motion.dims != 3:
            raise DanceRevError(f"retargeting needs the canonical 3D joints, got a "
                                f"{motion.skeleton!r} motion with {motion.dims}D points")
        motion = motion.to_absolute().fill_missing().positions
    positions = np.asarray(motion, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (CANONICAL_24.num_joints, 3):
        raise DanceRevError(f"expected T x 24 x 3 canonical positions, got "
                            f"{positions.shape}")
    if not np.isfinite(positions).all():
        raise DanceRevError("joint positions contain NaN or infinite values")
    return positions


def retarget(positions: Motion | np.ndarray, rest: RigRest, bone_map: BoneMap | None = None,
             *, fps: float | None = None, smoothing: float = 0.0, anchor: Anchor = "rest",
             floor: float | None = None) -> Retargeted:
    """Turn canonical joint positions (T x 24 x 3, world metres) into a pose per frame.

    `bone_map` defaults to the detected one (rig maps in rigs/, then the structural
    fallback). `fps` is the dance's frame rate (a Motion's own by default, else 30); it
    bounds how fast a limb's twist may turn toward a new bend. `smoothing` is a Gaussian
    sigma in frames applied to the positions first. `anchor="rest"` starts the dance
    where the character stands; "world" keeps the dance's own ground positions (scaled).
    Root motion is scaled by the ratio of the character's leg length to the dancer's,
    about the ground, so feet stay planted. `floor` is the world height of that ground:
    by default where the feet of a standing rest pose are, else 0 (a BVH file's floor).
    """
    from .detect import detect_bone_map

    if fps is None:
        fps = positions.fps if isinstance(positions, Motion) else 30.0
    world = smooth_over_time(as_positions(positions), smoothing)
    if bone_map is None:
        bone_map = detect_bone_map(rest)
    plan = JointPlan(rest, bone_map)
    armature = rest.to_armature(world)
    rest_solve = JointFrames(plan, plan.points[None])
    posed = JointFrames(plan, armature, rest_solve, fps)
    frames = world.shape[0]

    bone_joint = {bone: joint for joint, bone in plan.drivers.items()}
    copies = {rest.index[k]: rest.index[v] for k, v in bone_map.copy_transforms.items()}
    identity = np.broadcast_to(np.eye(3), (frames, 3, 3))
    deltas: dict[int, np.ndarray] = {}

    def delta(bone: int) -> np.ndarray:
        if bone < 0:
            return identity
        if bone not in deltas:
            if bone in bone_joint:
                deltas[bone] = posed.deltas[bone_joint[bone]]
            elif bone in copies:
                deltas[bone] = delta(copies[bone])
            else:
                deltas[bone] = delta(rest.parents[bone])
        return deltas[bone]

    rotations = np.zeros((frames, rest.num_bones, 4))
    rotations[..., 0] = 1.0
    keyed = np.zeros(rest.num_bones, dtype=bool)
    for bone in bone_joint:
        if bone in copies:
            continue
        parent_delta = delta(rest.parents[bone])
        own = delta(bone)
        if own is parent_delta:  # nothing to aim at: stays at rest relative to its parent
            keyed[bone] = bone_joint[bone] not in ENDS
            continue
        basis = rest.matrices[bone]
        local = basis.T @ np.swapaxes(parent_delta, -1, -2) @ own @ basis
        rotations[:, bone] = matrix_to_quaternion(local)
        keyed[bone] = True

    pelvis = plan.drivers["pelvis"]
    targets = {pelvis: rest.to_armature(_root_target(world, rest, plan, anchor, floor))}
    attached = {b for b in range(rest.num_bones)
                if any(a in bone_joint or a in copies for a in rest.ancestors(b))}
    for bone in bone_joint:
        if bone != pelvis and bone not in attached:
            targets[bone] = None  # placed after the chain above it (see head())

    heads: dict[int, np.ndarray] = {}
    locations = np.zeros((frames, rest.num_bones, 3))

    def head(bone: int) -> np.ndarray:
        if bone in heads:
            return heads[bone]
        parent = rest.parents[bone]
        if bone in copies:
            source = copies[bone]
            heads[bone] = head(source) + delta(source) @ (rest.heads[bone] - rest.heads[source])
            return heads[bone]
        if parent < 0:
            base = np.broadcast_to(rest.heads[bone], (frames, 3))
            parent_delta = identity
        else:
            parent_delta = delta(parent)
            base = head(parent) + parent_delta @ (rest.heads[bone] - rest.heads[parent])
        if bone in targets:
            target = targets[bone]
            if target is None:
                anchor_bone = _anchor_bone(plan, bone_joint[bone])
                target = head(anchor_bone) + delta(anchor_bone) @ (
                    rest.heads[bone] - rest.heads[anchor_bone])
            offset = target - base
            world_axes = parent_delta @ rest.matrices[bone]
            locations[:, bone] = np.einsum("tji,tj->ti", world_axes, offset)
            keyed[bone] = True
            base = target
        heads[bone] = base
        return base

    for bone in targets:
        head(bone)
    root_translation = heads[pelvis] - rest.heads[pelvis]
    quaternions = continuous_signs(rotations)
    return Retargeted(bone_names=rest.names, rotations=quaternions, locations=locations,
                      root_translation=root_translation, root_bone=rest.names[pelvis],
                      keyed=keyed, scale=_leg_ratio(world, rest, plan), bone_map=bone_map)


def _anchor_bone(plan: JointPlan, joint: str) -> int:
    parent = plan.parent_joint(joint)
    while parent is not None and parent not in plan.drivers:
        parent = plan.parent_joint(parent)
    if parent is None:
        raise DanceRevError(f"joint {joint} has no driven joint above it")
    return plan.drivers[parent]


def leg_lengths(x: np.ndarray) -> np.ndarray:
    """Per frame: mean over both legs of hip-knee plus knee-ankle length."""
    total = 0.0
    for side in ("left", "right"):
        hip, knee, ankle = (x[:, J[f"{side}_{p}"]] for p in ("hip", "knee", "ankle"))
        total = total + np.linalg.norm(knee - hip, axis=-1) + np.linalg.norm(ankle - knee,
                                                                             axis=-1)
    return total / 2


def _leg_ratio(world: np.ndarray, rest: RigRest, plan: JointPlan) -> float:
    character = float(leg_lengths(rest.to_world(plan.points)[None])[0])
    dancer = float(np.median(leg_lengths(world)))
    if dancer <= 0 or character <= 0:
        raise DanceRevError("legs of zero length: cannot scale the root motion")
    return character / dancer


def _root_target(world: np.ndarray, rest: RigRest, plan: JointPlan, anchor: Anchor,
                 floor: float | None) -> np.ndarray:
    """World positions of the pelvis bone's head: the dance scaled to the character.

    Heights are scaled about the ground: the dancer's foot joints in contact (their 5th
    percentile of the lowest) land where the character's rest feet stand, or at the same
    scaled height above `floor`.
    """
    scale = _leg_ratio(world, rest, plan)
    rest_world = rest.to_world(plan.points)
    feet = [J[j] for j in ("left_ankle", "right_ankle", "left_foot", "right_foot")
            if j in plan.has]
    dancer_ground = float(np.percentile(world[:, feet, 2].min(axis=1), 5))
    legs = leg_lengths(rest_world[None])[0]
    drop = np.mean([rest_world[J[f"{s}_hip"], 2] - rest_world[J[f"{s}_ankle"], 2]
                    for s in ("left", "right")])
    if floor is None and drop > 0.5 * legs:  # a standing rest pose: its feet are down
        ground = float(rest_world[feet, 2].min())
    else:
        ground = (floor or 0.0) + scale * dancer_ground
    pelvis = world[:, J["pelvis"]]
    target = np.empty_like(pelvis)
    target[:, 2] = ground + scale * (pelvis[:, 2] - dancer_ground)
    if anchor == "rest":
        target[:, :2] = rest_world[J["pelvis"], :2] + scale * (pelvis[:, :2] - pelvis[0, :2])
    elif anchor == "world":
        target[:, :2] = scale * pelvis[:, :2]
    else:
        raise DanceRevError(f"anchor must be 'rest' or 'world', not {anchor!r}")
    return target
