"""The paper's preprocessed clip JSON (Dance Revolution's `prepro.py` output), one file per clip.

Keys: `id` (text), `music_array` (T x 438 music features at 15 FPS) and `dance_array`
(T x >= 50 at 15 FPS). The first 50 dance values are the 25 BODY_25 (x, y) pairs, normalised
to [-1, 1] by image width and height. In the released files these are ABSOLUTE positions:
the authors' loader (`utils/functional.py: load_data`) makes them root-relative only after
reading, and their test script adds the root back before writing. This module does the same,
so a `PaperClip`'s motion is root-relative (the model's view, paper-notes.md) while the file
stays absolute. Columns beyond 50 (the authors keep face and hands: 274 in all) are ignored;
their count is noted in the motion's meta as `ignored_dance_columns`, and they are not
written back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DanceRevError, InputFileError
from ..files import atomic_output, load_json
from ..motion import Motion
from ..skeletons import BODY_25

PAPER_FPS = 15.0
MUSIC_FEATURES = 438
POSE_VALUES = 2 * BODY_25.num_joints  # 50
COORDINATES = "normalized [-1,1]"


@dataclass(frozen=True, eq=False)
class PaperClip:
    """One clip of the paper's data: music features and the root-relative dance, frame by frame."""

    clip_id: str
    music: np.ndarray
    motion: Motion

    def __post_init__(self) -> None:
        music = np.asarray(self.music, dtype=np.float32)
        if music.ndim != 2 or music.shape[1] != MUSIC_FEATURES:
            raise DanceRevError(f"music must be T x {MUSIC_FEATURES}, got shape {music.shape}")
        motion = self.motion
        if motion.skeleton != BODY_25.name or motion.dims != 2:
            raise DanceRevError("a paper clip's motion must be 2D BODY_25")
        if motion.fps != PAPER_FPS:
            raise DanceRevError(f"a paper clip runs at {PAPER_FPS:g} FPS, got {motion.fps:g}")
        if music.shape[0] != motion.num_frames:
            raise DanceRevError(f"music has {music.shape[0]} frames but the dance has "
                                f"{motion.num_frames}")
        object.__setattr__(self, "clip_id", str(self.clip_id))
        object.__setattr__(self, "music", music)


def read_paper_json(path: str | Path) -> PaperClip:
    """Read one clip; every problem is one line naming the file."""
    path = Path(path)
    document = load_json(path)
    if not isinstance(document, dict):
        raise InputFileError(path, "not a Dance Revolution clip: expected a JSON object")
    missing = [key for key in ("id", "music_array", "dance_array") if key not in document]
    if missing:
        raise InputFileError(path, f"not a Dance Revolution clip: missing {', '.join(missing)}")
    if not isinstance(document["id"], str | int):
        raise InputFileError(path, "id is not text")
    music = _table(path, document["music_array"], "music_array", MUSIC_FEATURES, exact=True)
    dance = _table(path, document["dance_array"], "dance_array", POSE_VALUES, exact=False)
    if len(music) != len(dance):
        raise InputFileError(path, f"music_array has {len(music)} frames but dance_array has "
                                   f"{len(dance)}")
    positions = dance[:, :POSE_VALUES].reshape(len(dance), BODY_25.num_joints, 2)
    meta = {"source": str(path), "source_format": "dancerevolution-json",
            "coordinates": COORDINATES, "ignored_dance_columns": dance.shape[1] - POSE_VALUES}
    motion = Motion(positions=positions.astype(np.float32), fps=PAPER_FPS, skeleton="body25",
                    joint_names=BODY_25.joint_names, meta=meta)
    return PaperClip(clip_id=str(document["id"]), music=music.astype(np.float32),
                     motion=motion.to_root_relative())


def write_paper_json(clip: PaperClip, path: str | Path) -> Path:
    """Write a clip as the paper's JSON (absolute positions, 50 dance values per frame).

    Floats are written in the shortest form that reads back to the same float32, so music
    round-trips exactly; positions round-trip to float32 rounding of the root offset.
    Written atomically (temp file then rename).
    """
    path = Path(path)
    dance = clip.motion.to_absolute().positions.reshape(clip.motion.num_frames, POSE_VALUES)
    for name, values in (("music", clip.music), ("dance", dance)):
        if not np.isfinite(values).all():
            raise DanceRevError(f"clip {clip.clip_id}: {name} has NaN or infinite values")
    document = {"id": clip.clip_id, "music_array": _float32_rows(clip.music),
                "dance_array": _float32_rows(dance)}
    with atomic_output(path, "w") as stream:
        stream.write(json.dumps(document, allow_nan=False))
    return path


# ---------------------------------------------------------------------- helpers
def _table(path: Path, value: Any, key: str, columns: int, exact: bool) -> np.ndarray:
    """A T x columns (or at least columns) table of finite numbers, as float64."""
    want = f"T x {columns}" if exact else f"T x {columns} or more"
    try:
        table = np.asarray(value)
    except (ValueError, OverflowError):
        raise InputFileError(path, f"{key} is not a {want} table of numbers") from None
    if table.ndim != 2 or table.dtype.kind not in "iuf" or len(table) == 0:
        raise InputFileError(path, f"{key} is not a {want} table of numbers "
                                   f"(shape {table.shape})")
    too_few = table.shape[1] < columns
    if too_few or (exact and table.shape[1] != columns):
        raise InputFileError(path, f"{key} has {table.shape[1]} values per frame, expected "
                                   f"{'' if exact else 'at least '}{columns}")
    table = table.astype(np.float64)
    if not np.isfinite(table).all():
        raise InputFileError(path, f"{key} has NaN or infinite values")
    return table


def _float32_rows(values: np.ndarray) -> list[list[float]]:
    """Rows of Python floats whose JSON text is the shortest that reads back as the float32."""
    return [[float(str(v)) for v in row] for row in np.asarray(values, dtype=np.float32)]


