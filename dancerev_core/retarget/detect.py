"""Choosing a rig's bone map: a user's map, else the shipped rig maps, else the structure.

Every failure is one line that says what is missing and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import DanceRevError
from .rest import RigRest
from .rigmaps import BoneMap, RigMapVariant, best_rig_map, builtin_rig_maps, load_rig_map
from .structure import structural_bone_map

HOW_TO = ("write a rig map naming your bones (see rigs/mixamo.json) and give it as the bone "
          "map (--map FILE, or the Bone Map field in Blender)")


def detect_bone_map(rest: RigRest, variants: Sequence[RigMapVariant] | None = None
                    ) -> BoneMap:
    """The best shipped rig map whose bones the rig has, else the structural fallback."""
    variants = builtin_rig_maps() if variants is None else variants
    usable, closest = best_rig_map(rest.names, variants)
    if usable is not None:
        return usable
    try:
        fallback = structural_bone_map(rest)
    except DanceRevError as error:
        fallback_problem = str(error)
    else:
        missing = fallback.missing()
        if not missing:
            return fallback
        fallback_problem = f"mapped {len(fallback.drivers)} bones but lacks {', '.join(missing)}"
    if closest is not None:
        closest_text = (f"missing {', '.join(closest.missing())} for the closest rig map "
                        f"{closest.chosen}")
    else:
        closest_text = "no rig map in rigs/ matches its bone names"
    raise DanceRevError(f"cannot map a rig of {rest.num_bones} bones onto the dancer: "
                        f"{closest_text}; the structural fallback {fallback_problem}; "
                        f"{HOW_TO}")


def load_bone_map(rest: RigRest, path: str | Path) -> BoneMap:
    """A user-supplied rig map (format v1 or v2), resolved against the rig."""
    variants = load_rig_map(path)
    usable, closest = best_rig_map(rest.names, variants)
    if usable is not None:
        return usable
    if closest is None:
        detect = ", ".join(variants[0].detect) or "-"
        raise DanceRevError(f"{path}: the rig lacks the bones this map detects ({detect})")
    raise DanceRevError(f"{path}: the rig map leaves the solver without "
                        f"{', '.join(closest.missing())}")


def resolve_bone_map(rest: RigRest, rig_map: str | Path | BoneMap | None = None) -> BoneMap:
    """A given BoneMap as is, a path loaded, or None detected."""
    if isinstance(rig_map, BoneMap):
        return rig_map
    if rig_map is None:
        return detect_bone_map(rest)
    return load_bone_map(rest, rig_map)
