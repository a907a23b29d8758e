"""Rig maps: which bones of a rig family stand for the canonical joints, and how to find them.

A rig map is a `rigs/*.json` file in the joint-map format ("dancerev.jointmap"). Version 1
(the CMU source maps) maps every canonical joint to one source joint, a weighted blend of
joints, or `<joint>.end` (a BVH End Site; for other rigs the bone's tail). Version 2 keeps
all of that, so a v2 file still reads as a v1 joint map, and adds what target rigs need:
- `detect`: bone names that must all be present for the map to apply;
- `strip_prefixes`: literal prefixes removed before matching (`mixamorig_`, `DEF-`, ...);
  namespaces (`anything:` or `anything|` before a name) are always removed;
- `alternatives`: per canonical joint, further candidates tried in order when the first is
  absent (a joint absent everywhere is simply not mapped, unless it is required);
- `copy_transforms`: bones whose pose copies another bone's (constraints, as Rigify's
  ORG bones do), so the solver knows what moves with what;
- `set_properties`: custom properties the Blender side sets before keying (Rigify's
  IK/FK switches);
- `conventions`: rest pose, root motion, rotation mode, extra bones, in words;
- `variants`: named sub-maps of the family (UE4/UE5, metarig/control rig, ...); each is
  merged over the file's top level (a `null` joint removes it) and has its own `detect`.
A joint mapped to one plain bone name is *driven*: that bone takes the joint's rotation.
A blend or an `.end` point only tells the solver where the joint sits in the rest pose.

Matching a rig: after stripping, `detect` names must match exactly; joint names may also
differ in case; a bone turns for one joint only. The best variant has the most detect
names, then the most joints (so the Rigify control rig wins over the DEF- bones it also
holds, and MPFB2's game engine rig, whose detect adds `Root`, over UE4). A map is usable
when the solver gets bones for the pelvis, hips, knees, shoulders and elbows, and at least
points for the ankles, wrists, one spine joint and the neck or head (REQUIRED_*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputFileError
from ..files import load_json
from ..joint_maps import JOINT_MAP_FORMAT, rigs_dir
from ..skeletons import CANONICAL_24

END = ".end"
Candidate = str | dict[str, float]
NAMESPACE = re.compile(r"^.*[:|]")

# What a rig needs for the solver; tuples mean "at least one of".
REQUIRED_BONES = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee",
                  "left_shoulder", "right_shoulder", "left_elbow", "right_elbow")
REQUIRED_POINTS = ("left_ankle", "right_ankle", "left_wrist", "right_wrist",
                   ("spine1", "spine2", "spine3"), ("neck", "head"))


@dataclass(frozen=True)
class RigMapVariant:
    """One bone naming of a rig family, ready to match against a rig's bone names."""

    name: str
    title: str
    detect: tuple[str, ...]
    strip_prefixes: tuple[str, ...]
    joints: dict[str, tuple[Candidate, ...]]
    copy_transforms: dict[str, str] = field(default_factory=dict)
    set_properties: tuple[dict[str, Any], ...] = ()
    conventions: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


@dataclass(frozen=True)
class BoneMap:
    """A rig map resolved against one rig: bone names as the rig spells them.

    `points[j]` weights rest points (a bone name for its head, `<bone>.end` for its tail)
    that place canonical joint j; `drivers[j]` is the bone that takes j's rotation.
    `chosen` names the map (`mixamo`, `unreal/ue5`, `structure`, a file path) and
    `how` says in one line how it was chosen.
    """

    points: dict[str, dict[str, float]]
    drivers: dict[str, str]
    chosen: str
    how: str
    copy_transforms: dict[str, str] = field(default_factory=dict)
    set_properties: tuple[dict[str, Any], ...] = ()
    conventions: dict[str, Any] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """Requirements of the solver this map does not meet, in words."""
        return missing_requirements(self.points, self.drivers)


