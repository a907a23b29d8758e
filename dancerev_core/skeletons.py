"""Joint sets: the names, tree and left/right pairs every motion refers to.

Two sets matter: BODY_25, the 2D keypoints the paper's model writes (in the paper's order),
and the canonical 3D set (SMPL's 24 joints, metres, Z up, facing -Y) that every 3D source and
every rig maps through.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .errors import DanceRevError


@dataclass(frozen=True)
class JointSet:
    """A named joint set: `parents[j]` is -1 for the root; `mirror_pairs` are (left, right)."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    mirror_pairs: tuple[tuple[int, int], ...]
    root: int
    dims: int

    def __post_init__(self) -> None:
        if len(self.joint_names) != len(self.parents):
            raise ValueError(f"joint set {self.name}: names and parents differ in length")
        if self.parents[self.root] != -1:
            raise ValueError(f"joint set {self.name}: root {self.root} has a parent")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        return self.joint_names.index(joint_name)

    @cached_property
    def mirror_permutation(self) -> tuple[int, ...]:
        """Index map that swaps every left joint with its right counterpart."""
        permutation = list(range(self.num_joints))
        for left, right in self.mirror_pairs:
            permutation[left], permutation[right] = right, left
        return tuple(permutation)

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """Joints ordered so that every parent comes before its children."""
        order: list[int] = []
        placed = set()
        while len(order) < self.num_joints:
            for joint, parent in enumerate(self.parents):
                if joint not in placed and (parent == -1 or parent in placed):
                    order.append(joint)
                    placed.add(joint)
        return tuple(order)


BODY_25 = JointSet(
    name="body25",
    joint_names=(
        "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
        "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
        "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    ),
    parents=(1, 8, 1, 2, 3, 1, 5, 6, -1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19, 14, 11,
             22, 11),
    # (left, right) pairs, named from the person's point of view.
    mirror_pairs=((5, 2), (6, 3), (7, 4), (12, 9), (13, 10), (14, 11), (16, 15), (18, 17),
                  (19, 22), (20, 23), (21, 24)),
    root=8,
    dims=2,
)

CANONICAL_24 = JointSet(
    name="canonical24",
    joint_names=(
        "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
        "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
        "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
    ),
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20,
             21),
    mirror_pairs=((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21),
                  (22, 23)),
    root=0,
    dims=3,
)

JOINT_SETS: dict[str, JointSet] = {js.name: js for js in (BODY_25, CANONICAL_24)}


def joint_set(name: str) -> JointSet:
    """Look up a named joint set; raises a one-line error for an unknown name."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        known = ", ".join(sorted(JOINT_SETS))
        raise DanceRevError(f"unknown joint set {name!r} (known: {known})") from None
