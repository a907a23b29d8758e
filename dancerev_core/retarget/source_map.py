"""Which joint map reads a BVH skeleton: a shipped map, a rig family, or the tree's shape.

Detection runs the rig side's machinery on the source skeleton, in this order:
1. a shipped joint map in `rigs/` whose detect names and source joints all exist, exactly as
   `joint_maps.detect_joint_map` always has (the CMU maps);
2. the rig families (`retarget.rigmaps`: Mixamo, Rigify, Unreal, SMPL, VRM, MPFB2) with
   namespaces (`mixamorig:`, `Armature|`) and prefixes (the family's own, and one at least
   half the joints share, such as `Char01_`) stripped;
3. the structural fallback (`retarget.structure`), which finds legs, arms, spine and head
   from the tree and name hints.
A rig `BoneMap` only places the joints a rig has; a joint map needs all 24, so the ones a
plain skeleton lacks are placed from their neighbours (`_fill_spine`, `_fill_limbs`). Neither
family maps nor the structure say how a file is oriented or scaled: the joint map leaves
that to `joint_maps.infer_source_frame`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from ..errors import DanceRevError
from ..formats.bvh import END_SITE_SUFFIX, Bvh
from ..joint_maps import JointMap, detect_joint_map
from ..skeletons import CANONICAL_24
from .rest import RigRest, rest_from_bvh
from .rigmaps import (
    END,
    BoneMap,
    RigMapVariant,
    best_rig_map,
    builtin_rig_maps,
    strip_namespace,
)
from .structure import structural_bone_map

Blend = dict[str, float]
SPINE_CHAIN = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")
# Where the standard body (lifting.skeleton.STANDARD_REST) has the joints a plain skeleton
# lacks: the collar a quarter of the way from the neck to the shoulder, the hand (knuckles)
# about a third of the forearm's length past the wrist.
COLLAR_FROM_NECK = 0.25
HAND_PAST_WRIST = 0.35
PREFIX = re.compile(r"^[^_.\- ]+[_.\- ]")
HOW_TO = "give a joint map made like those in rigs/ (convert --joint-map FILE)"


def detect_source_map(bvh: Bvh) -> tuple[JointMap, str]:
    """The joint map for a BVH skeleton and, in one line, what chose it."""
    names = position_names(bvh)
    try:
        shipped = detect_joint_map(names)
    except DanceRevError:
        pass
    else:
        where = f" ({shipped.path.name})" if shipped.path else ""
        return shipped, f"joint map {shipped.name}{where}: the skeleton has all its joints"
    rest = rest_from_bvh(bvh)
    usable, closest = best_rig_map(rest.names, _with_shared_prefix(builtin_rig_maps(),
                                                                    rest.names))
    if usable is not None:
        try:
            return joint_map_from_bone_map(usable, rest, names)
        except DanceRevError as error:
            family = f"the rig family {usable.chosen} {error}"
    elif closest is not None:
        family = f"the closest rig family {closest.chosen} lacks {', '.join(closest.missing())}"
    else:
        family = "no rig family in rigs/ knows its names"
    try:
        return joint_map_from_bone_map(_structure(rest), rest, names)
    except DanceRevError as error:
        problem = str(error)
    sample = ", ".join(rest.names[:5]) + (", ..." if rest.num_bones > 5 else "")
    raise DanceRevError(f"cannot map a skeleton of {rest.num_bones} joints ({sample}) onto "
                        f"the canonical joints: no joint map in rigs/ names all its joints, "
                        f"{family}, the structural fallback {problem}; {HOW_TO}")


def position_names(bvh: Bvh) -> tuple[str, ...]:
    """The names `Bvh.positions(include_end_sites=True)` gives, without computing positions."""
    ends = [joint.name + END_SITE_SUFFIX for joint in bvh.joints if joint.end_site]
    return bvh.joint_names + tuple(ends)


def _structure(rest: RigRest) -> BoneMap:
    """The structural fallback, held to the solver's requirements as on the rig side."""
    bone_map = structural_bone_map(rest)
    missing = bone_map.missing()
    if missing:
        raise DanceRevError(f"mapped {len(bone_map.drivers)} joints but lacks "
                            f"{', '.join(missing)}")
    return bone_map


def _with_shared_prefix(variants: Sequence[RigMapVariant], names: Sequence[str]
                        ) -> list[RigMapVariant]:
    """Each variant also tries the prefix (up to a `_`, `.`, `-` or space) that at least half
    of the joints carry after their namespace: `Char01_Hips` matches as `Hips`."""
    counts = Counter(match.group(0) for name in names
                     if (match := PREFIX.match(strip_namespace(name))))
    shared = tuple(prefix for prefix, count in counts.items() if 2 * count >= len(names))
    if not shared:
        return list(variants)
    return [replace(v, strip_prefixes=v.strip_prefixes
                    + tuple(p for p in shared if p not in v.strip_prefixes)) for v in variants]