def missing_requirements(points: Mapping[str, Any], drivers: Mapping[str, str]) -> list[str]:
    missing = [f"{joint} bone" for joint in REQUIRED_BONES if joint not in drivers]
    for need in REQUIRED_POINTS:
        options = need if isinstance(need, tuple) else (need,)
        if not any(option in points for option in options):
            missing.append(" or ".join(options))
    return missing


# ------------------------------------------------------------------------------ loading
def load_rig_map(path: str | Path) -> list[RigMapVariant]:
    """Read a joint/rig map file (format version 1 or 2) as its list of variants."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict) or data.get("format") != JOINT_MAP_FORMAT:
        raise InputFileError(path, f"not a rig map (format must be {JOINT_MAP_FORMAT!r})")
    version = data.get("format_version", 1)
    if version not in (1, 2):
        raise InputFileError(path, f"rig map format version {version} is not 1 or 2; "
                                   f"update DanceRev")
    base_name = str(data.get("name", path.stem))
    base = _variant(path, base_name, data, {})
    variants = [base]
    for entry in data.get("variants", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputFileError(path, "each variant needs a 'name'")
        variants.append(_variant(path, f"{base_name}/{entry['name']}", entry, data))
    return variants


def _variant(path: Path, name: str, data: dict, parent: dict) -> RigMapVariant:
    joints_raw = {**parent.get("joints", {}), **data.get("joints", {})}
    alternatives_raw = {**parent.get("alternatives", {}), **data.get("alternatives", {})}
    if not isinstance(joints_raw, dict) or not isinstance(alternatives_raw, dict):
        raise InputFileError(path, f"{name}: 'joints' and 'alternatives' must be objects")
    unknown = sorted((set(joints_raw) | set(alternatives_raw)) - set(CANONICAL_24.joint_names))
    if unknown:
        raise InputFileError(path, f"{name}: unknown canonical joints: {', '.join(unknown)}")
    joints: dict[str, tuple[Candidate, ...]] = {}
    for joint in CANONICAL_24.joint_names:
        first = joints_raw.get(joint)
        options = ([] if first is None else [first]) + list(alternatives_raw.get(joint) or [])
        checked = tuple(_candidate(path, name, joint, option) for option in options)
        if checked:
            joints[joint] = checked

    def pick(key: str, default: Any) -> Any:
        return data.get(key, parent.get(key, default))

    copies = pick("copy_transforms", {})
    properties = pick("set_properties", [])
    if not isinstance(copies, dict) or not isinstance(properties, list):
        raise InputFileError(path, f"{name}: 'copy_transforms' must be an object and "
                                   f"'set_properties' a list")
    return RigMapVariant(
        name=name, title=str(pick("title", "")),
        detect=tuple(str(n) for n in data.get("detect", parent.get("detect", ()))),
        strip_prefixes=tuple(str(p) for p in pick("strip_prefixes", ())),
        joints=joints, copy_transforms={str(k): str(v) for k, v in copies.items()},
        set_properties=tuple(dict(p) for p in properties),
        conventions={**parent.get("conventions", {}), **data.get("conventions", {})},
        path=path)


def _candidate(path: Path, variant: str, joint: str, option: Any) -> Candidate:
    if isinstance(option, str) and option:
        return option
    if (isinstance(option, dict) and option
            and all(isinstance(w, int | float) for w in option.values())
            and abs(sum(option.values()) - 1.0) < 1e-6):
        return {str(k): float(v) for k, v in option.items()}
    raise InputFileError(path, f"{variant}: joint {joint!r}: expected a bone name or "
                               f"weights that sum to 1")


def builtin_rig_maps() -> list[RigMapVariant]:
    """Every variant of every map shipped in `rigs/` (source joint maps included)."""
    variants: list[RigMapVariant] = []
    for path in sorted(rigs_dir().glob("*.json")):
        try:
            variants.extend(load_rig_map(path))
        except InputFileError:
            continue
    return variants


# ------------------------------------------------------------------------------ matching
def strip_namespace(name: str) -> str:
    """`Armature|mixamorig:Hips` -> `Hips`."""
    return NAMESPACE.sub("", name)


def _lookup(names: Iterable[str], prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Stripped name -> rig name, exact and case-folded."""
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    for name in names:
        key = strip_namespace(name)
        if prefix:
            if not key.startswith(prefix):
                continue
            key = key[len(prefix):]
        exact.setdefault(key, name)
        exact.setdefault(name, name)
        folded.setdefault(key.casefold(), name)
    return exact, folded


