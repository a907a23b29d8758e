"""An armature as the core sees it: its rest pose in, its evaluated pose out.

Everything here reads Blender data into numpy arrays in one call per property
(`foreach_get`), so the rest of the add-on works on arrays, never on bones one by one.
"""

from __future__ import annotations

import bpy
import numpy as np

from .core import errors, retarget


def armature_rest(obj: bpy.types.Object | None) -> retarget.RigRest | None:
    """The armature's rest pose as the core's retargeting sees it, or None."""
    if obj is None or obj.type != "ARMATURE" or not obj.data.bones:
        return None
    bones = obj.data.bones
    names = [bone.name for bone in bones]
    parents = [bone.parent.name if bone.parent else None for bone in bones]
    matrices = np.empty(len(bones) * 16, dtype=np.float32)
    bones.foreach_get("matrix_local", matrices)
    tails = np.empty(len(bones) * 3, dtype=np.float32)
    bones.foreach_get("tail_local", tails)
    matrices = matrices.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)  # column-major
    tails = tails.reshape(-1, 3).astype(np.float64)
    return retarget.rest_from_matrices(names, parents, matrices, tails,
                                       np.array(obj.matrix_world, dtype=np.float64))


def ensure_pose(obj: bpy.types.Object) -> bpy.types.Pose:
    """The object's pose, evaluating the view layer once if the armature has none yet.

    A freshly made armature object has no pose until the depsgraph has seen it, and
    Blender 5.0 crashes when an Action with a slot is swapped on such an object.
    """
    if obj.pose is None:
        bpy.context.view_layer.update()
    if obj.pose is None:
        raise errors.DanceRevError(f"armature {obj.name!r} is not in the current view layer")
    return obj.pose


def pose_matrices(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph | None = None
                  ) -> np.ndarray:
    """World-space 4 x 4 matrices of the evaluated pose bones (B x 4 x 4, bone order).

    Evaluated means after constraints, drivers and animation at the scene's current frame;
    the rows follow `obj.data.bones`, the order `armature_rest` uses.
    """
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    bones = evaluated.pose.bones
    flat = np.empty(len(bones) * 16, dtype=np.float32)
    bones.foreach_get("matrix", flat)
    local = flat.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)  # column-major
    index = {bone.name: i for i, bone in enumerate(bones)}
    order = [index[bone.name] for bone in obj.data.bones]
    return np.array(evaluated.matrix_world, dtype=np.float64) @ local[order]


def bone_directions(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph | None = None
                    ) -> np.ndarray:
    """World-space unit vectors head -> tail of the evaluated pose bones (B x 3)."""
    axes = pose_matrices(obj, depsgraph)[:, :3, 1]
    return axes / np.maximum(np.linalg.norm(axes, axis=-1, keepdims=True), 1e-12)
