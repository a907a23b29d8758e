"""Music features: the recipe's layout, frame alignment, the cache and odd inputs."""

import multiprocessing
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from dancerev_core.cli import main
from dancerev_core.errors import DanceRevError, InputFileError
from dancerev_core.music import cache as feature_cache
from dancerev_core.music.analysis import analyse_song
from dancerev_core.music.features import (
    FEATURE_FPS,
    NUM_FEATURES,
    SAMPLE_RATE,
    MusicFeatures,
    block_slices,
    extract_reference,
)
from tests.conftest import REPO_ROOT, shared_data

SONG = ("music", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg")


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory):
    """20 s of a real song as a 44.1 kHz stereo wav (the decoder downmixes and resamples)."""
    import librosa

    y, rate = librosa.load(shared_data(*SONG), sr=None, mono=False, offset=10.0, duration=20.0)
    path = tmp_path_factory.mktemp("songs") / "vibe_ace_20s.wav"
    soundfile.write(path, y.T, rate)
    return path


@pytest.fixture(scope="module")
def native(excerpt, tmp_path_factory):
    return analyse_song(excerpt, fps=FEATURE_FPS,
                        cache_folder=tmp_path_factory.mktemp("cache"))


def test_layout_is_the_papers(native):
    assert NUM_FEATURES == 438
    assert list(block_slices()) == ["mfcc", "mfcc_delta", "chroma", "onset_envelope", "beat",
                                    "tempogram"]
    assert native.features.shape == (601, 438) and native.features.dtype == np.float32
    assert native.fps == 30.0 and abs(native.duration - 20.0) < 0.01
    assert np.isfinite(native.features).all()
    chroma = native.block("chroma")
    assert chroma.min() >= 0 and np.allclose(chroma.max(axis=1), 1.0, atol=1e-5)
    beats = np.flatnonzero(native.block("beat")[:, 0])
    np.testing.assert_array_equal(beats, np.rint(native.beat_times * 30).astype(int))
    assert 60 < native.tempo < 200 and len(native.beat_times) > 20


def test_reference_matches_librosa_called_directly(excerpt, native):
    import librosa

    y, _ = librosa.load(excerpt, sr=SAMPLE_RATE)
    direct = extract_reference(y)
    mfcc = block_slices()["mfcc"]
    # The decoder is soxr at librosa's default quality: the same samples, so the same MFCC.
    np.testing.assert_allclose(native.features[:, mfcc], direct.features[:, mfcc], atol=1e-2)
    np.testing.assert_array_equal(native.beat_times, direct.beat_times)


def test_even_odd_streams_and_alignment(native):
    even, odd = native.even_odd()
    assert even.fps == odd.fps == 15.0
    slices = block_slices()
    plain = [s for name, s in slices.items() if name not in ("beat", "onset_envelope")]
    for stream, first in ((even, 0), (odd, 1)):
        for columns in plain:
            np.testing.assert_array_equal(stream.features[:, columns],
                                          native.features[first::2, columns])
        # Every beat of the song marks a frame of each stream (slicing kept about half).
        beat_frames = np.flatnonzero(stream.block("beat")[:, 0])
        assert len(beat_frames) == len(native.beat_times)
        source = np.rint(native.beat_times * 30.0).astype(int) - first
        np.testing.assert_array_equal(beat_frames, (source + 1) // 2)
        # No onset peak is lost between kept frames.
        onset = native.block("onset_envelope")[:, 0]
        assert stream.block("onset_envelope")[:, 0].max() == onset.max()
        assert np.all(stream.block("onset_envelope")[:, 0] >= onset[first::2])
    # Frame j of the even stream is the instant j / 15 s: motion frame j at 15 fps.
    np.testing.assert_allclose(even.times(), native.times()[0::2])


@pytest.mark.parametrize("fps, every, native_every", [(15.0, 1, 2), (25.0, 5, 6),
                                                      (60.0, 2, 1), (30.0, 1, 1)])
def test_resampling_is_exact_at_shared_instants(native, fps, every, native_every):
    resampled = native.resample(fps)
    continuous = [s for name, s in block_slices().items() if name != "beat"]
    shared = min(len(resampled.features[::every]), len(native.features[::native_every]))
    for columns in continuous:
        np.testing.assert_array_equal(resampled.features[::every][:shared, columns],
                                      native.features[::native_every][:shared, columns])
    beat = resampled.block("beat")[:, 0]
    assert set(np.unique(beat)) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.flatnonzero(beat),
                                  np.rint(native.beat_times * fps).astype(int))


