"""The fast feature path against the librosa reference, on real songs."""

import subprocess
import sys

import numpy as np
import pytest

from dancerev_core import fast_features
from dancerev_core.audio import load_audio
from dancerev_core.fast_features import FAST_TOLERANCES, extract_fast
from dancerev_core.music_features import SAMPLE_RATE, block_slices, extract_reference
from tests.conftest import REPO_ROOT, SHARED_DATA, shared_data

SONGS = sorted(p.name for p in (SHARED_DATA / "music").glob("*.ogg")) or ["(none)"]


@pytest.fixture(scope="module", params=SONGS)
def song_features(request):
    """Reference and fast features of a 40-second stretch of each shared song."""
    waveform = load_audio(shared_data("music", request.param), SAMPLE_RATE)
    excerpt = waveform[10 * SAMPLE_RATE:50 * SAMPLE_RATE]
    return extract_reference(excerpt), extract_fast(excerpt)


@pytest.mark.parametrize("block", list(block_slices()))
def test_every_block_within_its_documented_tolerance(song_features, block):
    reference, fast = song_features
    assert fast.features.shape == reference.features.shape
    difference = np.abs(fast.block(block) - reference.block(block)).max()
    assert difference <= FAST_TOLERANCES[block], f"{block}: {difference}"


def test_beats_and_tempo_are_identical(song_features):
    reference, fast = song_features
    np.testing.assert_array_equal(fast.beat_times, reference.beat_times)
    assert fast.tempo == reference.tempo and len(fast.beat_times) > 10


@pytest.mark.parametrize("signal", ["silence", "click_track", "short"])
def test_odd_signals_match_the_reference(signal):
    rate = SAMPLE_RATE
    if signal == "silence":
        y = np.zeros(3 * rate, np.float32)
    elif signal == "click_track":  # 2 clicks a second: 120 BPM
        y = np.zeros(12 * rate, np.float32)
        for start in range(0, y.size - 200, rate // 2):
            y[start:start + 200] = np.hanning(200)
    else:
        y = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(0.6 * rate)) / rate)).astype(
            np.float32)
    reference, fast = extract_reference(y), extract_fast(y)
    for block, tolerance in FAST_TOLERANCES.items():
        assert np.abs(fast.block(block) - reference.block(block)).max() <= tolerance, block
    np.testing.assert_array_equal(fast.beat_times, reference.beat_times)
    assert np.isfinite(fast.features).all()


def test_median_filter_is_exact():
    from scipy.ndimage import median_filter

    values = np.random.default_rng(0).random((40, 300)).astype(np.float32)
    expected = median_filter(values, size=(1, 31), mode="reflect")
    np.testing.assert_array_equal(fast_features.sliding_median(values, 31), expected)


def test_fast_path_never_imports_librosa_or_numba(tmp_path):
    code = ("import sys, numpy as np\n"
            "from dancerev_core.fast_features import extract_fast\n"
            "y = np.random.default_rng(0).normal(size=15360 * 3).astype(np.float32)\n"
            "extract_fast(y)\n"
            "print(sorted(m for m in ('librosa', 'numba') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=True)
    assert result.stdout.strip() == "[]"
