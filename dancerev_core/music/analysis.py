"""Analyse a song file: decode, extract the 438 features, and cache the result.

This is the path users run (the add-on, `dancerev features`, training and generation).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import DanceRevError, InputFileError
from . import cache
from .fast_features import extract_fast
from .features import (
    FEATURE_FPS,
    HOP_LENGTH,
    MODEL_FPS,
    N_FFT,
    SAMPLE_RATE,
    MusicFeatures,
    extract_reference,
)

# Bump when the extraction changes its output, so old cache entries are not reused.
EXTRACTOR_ID = "fast-1"


def extraction_settings(reference: bool = False) -> dict:
    """Everything that changes the features; part of the cache key."""
    return {"extractor": "librosa-reference-1" if reference else EXTRACTOR_ID,
            "sample_rate": SAMPLE_RATE, "hop_length": HOP_LENGTH, "n_fft": N_FFT}


def analyse_song(path: str | Path, fps: float = MODEL_FPS, use_cache: bool = True,
                 cache_folder: Path | None = None, reference: bool = False) -> MusicFeatures:
    """Features of the song at `path` at `fps` (15 by default, the model's rate).

    The native 30 fps analysis is what is cached; other rates are derived from it (15 fps is
    the paper's even stream, exactly). `reference=True` runs librosa as the paper does
    instead of the fast path (slower; for checking and benchmarks).
    """
    from .audio import load_audio

    path = Path(path)
    if path.is_dir():
        raise InputFileError(path, "is a folder, not an audio file")
    if not path.exists():
        raise InputFileError(path, "no such audio file")
    key = cache.cache_key(path, extraction_settings(reference)) if use_cache else None
    native = cache.load_entry(key, cache_folder) if key else None
    if native is None:
        waveform = load_audio(path, SAMPLE_RATE)
        try:
            with warnings.catch_warnings():
                # librosa warns when a silent file has no pitch to estimate tuning from;
                # silence is valid input and gives finite features.
                warnings.filterwarnings("ignore", message="Trying to estimate tuning")
                # Clips under a second are too short for chroma's longest filters; librosa
                # says so and still returns finite values.
                warnings.filterwarnings("ignore", message="n_fft=.* is too large")
                native = extract_reference(waveform) if reference else extract_fast(waveform)
        except DanceRevError as error:
            raise InputFileError(path, str(error).removeprefix("audio: ")) from None
        if key:
            cache.store_entry(key, native, cache_folder)
    if fps == FEATURE_FPS:
        return native
    if fps == MODEL_FPS:
        return native.even_odd()[0]
    return native.resample(fps)