def match_variant(variant: RigMapVariant, names: Iterable[str]) -> tuple[BoneMap, int] | None:
    """The variant resolved against `names` and its number of detect names, or None if a
    detect name is absent. Tries each prefix (and none) and keeps the best."""
    names = list(names)
    best: tuple[tuple[int, int], BoneMap, int] | None = None
    for prefix in ("",) + variant.strip_prefixes:
        exact, folded = _lookup(names, prefix)

        def find(bone: str, exact: dict = exact, folded: dict = folded) -> str | None:
            return exact.get(bone) or folded.get(bone.casefold())

        if any(bone not in exact for bone in variant.detect):
            continue  # detect names match exactly (after stripping); joints may differ in case
        points: dict[str, dict[str, float]] = {}
        drivers: dict[str, str] = {}
        for joint, candidates in variant.joints.items():
            for candidate in candidates:
                resolved = _resolve_candidate(candidate, find)
                if resolved is None:
                    continue
                driver = isinstance(candidate, str) and not candidate.endswith(END)
                if driver and next(iter(resolved)) in drivers.values():
                    continue  # a bone turns for one joint only
                points[joint] = resolved
                if driver:
                    drivers[joint] = next(iter(resolved))
                break
        copies = {find(k): find(v) for k, v in variant.copy_transforms.items()
                  if find(k) and find(v)}
        properties = tuple({**p, "bone": find(p["bone"])} for p in variant.set_properties
                           if isinstance(p.get("bone"), str) and find(p["bone"]))
        stripped = f", prefix {prefix!r} stripped" if prefix else ""
        where = f" ({variant.path.name})" if variant.path else ""
        bone_map = BoneMap(points=points, drivers=drivers, chosen=variant.name,
                           how=f"rig map {variant.name}{where}: {len(points)} of 24 joints"
                               f"{stripped}",
                           copy_transforms=copies, set_properties=properties,
                           conventions=dict(variant.conventions))
        score = (len(points), len(drivers))
        if best is None or score > best[0]:
            best = (score, bone_map, len(variant.detect))
    return None if best is None else (best[1], best[2])


def _resolve_candidate(candidate: Candidate, find) -> dict[str, float] | None:
    blend = {candidate: 1.0} if isinstance(candidate, str) else candidate
    resolved: dict[str, float] = {}
    for key, weight in blend.items():
        bone, end = (key[:-len(END)], END) if key.endswith(END) else (key, "")
        found = find(bone)
        if found is None:
            return None
        resolved[found + end] = weight
    return resolved


def best_rig_map(names: Iterable[str], variants: Iterable[RigMapVariant]
                 ) -> tuple[BoneMap | None, BoneMap | None]:
    """(best usable map, best map overall) for a rig's bone names.

    Ranking: more detect names first (a more specific family wins: the Rigify control rig
    over the DEF bones it also contains), then more joints resolved, then file order.
    """
    names = list(names)
    usable: tuple[tuple, BoneMap] | None = None
    overall: tuple[tuple, BoneMap] | None = None
    for order, variant in enumerate(variants):
        matched = match_variant(variant, names)
        if matched is None:
            continue
        bone_map, detected = matched
        rank = (detected, len(bone_map.points), len(bone_map.drivers), -order)
        if overall is None or rank > overall[0]:
            overall = (rank, bone_map)
        if not bone_map.missing() and (usable is None or rank > usable[0]):
            usable = (rank, bone_map)
    return (usable[1] if usable else None), (overall[1] if overall else None)
