"""Retargeting canonical dance onto any humanoid rig (numpy only; no bpy).

    rest = rest_from_edit_bones(names, parents, heads, tails, rolls, object_matrix)
    result = retarget(motion, rest)          # detects the rig map or maps by structure
    result = retarget(plant_feet(in_rig_proportions(motion, rest, bone_map), fps), rest,
                      bone_map)               # feet planted in the rig's proportions stay
    result.rotations[t, b]                   # pose_bone.rotation_quaternion (w, x, y, z)
    result.locations[t, b]                   # pose_bone.location (pelvis, detached bones)

`solver` documents the exact rotation convention; `rigmaps` the rig map format (joint map
format version 2); `structure` the fallback for rigs with their own bone names.
"""

from .bvh_target import bvh_axes_matrix, retarget_to_bvh
from .detect import detect_bone_map, load_bone_map, resolve_bone_map
from .fit import in_rig_proportions, rig_joints
from .frames import rest_points
from .rest import (
    RigRest,
    rest_from_bvh,
    rest_from_edit_bones,
    rest_from_matrices,
    roll_matrices,
    similarity_matrix,
)
from .rigmaps import BoneMap, RigMapVariant, builtin_rig_maps, load_rig_map
from .solver import Retargeted, retarget
from .structure import structural_bone_map

__all__ = [
    "BoneMap", "Retargeted", "RigMapVariant", "RigRest", "builtin_rig_maps", "bvh_axes_matrix",
    "detect_bone_map", "in_rig_proportions", "load_bone_map", "load_rig_map",
    "resolve_bone_map", "rest_from_bvh", "rest_from_edit_bones", "rest_from_gltf",
    "rest_from_matrices", "rest_from_mpfb", "rest_points", "retarget", "retarget_to_bvh",
    "rig_joints", "roll_matrices", "similarity_matrix", "structural_bone_map",
]


def rest_from_gltf(path, skin: int = 0, pose: str = "bind") -> RigRest:
    """Rest pose of a glTF skin, already in the canonical frame (object matrix identity)."""
    from ..formats.gltf_skeleton import read_gltf_skeleton

    skeleton = read_gltf_skeleton(path, skin, pose)
    return RigRest(skeleton.names, skeleton.parents, skeleton.heads, skeleton.tails,
                   skeleton.matrices, similarity_matrix())


def rest_from_mpfb(path) -> RigRest:
    """Rest pose of an MPFB2 rig file (metres, Z up, facing -Y)."""
    from ..formats.mpfb_rig import read_mpfb_rig

    rig = read_mpfb_rig(path)
    return rest_from_edit_bones(rig.names, rig.parents, rig.heads, rig.tails, rig.rolls)
