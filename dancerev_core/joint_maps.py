"""Joint maps: how a source skeleton's joints become the canonical 24 joints.

A joint map is a JSON file in `rigs/` (format "dancerev.jointmap"): each canonical joint is
either one source joint name or a weighted blend of several (`{"chest": 0.8, "neck": 0.2}`),
`<joint>.end` names a BVH End Site, `units_to_metres` scales lengths and `axes` gives the
source's up and forward directions, from which positions are turned into DanceRev's frame
(metres, Z up, the character facing -Y, its left side at +X).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import DanceRevError, InputFileError
from .motion import Motion
from .skeletons import CANONICAL_24

JOINT_MAP_FORMAT = "dancerev.jointmap"
AXIS_VECTORS = {"+X": (1, 0, 0), "-X": (-1, 0, 0), "+Y": (0, 1, 0), "-Y": (0, -1, 0),
                "+Z": (0, 0, 1), "-Z": (0, 0, -1)}
CANONICAL_UP, CANONICAL_FORWARD = "+Z", "-Y"


@dataclass(frozen=True)
class JointMap:
    name: str
    title: str
    detect: tuple[str, ...]
    units_to_metres: float
    up: str
    forward: str
    joints: dict[str, dict[str, float]]
    path: Path | None = None
    # Rig family maps (rigs/mixamo.json, ...) do not say how a BVH file of that rig is
    # oriented or scaled; `infer_source_frame` then reads it off the skeleton's rest pose.
    axes_stated: bool = True
    units_stated: bool = True

    def source_joints(self) -> set[str]:
        return {name for blend in self.joints.values() for name in blend}


def rigs_dir() -> Path:
    """The `rigs/` data folder: beside the package (repository and extension alike)."""
    override = os.environ.get("DANCEREV_RIGS_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "rigs"


def load_joint_map(path: str | Path) -> JointMap:
    """Read and validate a joint map file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "no such joint map file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputFileError(path, f"not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != JOINT_MAP_FORMAT:
        raise InputFileError(path, f"not a joint map (format must be {JOINT_MAP_FORMAT!r})")
    raw_joints = data.get("joints")
    if not isinstance(raw_joints, dict):
        raise InputFileError(path, "joint map has no 'joints' object")
    unknown = sorted(set(raw_joints) - set(CANONICAL_24.joint_names))
    if unknown:
        raise InputFileError(path, f"unknown canonical joints: {', '.join(unknown)}")
    missing = [name for name in CANONICAL_24.joint_names if name not in raw_joints]
    if missing:
        raise InputFileError(path, f"joint map lacks canonical joints: {', '.join(missing)}")
    joints: dict[str, dict[str, float]] = {}
    for canonical, source in raw_joints.items():
        blend = {source: 1.0} if isinstance(source, str) else source
        if (not isinstance(blend, dict) or not blend
                or not all(isinstance(w, int | float) for w in blend.values())
                or abs(sum(blend.values()) - 1.0) > 1e-6):
            raise InputFileError(path, f"joint {canonical!r}: expected a joint name or "
                                       f"weights that sum to 1")
        joints[canonical] = {str(k): float(v) for k, v in blend.items()}
    axes = data.get("axes", {})
    up, forward = axes.get("up", "+Z"), axes.get("forward", "-Y")
    if up not in AXIS_VECTORS or forward not in AXIS_VECTORS or up[1] == forward[1]:
        raise InputFileError(path, f"axes up={up!r} forward={forward!r} must be two "
                                   f"different axes such as '+Y' and '+Z'")
    scale = data.get("units_to_metres", 1.0)
    if not isinstance(scale, int | float) or scale <= 0:
        raise InputFileError(path, "units_to_metres must be a positive number")
    return JointMap(name=str(data.get("name", path.stem)), title=str(data.get("title", "")),
                    detect=tuple(data.get("detect", ())), units_to_metres=float(scale),
                    up=up, forward=forward, joints=joints, path=path,
                    axes_stated="axes" in data, units_stated="units_to_metres" in data)


