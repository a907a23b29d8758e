"""One entry point for every supported motion input, chosen by what the path is.

| input                          | reader                         | raw joints        |
|--------------------------------|--------------------------------|-------------------|
| `*.bvh`                        | `bvh.read_bvh`                 | every ROOT/JOINT  |
| `*.npz` (DanceRev motion)      | `motion_npz.load_motion`       | as stored         |
| a folder of OpenPose JSON      | `openpose.read_openpose_folder`| BODY_25           |
| `*.json` (the paper's clips)   | `paper_json.read_paper_json`   | BODY_25           |
| `*.pkl` (AIST++)               | `aistpp.read_aistpp`           | SMPL 24 / COCO 17 |
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DanceRevError, InputFileError
from ..joint_maps import (
    JointMap,
    infer_source_frame,
    load_joint_map,
    map_to_canonical,
)
from ..motion import Motion
from ..skeletons import BODY_25, CANONICAL_24

JointChoice = Literal["raw", "canonical"]
MOTION_SUFFIXES = (".bvh", ".npz", ".json", ".pkl")


def read_motion(path: str | Path, joints: JointChoice = "raw",
                joint_map: str | Path | JointMap | None = None,
                fps: float | None = None, video_fps: float = 30.0) -> Motion:
    """Read any supported motion input.

    `joints="canonical"` maps 3D inputs onto the canonical 24 joints and leaves 2D inputs as
    BODY_25. A BVH goes through `joint_map` or, without one, the map detection finds
    (retarget/source_map.py: a shipped joint map, a rig family's names, else the structure).
    `video_fps` is the frame rate of the video an OpenPose folder came from (the files do
    not say); `fps` resamples the result.
    """
    path = Path(path)
    if joints not in ("raw", "canonical"):
        raise DanceRevError(f"--joints must be 'raw' or 'canonical', not {joints!r}")
    if not path.exists():
        raise InputFileError(path, "no such file or folder")
    suffix = path.suffix.lower()
    if path.is_dir():
        from .openpose import read_openpose_folder
        motion = read_openpose_folder(path, fps=video_fps)
    elif suffix == ".bvh":
        motion = _read_bvh_motion(path, joints, joint_map)
    elif suffix == ".npz":
        from .motion_npz import load_motion
        motion = load_motion(path)
    elif suffix == ".json" and _is_openpose_frame(path):
        from .openpose import read_openpose_frame_motion
        motion = read_openpose_frame_motion(path, fps=video_fps)
    elif suffix == ".json":
        from .paper_json import read_paper_json
        motion = read_paper_json(path).motion
    elif suffix == ".pkl":
        from .aistpp import read_aistpp
        motion = read_aistpp(path)
    else:
        raise InputFileError(path, f"unsupported motion file type {suffix!r} (expected a "
                                   f"folder of OpenPose JSON or one of "
                                   f"{', '.join(MOTION_SUFFIXES)})")
    if joints == "canonical":
        motion = _as_canonical(path, motion)
    return motion if fps is None else motion.resample(fps)


def _is_openpose_frame(path: Path) -> bool:
    """OpenPose frame files start with a version and a `people` list; paper clips do not."""
    with open(path, "rb") as stream:
        head = stream.read(4096)
    return b'"people"' in head and b'"music_array"' not in head


def _read_bvh_motion(path: Path, joints: JointChoice,
                     joint_map: str | Path | JointMap | None) -> Motion:
    from .bvh import Bvh, read_bvh
    bvh = read_bvh(path)
    meta = {"source": str(path), "source_format": "bvh"}
    if joints == "raw":
        return bvh.to_motion(source=str(path))
    positions, names = bvh.positions(include_end_sites=True)
    try:
        if joint_map is None:
            from ..retarget.source_map import detect_source_map
            chosen, how = detect_source_map(bvh)
            meta["joint_map_how"] = how
        else:
            chosen = _resolve_joint_map(joint_map)
        if not (chosen.axes_stated and chosen.units_stated):
            rest = Bvh(bvh.joints, bvh.frame_time, np.zeros((1, bvh.channel_values.shape[1])))
            rest_positions, _ = rest.positions(include_end_sites=True)
            chosen = infer_source_frame(chosen, rest_positions[0], names)
        return map_to_canonical(positions, names, bvh.fps, chosen, meta)
    except InputFileError:
        raise
    except DanceRevError as error:
        raise InputFileError(path, str(error)) from None


def _resolve_joint_map(joint_map: str | Path | JointMap) -> JointMap:
    return joint_map if isinstance(joint_map, JointMap) else load_joint_map(joint_map)


def _as_canonical(path: Path, motion: Motion) -> Motion:
    if motion.skeleton in (CANONICAL_24.name, BODY_25.name):
        return motion
    from .aistpp import COCO17_SKELETON, coco17_to_canonical
    if motion.skeleton == COCO17_SKELETON:
        return coco17_to_canonical(motion)
    raise InputFileError(path, f"holds a {motion.skeleton!r} skeleton, which has no mapping "
                               f"to the canonical joints")
