"""fast_chroma against librosa.feature.chroma_cqt, which it reimplements without librosa."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from dancerev_core.music import fast_chroma
from tests.conftest import REPO_ROOT, shared_data

SR = 15_360
HOP = 512
# Worst seen on the shared songs: 1.3e-5, in near-silent intro frames whose tiny values the
# per-frame normalisation magnifies; 3e-7 elsewhere. The documented tolerance is 1e-3.
TOLERANCE = 1e-4
SONGS = (
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg",
    "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg",
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
    "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
)


def harmonic(name: str, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """The harmonic part of a shared song at the recipe's rate: what chroma_cqt receives."""
    import librosa

    y, _ = librosa.load(shared_data("music", name), sr=SR, offset=offset, duration=duration)
    return librosa.effects.hpss(y)[0]


def assert_matches_librosa(y: np.ndarray) -> np.ndarray:
    """Same tuning (bit for bit) and chroma within TOLERANCE; returns the fast chroma."""
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns on silence and on short clips
        tuning = librosa.estimate_tuning(y=y, sr=SR, bins_per_octave=36)
        expected = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=HOP)
    assert fast_chroma.estimate_tuning(y, SR) == tuning
    chroma = fast_chroma.chroma_cqt(y, SR, HOP)
    assert chroma.shape == expected.shape and chroma.dtype == np.float32
    assert np.abs(chroma - expected).max() <= TOLERANCE
    return chroma


@pytest.mark.parametrize("name", SONGS)
def test_song_excerpts_match_librosa(name):
    assert_matches_librosa(harmonic(name, offset=25.0, duration=20.0))


def test_full_song_matches_librosa():
    assert_matches_librosa(harmonic(SONGS[3]))


def test_short_clips_match_librosa():
    y = harmonic(SONGS[0], offset=10.0, duration=2.0)
    for seconds in (0.5, 0.1):
        assert_matches_librosa(y[:int(seconds * SR)])


def test_silence_gives_zero_chroma():
    chroma = assert_matches_librosa(np.zeros(3 * SR, dtype=np.float32))
    assert fast_chroma.estimate_tuning(np.zeros(SR, dtype=np.float32), SR) == 0.0
    assert not chroma.any()


def test_sine_peaks_at_a():
    t = np.arange(5 * SR) / SR
    chroma = assert_matches_librosa(np.sin(2 * np.pi * 440.0 * t).astype(np.float32))
    assert (chroma.argmax(axis=0) == 9).all()  # C, C#, ..., A is pitch class 9


def test_rejects_non_mono_and_nan():
    with pytest.raises(ValueError, match="mono"):
        fast_chroma.chroma_cqt(np.zeros((2, SR), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        fast_chroma.chroma_cqt(np.full(SR, np.nan, dtype=np.float32))


def test_imports_neither_librosa_nor_numba():
    """The point of the module: a fresh process never pays librosa's/numba's start-up."""
    code = (
        "import sys, numpy as np\n"
        "import dancerev_core.music.fast_chroma as fc\n"
        "y = np.random.default_rng(0).standard_normal(2 * 15360).astype(np.float32)\n"
        "assert fc.chroma_cqt(y).shape == (12, 61)\n"
        "heavy = ('librosa', 'numba', 'scipy.signal', 'scipy.stats')\n"
        "print([m for m in sys.modules if m.startswith(heavy)])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
