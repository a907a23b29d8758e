"""MPFB2 (MakeHuman for Blender) rig files: bones with head, tail, roll and parent.

Two layouts exist: `{"bones": {name: bone}, ...}` (rig.mixamo.json) and `{name: bone}`
(rig.game_engine.json). A bone has `head`/`tail` objects whose `default_position` is in
metres, Z up, the character facing -Y (Blender's frame, the canonical one), a `parent`
name ("" for a root) and a `roll` in radians (Blender's edit-bone roll).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..files import load_json


@dataclass(frozen=True, eq=False)
class MpfbRig:
    names: tuple[str, ...]
    parents: tuple[str, ...]
    heads: np.ndarray
    tails: np.ndarray
    rolls: np.ndarray


def read_mpfb_rig(path: str | Path) -> MpfbRig:
    """Read an MPFB2 rig JSON file; every problem is one line naming the file."""
    path = Path(path)
    data = load_json(path)
    bones = data.get("bones", data) if isinstance(data, dict) else None
    if not isinstance(bones, dict) or not bones:
        raise InputFileError(path, "not an MPFB2 rig (expected an object of bones)")
    names, parents, heads, tails, rolls = [], [], [], [], []
    for name, bone in bones.items():
        try:
            head = [float(v) for v in bone["head"]["default_position"]]
            tail = [float(v) for v in bone["tail"]["default_position"]]
            parent = str(bone.get("parent") or "")
            roll = float(bone.get("roll", 0.0))
        except (KeyError, TypeError, ValueError):
            raise InputFileError(path, f"bone {name!r} lacks head/tail default_position, "
                                       f"parent or roll") from None
        if len(head) != 3 or len(tail) != 3:
            raise InputFileError(path, f"bone {name!r}: positions must have 3 numbers")
        names.append(str(name))
        parents.append(parent)
        heads.append(head)
        tails.append(tail)
        rolls.append(roll)
    unknown = sorted({p for p in parents if p and p not in names})
    if unknown:
        raise InputFileError(path, f"bones name parents that are not bones: "
                                   f"{', '.join(unknown)}")
    return MpfbRig(tuple(names), tuple(parents), np.array(heads), np.array(tails),
                   np.array(rolls))
