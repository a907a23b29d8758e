"""A rig's rest pose: bones, parents, heads, tails and rest orientations in armature space.

Every rig reaches the solver in this one form, whatever it came from (a Blender armature,
a BVH file, a glTF skin, an MPFB2 rig file). Conventions, those of Blender's armatures:
- armature space is the rig's own space; `object_matrix` (4 x 4) takes it to the world,
  which is DanceRev's canonical frame (metres, Z up, characters face -Y, their left at +X);
- `matrices[b]` is the bone's rest orientation: its columns are the bone's X, Y, Z axes in
  armature space (Blender's `bone.matrix_local`, whose Y axis runs head -> tail and whose
  roll turns X and Z about it). For BVH joints it is the identity (their rest frames are
  the file's axes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import DanceRevError
from ..formats.bvh import Bvh


@dataclass(frozen=True, eq=False)
class RigRest:
    """Rest pose of a rig; bones may come in any order (parents need not come first)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    heads: np.ndarray
    tails: np.ndarray
    matrices: np.ndarray
    object_matrix: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.names)
        names = tuple(str(name) for name in self.names)
        if len(set(names)) != count:
            duplicate = next(name for name in names if names.count(name) > 1)
            raise DanceRevError(f"rig has two bones named {duplicate!r}")
        parents = tuple(int(parent) for parent in self.parents)
        heads = np.asarray(self.heads, dtype=np.float64).reshape(-1, 3)
        tails = np.asarray(self.tails, dtype=np.float64).reshape(-1, 3)
        matrices = np.asarray(self.matrices, dtype=np.float64).reshape(-1, 3, 3)
        obj = np.asarray(self.object_matrix, dtype=np.float64)
        if not (len(parents) == heads.shape[0] == tails.shape[0] == matrices.shape[0] == count):
            raise DanceRevError("rig rest: names, parents, heads, tails and matrices differ "
                                "in length")
        if obj.shape != (4, 4) or abs(np.linalg.det(obj[:3, :3])) < 1e-12:
            raise DanceRevError("rig rest: the object matrix must be an invertible 4 x 4")
        if any(parent < -1 or parent >= count or parent == index
               for index, parent in enumerate(parents)):
            raise DanceRevError("rig rest: a parent index is out of range")
        if not (np.isfinite(heads).all() and np.isfinite(tails).all()
                and np.isfinite(matrices).all()):
            raise DanceRevError("rig rest: heads, tails or matrices are not finite")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "tails", tails)
        object.__setattr__(self, "matrices", orthonormalize(matrices))
        object.__setattr__(self, "object_matrix", obj)
        self.order  # noqa: B018 - fails early on a cycle

    @property
    def num_bones(self) -> int:
        return len(self.names)

    @cached_property
    def order(self) -> tuple[int, ...]:
        """Bone indices with every parent before its children."""
        children: dict[int, list[int]] = {}
        for index, parent in enumerate(self.parents):
            children.setdefault(parent, []).append(index)
        order, stack = [], list(reversed(children.get(-1, [])))
        while stack:
            bone = stack.pop()
            order.append(bone)
            stack.extend(reversed(children.get(bone, [])))
        if len(order) != self.num_bones:
            raise DanceRevError("rig rest: the bone parents form a cycle")
        return tuple(order)

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        lists: list[list[int]] = [[] for _ in self.names]
        for index, parent in enumerate(self.parents):
            if parent >= 0:
                lists[parent].append(index)
        return tuple(tuple(c) for c in lists)

    def ancestors(self, bone: int) -> list[int]:
        """Parent, grandparent, ... of `bone`."""
        chain, parent = [], self.parents[bone]
        while parent >= 0:
            chain.append(parent)
            parent = self.parents[parent]
        return chain

    def to_world(self, points: np.ndarray) -> np.ndarray:
        """Armature-space points (..., 3) to world points."""
        return points @ self.object_matrix[:3, :3].T + self.object_matrix[:3, 3]

    def to_armature(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to armature space."""
        inverse = np.linalg.inv(self.object_matrix)
        return points @ inverse[:3, :3].T + inverse[:3, 3]

    def with_object_matrix(self, object_matrix: np.ndarray) -> RigRest:
        return RigRest(self.names, self.parents, self.heads, self.tails, self.matrices,
                       object_matrix)


def orthonormalize(matrices: np.ndarray) -> np.ndarray:
    """Nearest rotations to (..., 3, 3) matrices (drops scale and shear, keeps handedness)."""
    u, _, vt = np.linalg.svd(matrices)
    rotations = u @ vt
    flip = np.linalg.det(rotations) < 0
    if np.any(flip):
        u = u.copy()
        u[flip, :, -1] *= -1
        rotations = u @ vt
    return rotations


def roll_matrices(heads: np.ndarray, tails: np.ndarray, rolls: np.ndarray) -> np.ndarray:
    """Blender's bone orientation from head, tail and roll (`vec_roll_to_mat3_normalized`).

    Y runs head -> tail; X and Z come from the shortest rotation of the armature's Y axis
    onto the bone, then turn by `roll` (radians) about the bone.
    """
    direction = np.asarray(tails, np.float64) - np.asarray(heads, np.float64)
    nor = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-12)
    x, y, z = nor[..., 0], nor[..., 1], nor[..., 2]
    theta = 1.0 + y
    theta_alt = x * x + z * z
    regular = (theta > 6.1e-3) | (theta_alt > 2.5e-4 ** 2)
    theta = np.where(theta <= 6.1e-3, theta_alt * 0.5 + theta_alt * theta_alt * 0.125, theta)
    theta = np.where(regular, theta, 1.0)
    # Columns are the bone's X, Y, Z axes (Blender's matrices are column-major).
    bone = np.zeros(nor.shape[:-1] + (3, 3))
    bone[..., :, 1] = nor
    bone[..., 0, 0] = 1 - x * x / theta
    bone[..., 1, 0] = -x
    bone[..., 2, 0] = -x * z / theta
    bone[..., 0, 2] = -x * z / theta
    bone[..., 1, 2] = -z
    bone[..., 2, 2] = 1 - z * z / theta
    flipped = np.diag([-1.0, -1.0, 1.0])
    bone = np.where(regular[..., None, None], bone, flipped)
    rolls = np.asarray(rolls, np.float64)
    cos, sin = np.cos(rolls)[..., None, None], np.sin(rolls)[..., None, None]
    cross = np.zeros(nor.shape[:-1] + (3, 3))
    cross[..., 0, 1], cross[..., 0, 2], cross[..., 1, 2] = -z, y, -x
    cross[..., 1, 0], cross[..., 2, 0], cross[..., 2, 1] = z, -y, x
    outer = nor[..., :, None] * nor[..., None, :]
    roll = cos * np.eye(3) + sin * cross + (1 - cos) * outer
    return roll @ bone


def rest_from_edit_bones(names: Sequence[str], parents: Sequence[str | int | None],
                         heads: np.ndarray, tails: np.ndarray, rolls: np.ndarray,
                         object_matrix: np.ndarray | None = None) -> RigRest:
    """A rest pose from Blender edit-bone data: head, tail, roll and parent of each bone."""
    heads = np.asarray(heads, np.float64)
    tails = np.asarray(tails, np.float64)
    return RigRest(tuple(names), parent_indices(names, parents), heads, tails,
                   roll_matrices(heads, tails, np.asarray(rolls, np.float64)),
                   np.eye(4) if object_matrix is None else object_matrix)


def rest_from_matrices(names: Sequence[str], parents: Sequence[str | int | None],
                       matrices: np.ndarray, tails: np.ndarray,
                       object_matrix: np.ndarray | None = None) -> RigRest:
    """A rest pose from 4 x 4 rest matrices (Blender `bone.matrix_local`) and tails."""
    matrices = np.asarray(matrices, np.float64)
    return RigRest(tuple(names), parent_indices(names, parents), matrices[:, :3, 3], tails,
                   matrices[:, :3, :3], np.eye(4) if object_matrix is None else object_matrix)


def rest_from_bvh(bvh: Bvh, object_matrix: np.ndarray | None = None) -> RigRest:
    """A BVH skeleton's rest pose (the OFFSETs, no channel applied), in file units and axes.

    A joint's tail is its End Site, else the mean of its children's heads (its own head when
    it has neither).
    """
    heads = bvh.rest_positions()
    tails = heads.copy()
    children: dict[int, list[int]] = {}
    for index, joint in enumerate(bvh.joints):
        children.setdefault(joint.parent, []).append(index)
    for index, joint in enumerate(bvh.joints):
        if joint.end_site is not None:
            tails[index] = heads[index] + np.asarray(joint.end_site)
        elif children.get(index):
            tails[index] = heads[children[index]].mean(axis=0)
    matrices = np.broadcast_to(np.eye(3), (len(bvh.joints), 3, 3))
    return RigRest(bvh.joint_names, bvh.parents, heads, tails, matrices,
                   np.eye(4) if object_matrix is None else object_matrix)


def parent_indices(names: Sequence[str], parents: Sequence[str | int | None]) -> tuple[int, ...]:
    """Parents given as names (None or "" for a root) or indices, as indices."""
    index = {name: i for i, name in enumerate(names)}
    result = []
    for name, parent in zip(names, parents, strict=True):
        if parent is None or parent == "" or parent == -1:
            result.append(-1)
        elif isinstance(parent, str):
            if parent not in index:
                raise DanceRevError(f"bone {name!r} has parent {parent!r}, which is not a bone")
            result.append(index[parent])
        else:
            result.append(int(parent))
    return tuple(result)


def similarity_matrix(rotation: np.ndarray | None = None, scale: float = 1.0,
                      translation: np.ndarray | None = None) -> np.ndarray:
    """A 4 x 4 object matrix: rotate, scale uniformly, then translate."""
    matrix = np.eye(4)
    matrix[:3, :3] = (np.eye(3) if rotation is None else np.asarray(rotation)) * scale
    if translation is not None:
        matrix[:3, 3] = translation
    return matrix