def test_cache_hits_and_rebuilds_corrupted_entries(excerpt, tmp_path, monkeypatch):
    first = analyse_song(excerpt, cache_folder=tmp_path)
    (entry,) = (tmp_path / "features").glob("*.npz")

    def fail(_):
        raise AssertionError("the song was analysed again")

    monkeypatch.setattr("dancerev_core.music.analysis.extract_fast", fail)
    again = analyse_song(excerpt, cache_folder=tmp_path)
    np.testing.assert_array_equal(again.features, first.features)
    monkeypatch.undo()

    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip a byte inside the stored features
    entry.write_bytes(bytes(data))
    rebuilt = analyse_song(excerpt, cache_folder=tmp_path)
    np.testing.assert_array_equal(rebuilt.features, first.features)
    assert feature_cache.load_entry(entry.stem, tmp_path) is not None

    entry.write_bytes(b"garbage")
    assert feature_cache.load_entry(entry.stem, tmp_path) is None and not entry.exists()


def test_cache_key_follows_content_not_name(excerpt, tmp_path):
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(excerpt.read_bytes())
    settings = {"a": 1}
    assert feature_cache.cache_key(copy, settings) == feature_cache.cache_key(excerpt, settings)
    assert feature_cache.cache_key(copy, {"a": 2}) != feature_cache.cache_key(copy, settings)


def _store_many(folder, key, seed):
    rng = np.random.default_rng(0)  # both writers store the same content
    music = MusicFeatures(rng.normal(size=(3000, 438)).astype(np.float32), 30.0,
                          np.arange(50) * 0.5, 120.0, 100.0)
    for _ in range(20):
        feature_cache.store_entry(key, music, folder)
        assert feature_cache.load_entry(key, folder) is not None


def test_two_processes_writing_the_same_entry(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_store_many, args=(tmp_path, "k" * 64, s))
               for s in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert feature_cache.load_entry("k" * 64, tmp_path) is not None
    assert [p.name for p in (tmp_path / "features").iterdir()] == ["k" * 64 + ".npz"]


def test_silence_gives_finite_features_and_no_beats(tmp_path):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(3 * 44100, np.float32), 44100)
    music = analyse_song(path, use_cache=False)
    assert np.isfinite(music.features).all() and len(music.beat_times) == 0
    assert music.block("beat").sum() == 0


def test_clip_shorter_than_one_second_works(tmp_path):
    path = tmp_path / "short.wav"
    t = np.arange(int(0.5 * 22050)) / 22050
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    music = analyse_song(path, use_cache=False)
    assert music.num_frames == 8 and np.isfinite(music.features).all()


def test_clip_too_short_to_analyse_is_a_one_line_error(tmp_path):
    path = tmp_path / "blip.wav"
    soundfile.write(path, np.ones(100, np.float32) * 0.1, 22050)
    with pytest.raises(InputFileError, match="too short") as caught:
        analyse_song(path, use_cache=False)
    assert str(caught.value).startswith(str(path))


def test_check_waveform_rejects_nan():
    with pytest.raises(DanceRevError, match="NaN"):
        extract_reference(np.full(SAMPLE_RATE, np.nan, np.float32))


def test_features_command_writes_the_documented_file(excerpt, tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    output = tmp_path / "out" / "features.npz"
    assert main(["features", str(excerpt), "-o", str(output)]) == 0
    with np.load(output, allow_pickle=False) as archive:
        assert archive["features"].shape == (301, 438)
        assert float(archive["fps"]) == 15.0 and abs(float(archive["duration"]) - 20) < 0.01
        assert float(archive["tempo"]) > 0 and archive["beat_times"].ndim == 1
    assert main(["features", str(excerpt), "-o", str(output), "--fps", "60",
                 "--no-cache"]) == 0
    with np.load(output) as archive:
        assert archive["features"].shape[0] == 1201


def test_features_command_bad_file_is_one_line(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("these are not sounds")
    result = subprocess.run([sys.executable, "-m", "dancerev_core", "features", str(path),
                             "-o", str(tmp_path / "x.npz"), "--no-cache"],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr
