"""The paired dataset folder users train from: motions and songs matched by file stem.

    dataset/
      salsa/                    genre = folder name, unless NAME.json says otherwise
        lead_01.bvh             a motion: .bvh, motion .npz, AIST++ .pkl, or OpenPose folder
        lead_01.mp3             its song: same stem; .mp3 .m4a .aac .ogg .wav .flac
        lead_01.json            optional: {"audio_offset": 1.25, "genre": "salsa"}

`audio_offset` is the second of the song at motion frame 0 (default 0). Listing never stops
at a bad clip: each unusable one is reported with its reason and the rest are returned.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DanceRevError
from ..motion import Motion

AUDIO_SUFFIXES = (".mp3", ".m4a", ".aac", ".ogg", ".wav", ".flac")
MOTION_FILE_SUFFIXES = (".bvh", ".npz", ".pkl")
SIDECAR_KEYS = {"audio_offset", "genre"}


@dataclass(frozen=True)
class Clip:
    """One usable motion + song pair."""

    name: str
    motion_path: Path
    audio_path: Path
    genre: str
    audio_offset: float = 0.0

    def load_motion(self, joints: str = "canonical") -> Motion:
        from .reading import read_motion
        return read_motion(self.motion_path, joints=joints)  # type: ignore[arg-type]


@dataclass(frozen=True)
class UnusableClip:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class DatasetListing:
    clips: list[Clip] = field(default_factory=list)
    unusable: list[UnusableClip] = field(default_factory=list)

    def genres(self) -> list[str]:
        return sorted({clip.genre for clip in self.clips})


def _is_openpose_folder(path: Path) -> bool:
    """A folder holding per-frame JSON files and nothing else a dataset folder would hold."""
    if not path.is_dir():
        return False
    files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    suffixes = {p.suffix.lower() for p in files}
    return ".json" in suffixes and not suffixes & set(AUDIO_SUFFIXES + MOTION_FILE_SUFFIXES)


def _read_sidecar(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DanceRevError(f"not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise DanceRevError("expected a JSON object with audio_offset and/or genre")
    unknown = sorted(set(data) - SIDECAR_KEYS)
    if unknown:
        raise DanceRevError(f"unknown keys {', '.join(unknown)} (known: audio_offset, genre)")
    offset = data.get("audio_offset", 0.0)
    if isinstance(offset, bool) or not isinstance(offset, int | float) or not math.isfinite(
            offset) or offset < 0:
        raise DanceRevError(f"audio_offset must be a number of seconds >= 0, got {offset!r}")
    genre = data.get("genre")
    if genre is not None and (not isinstance(genre, str) or not genre.strip()):
        raise DanceRevError(f"genre must be a non-empty string, got {genre!r}")
    return {"audio_offset": float(offset), "genre": genre}


def list_clips(folder: str | Path, validate_motion: bool = True) -> DatasetListing:
    """Find every motion + song pair under `folder` (recursively) and check it.

    With `validate_motion`, each motion is read once so that a broken file is reported here
    rather than in the middle of training.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DanceRevError(f"{root}: dataset folder not found")
    listing = DatasetListing()
    directories = [root] + sorted(p for p in root.rglob("*") if p.is_dir())
    for directory in directories:
        _list_directory(root, directory, listing, validate_motion)
    if not listing.clips and not listing.unusable:
        raise DanceRevError(f"{root}: no motion files (.bvh, .npz or OpenPose folders) found")
    return listing


def _list_directory(root: Path, directory: Path, listing: DatasetListing,
                    validate_motion: bool) -> None:
    entries = sorted(directory.iterdir())
    motions = {p.stem: p for p in entries
               if p.is_file() and p.suffix.lower() in MOTION_FILE_SUFFIXES}
    for path in entries:
        if _is_openpose_folder(path) and path.name not in motions:
            motions[path.name] = path
    songs: dict[str, list[Path]] = {}
    for path in entries:
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            songs.setdefault(path.stem, []).append(path)
    for stem, motion_path in sorted(motions.items()):
        candidates = songs.get(stem, [])
        if not candidates:
            listing.unusable.append(UnusableClip(motion_path, "no song with the same name "
                                                 f"({stem} + one of {', '.join(AUDIO_SUFFIXES)})"))
            continue
        if len(candidates) > 1:
            names = ", ".join(p.name for p in candidates)
            listing.unusable.append(UnusableClip(motion_path, f"several songs match: {names}"))
            continue
        audio_path = candidates[0]
        if audio_path.stat().st_size == 0:
            listing.unusable.append(UnusableClip(audio_path, "song file is empty"))
            continue
        sidecar_path = directory / f"{stem}.json"
        try:
            sidecar = _read_sidecar(sidecar_path) if sidecar_path.is_file() else {}
        except DanceRevError as error:
            listing.unusable.append(UnusableClip(sidecar_path, str(error)))
            continue
        clip = Clip(name=(directory / stem).relative_to(root).as_posix(),
                    motion_path=motion_path, audio_path=audio_path,
                    genre=sidecar.get("genre") or directory.name,
                    audio_offset=sidecar.get("audio_offset", 0.0))
        if validate_motion:
            try:
                clip.load_motion(joints="canonical")
            except DanceRevError as error:
                listing.unusable.append(UnusableClip(motion_path, _without_path(error,
                                                                                motion_path)))
                continue
        listing.clips.append(clip)
    for stem, paths in sorted(songs.items()):
        if stem not in motions:
            for path in paths:
                listing.unusable.append(UnusableClip(path, "song without a motion of the same "
                                                           "name"))


def _without_path(error: DanceRevError, path: Path) -> str:
    text = str(error)
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text
