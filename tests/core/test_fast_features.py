"""The fast feature path against the librosa reference, on real songs."""

import subprocess
import sys

import numpy as np
import pytest

from dancerev_core.music import fast_features
from dancerev_core.music.audio import load_audio
from dancerev_core.music.fast_features import FAST_TOLERANCES, extract_fast
from dancerev_core.music.features import SAMPLE_RATE, block_slices, extract_reference
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
            "from dancerev_core.music.fast_features import extract_fast\n"
            "y = np.random.default_rng(0).normal(size=15360 * 3).astype(np.float32)\n"
            "extract_fast(y)\n"
            "print(sorted(m for m in ('librosa', 'numba') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_chunked_spectrogram_pass_is_exact_across_chunk_edges(monkeypatch):
    """Chunk edges are invisible: tiny chunks give bit-identical harmonic/percussive parts."""
    rng = np.random.default_rng(4)
    y = (rng.normal(size=SAMPLE_RATE * 4) * np.hanning(SAMPLE_RATE * 4)).astype(np.float32)
    whole_mel, whole_harmonic, whole_percussive = fast_features.spectral_pass(y)
    monkeypatch.setattr(fast_features, "CHUNK_FRAMES", 37)
    mel, harmonic, percussive = fast_features.spectral_pass(y)
    np.testing.assert_array_equal(harmonic, whole_harmonic)
    np.testing.assert_array_equal(percussive, whole_percussive)
    np.testing.assert_allclose(mel, whole_mel, rtol=1e-6)


def test_fifteen_minute_song_keeps_memory_flat(tmp_path):
    """A 15-minute song: the whole spectrogram would need ~2 GB; chunks keep it under 1 GB."""
    import soundfile

    rate = 22_050
    t = np.arange(rate * 15) / rate
    tone = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(
        np.float32)
    path = tmp_path / "long.flac"
    with soundfile.SoundFile(path, "w", rate, 1) as stream:
        for _ in range(60):  # 60 x 15 s = 15 minutes
            stream.write(tone)
    code = ("import sys\n"
            "from dancerev_core.music.analysis import analyse_song\n"
            "music = analyse_song(sys.argv[1], use_cache=False, fps=30.0)\n"
            "peak = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
            "print(music.features.shape[0], int(peak) // 1024)\n")
    if not __import__("os").path.exists("/proc/self/status"):
        pytest.skip("needs /proc to read peak memory")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, cwd=REPO_ROOT, check=True)
    frames, peak_mb = map(int, result.stdout.split())
    assert frames == 15 * 60 * 30 + 1
    assert peak_mb < 1000, f"peak memory {peak_mb} MB"
