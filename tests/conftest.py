"""Shared test helpers: where the real third-party data lives, and skipping without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DANCEREV_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """Path to a file in the shared real data; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set DANCEREV_SHARED_DATA)")
    return path


def song_excerpt(song: str, path: Path, start: float, stop: float, rate: int = 22050) -> Path:
    """Seconds `start`..`stop` of a shared song, decoded and written to `path` as a wav."""
    import soundfile

    from dancerev_core.music.audio import load_audio

    waveform = load_audio(shared_data("music", song), rate)
    soundfile.write(path, waveform[int(rate * start):int(rate * stop)], rate)
    return path
