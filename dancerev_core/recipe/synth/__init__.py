"""Procedural music: grooves in many styles, tempos, meters and keys, from a seed.

Why: the project must ship a demo song and train on far more music than the ~6 minutes of
permissively licensed songs it has; music it generates itself carries no third-party rights
and is regenerated from seeds instead of being stored. numpy only (and the standard library's
`wave`), so it runs anywhere the core runs, Blender's Python included.

    from dancerev_core.recipe.synth import render_song, write_demo_track
    song = render_song(seed=7, seconds=30, style="funk")      # SynthSong: audio + beats
    write_demo_track("out/demo.wav")                          # the README's default song
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ...files import atomic_output
from .song import SynthSong, render_song
from .styles import STYLES, styles_for

DEMO_SEED = 2021
DEMO_STYLE = "funk"
DEMO_TEMPO = 108.0
DEMO_SECONDS = 30.0

__all__ = ["DEMO_SECONDS", "DEMO_SEED", "STYLES", "SynthSong", "demo_song", "render_song",
           "styles_for", "write_demo_track", "write_wav"]


def write_wav(path: str | Path, waveform: np.ndarray, sample_rate: int) -> Path:
    """Mono 16-bit PCM WAV, written atomically; samples are clipped to [-1, 1]."""
    pcm = (np.clip(np.asarray(waveform, dtype=np.float64), -1.0, 1.0) * 32767.0).round()
    with atomic_output(path) as stream, wave.open(stream, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(sample_rate))
        writer.writeframes(pcm.astype("<i2").tobytes())
    return Path(path)


def demo_song(seconds: float = DEMO_SECONDS, sample_rate: int = 44_100) -> SynthSong:
    """The project's own demo groove: a funk beat at 108 BPM, the same on every machine."""
    return render_song(DEMO_SEED, seconds, sample_rate, style=DEMO_STYLE, tempo=DEMO_TEMPO)


def write_demo_track(path: str | Path, seconds: float = DEMO_SECONDS,
                     sample_rate: int = 44_100) -> SynthSong:
    """Write the demo song to `path` (.wav) and return it (its tempo and beat times too)."""
    song = demo_song(seconds, sample_rate)
    write_wav(path, song.waveform, sample_rate)
    return song