def joint_map_from_bone_map(bone_map: BoneMap, rest: RigRest, names: Sequence[str]
                            ) -> tuple[JointMap, str]:
    """A rig bone map (resolved on a BVH's rest pose) as a joint map over the BVH's
    position names, with the joints the skeleton lacks placed from their neighbours."""
    bones = _Bones(rest, set(names))

    def point(key: str) -> Blend:
        return bones.tail(key[:-len(END)]) if key.endswith(END) else {key: 1.0}

    joints = {joint: _mix(*((weight, point(key)) for key, weight in blend.items()))
              for joint, blend in bone_map.points.items()}
    placed = (_fill_spine(joints, bone_map.drivers, bones)
              + _fill_limbs(joints, bone_map.drivers, bones))
    absent = [joint for joint in CANONICAL_24.joint_names if joint not in joints]
    if absent:
        raise DanceRevError(f"gives nothing to place {', '.join(absent)} from")
    how = bone_map.how + (f"; placed from neighbouring joints: {', '.join(placed)}"
                          if placed else "")
    joint_map = JointMap(name=bone_map.chosen, title=how, detect=(), units_to_metres=1.0,
                         up="+Z", forward="-Y",
                         joints={joint: joints[joint] for joint in CANONICAL_24.joint_names},
                         axes_stated=False, units_stated=False)
    return joint_map, how


class _Bones:
    """Points of a BVH skeleton as blends of its position names."""

    def __init__(self, rest: RigRest, present: set[str]) -> None:
        self.rest, self.present = rest, present

    def tail(self, bone: str) -> Blend:
        """The joint's tail as `rest_from_bvh` has it: its End Site, else the mean of its
        children, else the joint itself."""
        if bone + END_SITE_SUFFIX in self.present:
            return {bone + END_SITE_SUFFIX: 1.0}
        children = self.rest.children[self.rest.index[bone]]
        if not children:
            return {bone: 1.0}
        return {self.rest.names[child]: 1.0 / len(children) for child in children}

    def has_tail(self, bone: str) -> bool:
        return self.tail(bone) != {bone: 1.0}

    def parent(self, bone: str) -> str | None:
        parent = self.rest.parents[self.rest.index[bone]]
        return None if parent < 0 else self.rest.names[parent]


def _mix(*parts: tuple[float, Blend]) -> Blend:
    """Weighted sum of blends (weights summing to 1 keep the result's sum at 1)."""
    out: Blend = {}
    for weight, blend in parts:
        for name, share in blend.items():
            out[name] = out.get(name, 0.0) + weight * share
    return {name: share for name, share in out.items() if abs(share) > 1e-12}


def _fill_spine(joints: dict[str, Blend], drivers: dict[str, str], bones: _Bones) -> list[str]:
    """Spine joints evenly between their mapped neighbours; a head bone sitting on the chest
    (no neck) is the neck at its start with the head half way along it; a missing head is at
    the neck's tail."""
    placed = []
    head = drivers.get("head")
    torso = {drivers.get(joint) for joint in SPINE_CHAIN[:4]} - {None}
    if "neck" not in joints and head and bones.parent(head) in torso and bones.has_tail(head):
        joints["neck"] = {head: 1.0}
        joints["head"] = _mix((0.5, {head: 1.0}), (0.5, bones.tail(head)))
        placed.append("neck")
    neck = drivers.get("neck")
    if "head" not in joints and neck and bones.has_tail(neck):
        joints["head"] = bones.tail(neck)
        placed.append("head")
    have = [i for i, joint in enumerate(SPINE_CHAIN) if joint in joints]
    for low, high in zip(have, have[1:], strict=False):
        for i in range(low + 1, high):
            t = (i - low) / (high - low)
            joints[SPINE_CHAIN[i]] = _mix((1 - t, joints[SPINE_CHAIN[low]]),
                                          (t, joints[SPINE_CHAIN[high]]))
            placed.append(SPINE_CHAIN[i])
    return placed


def _fill_limbs(joints: dict[str, Blend], drivers: dict[str, str], bones: _Bones) -> list[str]:
    """Collars on the neck-to-shoulder line; hands and toes at the wrist's and ankle's tail
    (End Site or children), a hand without one along the forearm past the wrist."""
    placed = []
    for side in ("left", "right"):
        collar, shoulder = f"{side}_collar", f"{side}_shoulder"
        if collar not in joints and "neck" in joints and shoulder in joints:
            joints[collar] = _mix((1 - COLLAR_FROM_NECK, joints["neck"]),
                                  (COLLAR_FROM_NECK, joints[shoulder]))
            placed.append(collar)
        for end, base, above in (("hand", "wrist", "elbow"), ("foot", "ankle", "knee")):
            end, base, above = (f"{side}_{part}" for part in (end, base, above))
            if end in joints or base not in joints:
                continue
            if base in drivers and bones.has_tail(drivers[base]):
                joints[end] = bones.tail(drivers[base])
            elif end.endswith("hand") and above in joints:
                joints[end] = _mix((1 + HAND_PAST_WRIST, joints[base]),
                                   (-HAND_PAST_WRIST, joints[above]))
            else:
                continue
            placed.append(end)
    return placed