def builtin_joint_maps() -> list[JointMap]:
    """Every joint map shipped in `rigs/`."""
    maps = []
    for path in sorted(rigs_dir().glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and data.get("format") == JOINT_MAP_FORMAT:
            maps.append(load_joint_map(path))
    return maps


def detect_joint_map(joint_names: tuple[str, ...] | list[str]) -> JointMap:
    """The shipped map whose detection names and source joints all exist in `joint_names`."""
    present = set(joint_names)
    for joint_map in builtin_joint_maps():
        if set(joint_map.detect) <= present and joint_map.source_joints() <= present:
            return joint_map
    sample = ", ".join(list(joint_names)[:6])
    raise DanceRevError(f"no joint map in {rigs_dir()} matches a skeleton with joints "
                        f"{sample}, ...; pass a joint map file made like those in rigs/")


def _axis_name(vector: np.ndarray, exclude: str = "") -> str:
    """The signed coordinate axis ("+Y", "-Z", ...) nearest to `vector`."""
    order = np.argsort(-np.abs(vector))
    for axis in order:
        name = "XYZ"[axis]
        if name != exclude:
            return ("+" if vector[axis] >= 0 else "-") + name
    raise DanceRevError("cannot name an axis")


def infer_source_frame(joint_map: JointMap, rest_positions: np.ndarray,
                       joint_names: tuple[str, ...] | list[str]) -> JointMap:
    """Fill in the up/forward axes and units a map does not state, from a rest pose.

    Up is the axis nearest pelvis -> head, the character's left the axis nearest right hip ->
    left hip, forward follows (left x up). Head-to-pelvis plus thigh plus shin (about 1.4 m
    for an adult) over 20 units means centimetres, over 500 millimetres, otherwise metres.
    """
    if joint_map.axes_stated and joint_map.units_stated:
        return joint_map
    index = {name: i for i, name in enumerate(joint_names)}

    def place(canonical: str) -> np.ndarray:
        blend = joint_map.joints[canonical]
        return sum(weight * rest_positions[index[name]] for name, weight in blend.items())

    up_vector = place("head") - place("pelvis")
    left_vector = place("left_hip") - place("right_hip")
    up = joint_map.up
    forward = joint_map.forward
    if not joint_map.axes_stated:
        up = _axis_name(up_vector)
        left = _axis_name(left_vector, exclude=up[1])
        forward_vector = np.cross(np.array(AXIS_VECTORS[left], float),
                                  np.array(AXIS_VECTORS[up], float))
        forward = _axis_name(forward_vector)
    scale = joint_map.units_to_metres
    if not joint_map.units_stated:
        # Bone lengths do not depend on the rest pose (some rigs rest with legs up).
        height = sum(float(np.linalg.norm(place(a) - place(b))) for a, b in (
            ("head", "pelvis"), ("left_hip", "left_knee"), ("left_knee", "left_ankle")))
        scale = 0.001 if height > 500 else 0.01 if height > 20 else 1.0
    return replace(joint_map, up=up, forward=forward, units_to_metres=scale,
                   axes_stated=True, units_stated=True)


def axes_matrix(up: str, forward: str) -> np.ndarray:
    """3 x 3 rotation taking source coordinates (given up/forward) to canonical ones."""
    def basis(up_name: str, forward_name: str) -> np.ndarray:
        up_vector = np.array(AXIS_VECTORS[up_name], dtype=np.float64)
        forward_vector = np.array(AXIS_VECTORS[forward_name], dtype=np.float64)
        left_vector = np.cross(up_vector, forward_vector)
        return np.stack([left_vector, forward_vector, up_vector], axis=1)

    return basis(CANONICAL_UP, CANONICAL_FORWARD) @ basis(up, forward).T


def map_to_canonical(positions: np.ndarray, joint_names: tuple[str, ...] | list[str],
                     fps: float, joint_map: JointMap, meta: dict | None = None) -> Motion:
    """Source joint positions (T x N x 3, source units and axes) to a canonical motion."""
    index = {name: i for i, name in enumerate(joint_names)}
    absent = sorted(joint_map.source_joints() - set(index))
    if absent:
        raise DanceRevError(f"joint map {joint_map.name!r} needs joints the skeleton lacks: "
                            f"{', '.join(absent)}")
    weights = np.zeros((CANONICAL_24.num_joints, len(joint_names)))
    for canonical_index, canonical in enumerate(CANONICAL_24.joint_names):
        for source, weight in joint_map.joints[canonical].items():
            weights[canonical_index, index[source]] = weight
    canonical = np.einsum("cn,tnd->tcd", weights, np.asarray(positions, dtype=np.float64))
    rotation = axes_matrix(joint_map.up, joint_map.forward) * joint_map.units_to_metres
    canonical = canonical @ rotation.T
    return Motion(positions=canonical.astype(np.float32), fps=fps,
                  skeleton=CANONICAL_24.name, joint_names=CANONICAL_24.joint_names,
                  meta={**(meta or {}), "joint_map": joint_map.name, "units": "metres"})
