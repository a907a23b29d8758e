"""The structural fallback: map a rig with its own bone names from the shape of its tree.

A humanoid tree has two hubs: the pelvis, where two leg chains and the spine leave, and
the chest, where two arm chains and the neck leave. Every pair (pelvis, chest) of bones
with enough branches is scored by the length of its shorter leg, its shorter arm and the
spine between them; the best pair wins. Along each limb chain the two longest consecutive
segments are the upper and lower limb (thigh/shin, upper arm/forearm); what comes before
is the collar, what comes after is the hand or foot. Names are hints: `L`/`R`/`Left`/
`_l`/`.L` tokens decide the sides (else the character's left is taken as +X, the rule of
Blender and of BVH files alike, or the side the toes say), `UpperArm`/`Forearm`/`Thigh`/
`Calf`/`Head`/... override the length rule when exactly one bone of a chain carries them,
and a leg that stops at the knee (an IK foot parented elsewhere, as in RobotExpressive)
takes the nearest bone named foot or ankle on its side.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import DanceRevError
from .rest import RigRest
from .rigmaps import END, BoneMap

LEFT_TOKENS = {"l", "left", "lf", "lft"}
RIGHT_TOKENS = {"r", "right", "rt", "rgt"}
HELPER_TOKENS = {"twist", "roll", "share", "sharebone", "helper", "ik", "pole", "target",
                 "ctrl", "control", "end", "nub", "null", "corrective"}
HINTS = {  # matched inside the joined lower-case tokens of a name
    "upper_arm": ("upperarm", "uparm", "humerus"),
    "forearm": ("forearm", "lowerarm", "elbow", "ulna"),
    "thigh": ("thigh", "upleg", "upperleg", "femur"),
    "shin": ("calf", "shin", "lowerleg", "knee", "tibia"),
    "foot": ("foot", "ankle"),
    "head": ("head", "skull"),
}


def name_tokens(name: str) -> list[str]:
    """`Skeleton_arm_joint_L__3_` -> [skeleton, arm, joint, l, 3]; `UpperArmL` -> [upper,
    arm, l]; `lThigh` -> [l, thigh]; `upper_arm.L` -> [upper, arm, l]."""
    name = name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z])([A-Z][a-z])", r"\1 \2", spaced)
    spaced = re.sub(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])", r"\1\3 \2\4", spaced)
    return [token.lower() for token in re.split(r"[^A-Za-z0-9]+", spaced) if token]


def name_side(name: str) -> int:
    """+1 for a left bone, -1 for a right one, 0 when the name does not say."""
    tokens = set(name_tokens(name))
    left, right = bool(tokens & LEFT_TOKENS), bool(tokens & RIGHT_TOKENS)
    return 0 if left == right else (1 if left else -1)


def _has_hint(name: str, hint: str) -> bool:
    joined = "".join(name_tokens(name))
    return any(word in joined for word in HINTS[hint])


def _is_helper(name: str) -> bool:
    return bool(set(name_tokens(name)) & HELPER_TOKENS)


class _Tree:
    """World-space geometry and chain helpers for one rig."""

    def __init__(self, rest: RigRest) -> None:
        self.rest = rest
        self.heads = rest.to_world(rest.heads)
        self.tails = rest.to_world(rest.tails)
        self.children = rest.children
        count = rest.num_bones
        self.reach = np.zeros(count)
        self.members: list[list[int]] = [[] for _ in range(count)]
        for bone in reversed(rest.order):
            kids = [c for c in self.children[bone] if not _is_helper(rest.names[c])]
            own = float(np.linalg.norm(self.tails[bone] - self.heads[bone]))
            self.reach[bone] = max([own] + [self.segment(bone, c) + self.reach[c]
                                            for c in kids])
            self.members[bone] = [bone] + [m for c in self.children[bone]
                                           for m in self.members[c]]

    def segment(self, bone: int, child: int) -> float:
        return float(np.linalg.norm(self.heads[child] - self.heads[bone]))

    def main_child(self, bone: int) -> int | None:
        kids = [c for c in self.children[bone] if not _is_helper(self.rest.names[c])]
        if not kids:
            return None
        return max(kids, key=lambda c: self.segment(bone, c) + self.reach[c])

    def chain(self, start: int) -> list[int]:
        chain = [start]
        while (child := self.main_child(chain[-1])) is not None:
            chain.append(child)
        return chain

    def centroid(self, bone: int) -> np.ndarray:
        return self.heads[self.members[bone]].mean(axis=0)

    def lengths(self, chain: list[int]) -> list[float]:
        """Segment length starting at each chain bone (a leaf's own length last)."""
        out = [self.segment(a, b) for a, b in zip(chain, chain[1:], strict=False)]
        out.append(float(np.linalg.norm(self.tails[chain[-1]] - self.heads[chain[-1]])))
        return out


def _limb_pair(tree: _Tree, chain: list[int], upper_hint: str, lower_hint: str) -> int:
    """Index in `chain` of the upper limb bone (the lower one follows it)."""
    names = [tree.rest.names[b] for b in chain]
    for hint, offset in ((upper_hint, 0), (lower_hint, 1)):
        hits = [i for i, name in enumerate(names) if _has_hint(name, hint)]
        if len(hits) == 1 and 0 <= hits[0] - offset < len(chain) - 1:
            return hits[0] - offset
    lengths = tree.lengths(chain)
    if len(chain) < 2:
        raise DanceRevError("a limb chain has a single bone")
    pairs = [lengths[i] + lengths[i + 1] for i in range(len(chain) - 1)]
    return int(np.argmax(pairs))


def _pick_pair(tree: _Tree, hub: int, options: list[int], up: np.ndarray
               ) -> tuple[int, int, float] | None:
    """The two child branches of `hub` on opposite sides with the longest shorter reach."""
    best = None
    for i, a in enumerate(options):
        for b in options[i + 1:]:
            la = tree.centroid(a) - tree.heads[hub]
            lb = tree.centroid(b) - tree.heads[hub]
            la -= up * (la @ up)
            lb -= up * (lb @ up)
            if la @ lb >= 0:
                continue
            score = min(tree.segment(hub, a) + tree.reach[a], tree.segment(hub, b) + tree.reach[b])
            if best is None or score > best[2]:
                best = (a, b, score)
    return best


def _hubs(tree: _Tree):
    """Candidate (pelvis, chest, legs, arms, score) tuples."""
    rest = tree.rest
    for chest in range(rest.num_bones):
        kids = [c for c in tree.children[chest] if len(tree.members[c]) >= 2]
        if len(kids) < 2:
            continue
        for pelvis in rest.ancestors(chest):
            up = tree.heads[chest] - tree.heads[pelvis]
            spine = float(np.linalg.norm(up))
            if spine < 1e-9:
                continue
            up /= spine
            toward_chest = next(c for c in tree.children[pelvis] if chest in tree.members[c])
            legs_options = [c for c in tree.children[pelvis]
                            if c != toward_chest and len(tree.members[c]) >= 2
                            and (tree.centroid(c) - tree.heads[pelvis]) @ up < 0]
            legs = _pick_pair(tree, pelvis, legs_options, up)
            arms = _pick_pair(tree, chest, kids, up)
            if legs is None or arms is None:
                continue
            yield pelvis, chest, legs[:2], arms[:2], legs[2] + arms[2] + spine


def structural_bone_map(rest: RigRest) -> BoneMap:
    """Map a rig from its tree; raises a one-line `DanceRevError` saying what is missing."""
    tree = _Tree(rest)
    names = rest.names
    candidates = sorted(_hubs(tree), key=lambda item: item[4], reverse=True)
    if not candidates:
        raise DanceRevError("found no pelvis with two leg chains below a chest with two arm "
                            "chains")
    pelvis, chest, legs, arms, _ = candidates[0]
    up = tree.heads[chest] - tree.heads[pelvis]
    up /= np.linalg.norm(up)
    points: dict[str, dict[str, float]] = {}
    drivers: dict[str, str] = {}

    def drive(joint: str, bone: int) -> None:
        drivers[joint] = names[bone]
        points[joint] = {names[bone]: 1.0}

    def place(joint: str, where: str | dict[str, float]) -> None:
        points.setdefault(joint, {where: 1.0} if isinstance(where, str) else where)

    drive("pelvis", pelvis)
    spine = [chest]
    while spine[-1] != pelvis and rest.parents[spine[-1]] != pelvis:
        spine.append(rest.parents[spine[-1]])
    spine.reverse()  # first bone above the pelvis ... chest
    drive("spine3", spine[-1])
    if len(spine) >= 2:
        drive("spine1", spine[0])
    if len(spine) >= 3:
        drive("spine2", spine[len(spine) // 2] if len(spine) > 3 else spine[1])

    used = {b for b in [pelvis, chest] + spine}
    for branch in list(legs) + list(arms):
        used.update(tree.members[branch])
    neck_options = [c for c in tree.children[chest] if c not in arms]
    if neck_options:
        neck_root = max(neck_options, key=lambda c: (tree.centroid(c) - tree.heads[chest]) @ up
                        + tree.reach[c] * 1e-3)
        neck_chain = tree.chain(neck_root)
        head_hits = [b for b in neck_chain if _has_hint(names[b], "head")]
        if len(neck_chain) == 1:
            drive("head", neck_chain[0])
        else:
            drive("neck", neck_chain[0])
            drive("head", head_hits[0] if head_hits and head_hits[0] != neck_chain[0]
                  else neck_chain[1])

    sides = _sides(tree, legs, arms, up)
    for branch, side in zip(legs, sides[0], strict=True):
        _map_leg(tree, branch, "left" if side > 0 else "right", side, up, used, drive, place)
    for branch, side in zip(arms, sides[1], strict=True):
        _map_arm(tree, branch, "left" if side > 0 else "right", drive, place)
    how = (f"structural fallback: pelvis {names[pelvis]!r}, chest {names[chest]!r}, "
           f"{len(drivers)} bones driven, sides from {sides[2]}")
    return BoneMap(points=points, drivers=drivers, chosen="structure", how=how)


def _sides(tree: _Tree, legs, arms, up) -> tuple[tuple[int, int], tuple[int, int], str]:
    """+1/-1 (left/right) for the two legs and the two arms, and where that came from."""
    names = tree.rest.names

    def vote(branch: int) -> int:
        return int(np.sign(sum(name_side(names[b]) for b in tree.members[branch])))

    votes = [vote(b) for b in legs], [vote(b) for b in arms]
    if all(sorted(v) == [-1, 1] for v in votes):
        return tuple(votes[0]), tuple(votes[1]), "names"
    left = np.array([1.0, 0.0, 0.0])
    source = "positions (left at +X)"
    toes = []
    for branch in legs:
        chain = tree.chain(branch)
        if len(chain) >= 4:
            toes.append(tree.heads[chain[3]] - tree.heads[chain[2]])
    if len(toes) == 2:
        forward = sum(toes)
        forward = forward - up * (forward @ up)
        if np.linalg.norm(forward) > 1e-9:
            left = np.cross(up, forward / np.linalg.norm(forward))
            source = "positions (toes forward)"

    def geometric(pair) -> tuple[int, int]:
        a, b = pair
        side = 1 if (tree.centroid(a) - tree.centroid(b)) @ left > 0 else -1
        return side, -side

    legs_sides = tuple(votes[0]) if sorted(votes[0]) == [-1, 1] else geometric(legs)
    arms_sides = tuple(votes[1]) if sorted(votes[1]) == [-1, 1] else geometric(arms)
    return legs_sides, arms_sides, source


def _map_arm(tree: _Tree, branch: int, side: str, drive, place) -> None:
    names = tree.rest.names
    chain = tree.chain(branch)
    upper = _limb_pair(tree, chain, "upper_arm", "forearm")
    drive(f"{side}_shoulder", chain[upper])
    drive(f"{side}_elbow", chain[upper + 1])
    if upper >= 1:
        drive(f"{side}_collar", chain[upper - 1])
    forearm = chain[upper + 1]
    after = chain[upper + 2:]
    if not after:
        place(f"{side}_wrist", names[forearm] + END)
        return
    if _fan(tree, forearm, after[0]):
        # Several palms or fingers leave the forearm: no single hand bone to turn.
        place(f"{side}_wrist", _centre(tree, forearm))
        return
    drive(f"{side}_wrist", after[0])
    place(f"{side}_hand", _centre(tree, after[0]) if len(after) >= 2
          else {names[after[0]] + END: 1.0})


def _centre(tree: _Tree, bone: int) -> dict[str, float]:
    """The mean of the heads of a bone's non-helper children (knuckles, palm roots)."""
    names = tree.rest.names
    kids = [c for c in tree.children[bone] if not _is_helper(names[c])]
    return {names[c]: 1.0 / len(kids) for c in kids}


def _fan(tree: _Tree, bone: int, main: int) -> bool:
    """Does `bone` branch into several significant chains besides `main` (a hand fan)?"""
    names = tree.rest.names
    for child in tree.children[bone]:
        if child == main or _is_helper(names[child]):
            continue
        if tree.segment(bone, child) + tree.reach[child] >= 0.25 * (
                tree.segment(bone, main) + tree.reach[main]):
            return True
    return False


def _map_leg(tree: _Tree, branch: int, side: str, sign: int, up: np.ndarray, used: set,
             drive, place) -> None:
    names = tree.rest.names
    chain = tree.chain(branch)
    thigh = _limb_pair(tree, chain, "thigh", "shin")
    drive(f"{side}_hip", chain[thigh])
    drive(f"{side}_knee", chain[thigh + 1])
    after = chain[thigh + 2:]
    if not after:
        foot = _detached_foot(tree, chain[thigh + 1], sign, up, used)
        if foot is None:
            place(f"{side}_ankle", names[chain[thigh + 1]] + END)
            return
        after = tree.chain(foot)
    drive(f"{side}_ankle", after[0])
    place(f"{side}_foot", names[after[1]] if len(after) >= 2 else names[after[0]] + END)


def _detached_foot(tree: _Tree, knee: int, sign: int, up: np.ndarray, used: set) -> int | None:
    """A bone named foot/ankle on this side, below the knee, outside the mapped chains."""
    names = tree.rest.names
    options = []
    for bone in range(tree.rest.num_bones):
        if bone in used or not _has_hint(names[bone], "foot") or _is_helper(names[bone]):
            continue
        if name_side(names[bone]) not in (0, sign):
            continue
        if (tree.heads[bone] - tree.heads[knee]) @ up >= 0:
            continue
        options.append((float(np.linalg.norm(tree.heads[bone] - tree.heads[knee])), bone))
    return min(options)[1] if options else None
