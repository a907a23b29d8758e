"""A disk cache of music features, keyed by the audio file's content and the settings.

The add-on and batch runs ask for the same song again and again; analysing it once is
enough. Entries are `.npz` files written to a temporary name and renamed into place, so two
processes writing the same entry at once both leave a complete file (the last rename wins,
and both hold identical content). Each entry stores a SHA-256 of its arrays; an entry that
fails to load or to match it is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..files import atomic_output
from .features import MusicFeatures

CHUNK = 1 << 20


def cache_dir() -> Path:
    """`DANCEREV_CACHE_DIR`, else `$XDG_CACHE_HOME/dancerev`, else `~/.cache/dancerev`."""
    override = os.environ.get("DANCEREV_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dancerev"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(audio_path: Path, settings: dict) -> str:
    """Content of the file plus every setting that changes the result."""
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(f"{file_digest(audio_path)}:{text}".encode()).hexdigest()


def _arrays_digest(features: np.ndarray, beat_times: np.ndarray, tempo: float,
                   duration: float) -> str:
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(features, np.float32),
                  np.ascontiguousarray(beat_times, np.float64),
                  np.array([tempo, duration], np.float64)):
        digest.update(array.tobytes())
    return digest.hexdigest()


def entry_path(key: str, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / "features" / f"{key}.npz"


def load_entry(key: str, folder: Path | None = None) -> MusicFeatures | None:
    """The cached features, or None when absent or corrupted (a corrupted entry is removed)."""
    path = entry_path(key, folder)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            features = archive["features"]
            beat_times = archive["beat_times"]
            tempo, duration, fps = (float(archive[k]) for k in ("tempo", "duration", "fps"))
            stored_digest = str(archive["digest"])
        if _arrays_digest(features, beat_times, tempo, duration) != stored_digest:
            raise ValueError("checksum mismatch")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        path.unlink(missing_ok=True)
        return None
    return MusicFeatures(features=features, fps=fps, beat_times=beat_times, tempo=tempo,
                         duration=duration)


def store_entry(key: str, music: MusicFeatures, folder: Path | None = None) -> Path:
    path = entry_path(key, folder)
    digest = _arrays_digest(music.features, music.beat_times, music.tempo, music.duration)
    with atomic_output(path) as stream:
        np.savez(stream, features=music.features.astype(np.float32),
                 beat_times=np.asarray(music.beat_times, np.float64),
                 tempo=np.float64(music.tempo), duration=np.float64(music.duration),
                 fps=np.float64(music.fps), digest=np.array(digest))
    return path
