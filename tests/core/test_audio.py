"""Audio decoding: five formats, any rate and channel count, bad input, bounded memory.

Test files are made in tmp_path from a 10 s excerpt of a real song in the shared data;
nothing is written next to the shared data or into the repository.
"""

from __future__ import annotations

import json
import math
import signal
import struct
import subprocess
import sys
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from dancerev_core.errors import InputFileError
from dancerev_core.music import audio
from dancerev_core.music.audio import audio_duration, load_audio
from tests.conftest import REPO_ROOT, shared_data

sf = pytest.importorskip("soundfile")
av = pytest.importorskip("av")
soxr = pytest.importorskip("soxr")

SONGS = (
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg",
    "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg",
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
    "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
)
EXCERPT_SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
EXCERPT_START, EXCERPT_SECONDS = 20.0, 10.0
RATE = 15_360  # the features' sample rate
LOSSY_LENGTH_TOLERANCE = 0.010  # seconds: AAC's last frame is padded (about 8 ms here)
AAC_PRIMING = 1024


@contextmanager
def deadline(seconds: float):
    """Fail instead of hanging: a decoder looping on garbage raises TimeoutError."""
    def expire(signum, frame):
        raise TimeoutError(f"decoding took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- making test files ----------------------------------------------------------------


@pytest.fixture(scope="module")
def excerpt() -> tuple[np.ndarray, int]:
    """10 s of real stereo music (frames x 2 float32) and its rate."""
    song = shared_data("music", EXCERPT_SONG)
    with sf.SoundFile(song) as handle:
        handle.seek(int(EXCERPT_START * handle.samplerate))
        samples = handle.read(int(EXCERPT_SECONDS * handle.samplerate), dtype="float32")
        return samples, handle.samplerate


@pytest.fixture(scope="module")
def encoded(excerpt, tmp_path_factory) -> dict[str, Path]:
    """The excerpt as wav, flac, ogg, mp3 (libsndfile) and m4a (PyAV's AAC encoder)."""
    samples, rate = excerpt
    folder = tmp_path_factory.mktemp("encoded")
    paths = {name: folder / f"excerpt.{name}" for name in ("wav", "flac", "ogg", "mp3", "m4a")}
    sf.write(paths["wav"], samples, rate, subtype="PCM_16")
    sf.write(paths["flac"], samples, rate, subtype="PCM_16")
    sf.write(paths["ogg"], samples, rate, format="OGG", subtype="VORBIS")
    sf.write(paths["mp3"], samples, rate, format="MP3")
    write_m4a(paths["m4a"], samples, rate)
    return paths


def write_m4a(path: Path, samples: np.ndarray, rate: int) -> None:
    """AAC in MP4 via PyAV, with the encoder's priming declared as real encoders do.

    PyAV's muxer writes an edit list starting at 0 (it does not pass on the encoder's 1024
    priming samples), so every decoder would start 23 ms late; iTunes and the ffmpeg tool
    declare the priming there, and FFmpeg's demuxer then skips it. The edit list is patched
    to match, so that the test sees the file as users' files are.
    """
    layout = "stereo" if samples.shape[1] == 2 else "mono"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp",
                                           layout=layout)
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    data = bytearray(path.read_bytes())
    mvhd, elst = data.find(b"mvhd"), data.find(b"elst")
    assert data[mvhd + 4] == 0 and data[elst + 4] == 0  # version 0 boxes: 32-bit fields
    (timescale,) = struct.unpack(">I", data[mvhd + 16:mvhd + 20])
    entries, _, media_time = struct.unpack(">IIi", data[elst + 8:elst + 20])
    assert (entries, media_time) == (1, 0)
    kept = round(len(samples) / rate * timescale)
    data[elst + 12:elst + 20] = struct.pack(">Ii", kept, AAC_PRIMING)
    path.write_bytes(bytes(data))


def write_sine(path: Path, rate: int, seconds: float, frequency: float,
               channels: int = 1, subtype: str = "PCM_16") -> np.ndarray:
    times = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * frequency * times)
    samples = np.repeat(wave[:, None], channels, axis=1)
    sf.write(path, samples, rate, subtype=subtype)
    return samples


def png_bytes() -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes(range(30)) for _ in range(10))
    header = struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def reference(samples: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """What a decoder should give: channel mean, resampled with soxr HQ (librosa's way)."""
    return soxr.resample(samples.mean(axis=1), rate, target, quality="HQ")


def best_lag(decoded: np.ndarray, expected: np.ndarray, most: int) -> int:
    """Shift (in samples, within +-most) at which `decoded` best matches `expected`."""
    size = len(decoded) + len(expected)
    spectrum = np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(expected, size))
    correlation = np.fft.irfft(spectrum, size)
    window = np.concatenate([correlation[-most:], correlation[:most + 1]])
    return int(np.argmax(window)) - most


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    size = min(len(a), len(b))
    return float(np.corrcoef(a[:size], b[:size])[0, 1])


# --- the five formats ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_each_format_decodes_to_the_excerpt(name, encoded, excerpt):
    samples, rate = excerpt
    expected = reference(samples, rate)
    decoded = load_audio(encoded[name], RATE)
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert np.all(np.isfinite(decoded))
    lossless = name in ("wav", "flac")
    tolerance = 0 if lossless else LOSSY_LENGTH_TOLERANCE * RATE
    assert abs(len(decoded) - len(expected)) <= tolerance
    assert best_lag(decoded, expected, most=RATE // 10) == 0
    if lossless:  # 16-bit quantisation only
        assert np.abs(decoded - expected).max() < 2e-3
    assert correlation(decoded, expected) > (0.9999 if lossless else 0.99)


@pytest.mark.parametrize("name", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_duration_comes_from_the_header(name, encoded):
    assert audio_duration(encoded[name]) == pytest.approx(EXCERPT_SECONDS,
                                                          abs=LOSSY_LENGTH_TOLERANCE)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # librosa imports audioread
@pytest.mark.parametrize("song", SONGS)
def test_matches_librosa_load_on_real_songs(song):
    """Same decoder, same downmix, soxr_hq, same length fix: identical to the last bit."""
    librosa = pytest.importorskip("librosa")
    path = shared_data("music", song)
    expected, _ = librosa.load(path, sr=RATE, mono=True)
    decoded = load_audio(path, RATE)
    assert decoded.shape == expected.shape
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=1e-6)
    clip, _ = librosa.load(path, sr=22_050, mono=True, duration=7.3)
    np.testing.assert_allclose(load_audio(path, 22_050, max_seconds=7.3), clip, rtol=0, atol=1e-6)


def test_content_not_suffix_picks_the_decoder(encoded, tmp_path):
    """An m4a renamed .mp3 goes to FFmpeg (libsndfile would decode 0.1 s of noise)."""
    renamed = tmp_path / "really_aac.mp3"
    renamed.write_bytes(encoded["m4a"].read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_audio(renamed, RATE), load_audio(encoded["m4a"], RATE))


def test_raw_aac_with_an_id3_tag_renamed_mp3(excerpt, tmp_path):
    """ADTS AAC (.aac) behind an ID3 tag: the content, not the name, picks FFmpeg.

    Raw AAC carries no record of the encoder's priming, so, as with any decoder, the music
    starts 1024 samples (23 ms at 44.1 kHz) late.
    """
    samples, rate = excerpt
    raw = tmp_path / "excerpt.aac"
    with av.open(str(raw), "w", format="adts") as container:
        stream = container.add_stream("aac", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp",
                                           layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(b"ID3\x03\x00\x00\x00\x00\x01\x00" + bytes(128) + raw.read_bytes())
    expected = reference(samples, rate)
    decoded = load_audio(tagged, RATE)
    np.testing.assert_array_equal(decoded, load_audio(raw, RATE))
    priming = round(AAC_PRIMING * RATE / rate)
    assert abs(best_lag(decoded, expected, most=RATE // 10) - priming) <= 1
    assert correlation(decoded[priming:], expected) > 0.99


def test_soundfile_refusal_falls_back_to_pyav(excerpt, tmp_path):
    """A WAV in a codec libsndfile does not know (Yamaha ADPCM): FFmpeg decodes it."""
    samples, rate = excerpt
    path = tmp_path / "adpcm.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("adpcm_yamaha", rate=rate, layout="stereo")
        pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(RuntimeError, match="fmt"):
        sf.info(path)
    decoded = load_audio(path, RATE)
    expected = reference(samples, rate)
    assert abs(len(decoded) - len(expected)) <= LOSSY_LENGTH_TOLERANCE * RATE
    assert best_lag(decoded, expected, most=RATE // 10) == 0
    assert correlation(decoded, expected) > 0.999


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_pyav_path_scales_every_sample_format_like_soundfile(subtype, tmp_path):
    path = tmp_path / f"{subtype}.wav"
    write_sine(path, 22_050, 0.5, 440.0, channels=2, subtype=subtype)
    via_soundfile, _ = audio._load(path, RATE, None, (audio._soundfile_source,))
    via_pyav, _ = audio._load(path, RATE, None, (audio._pyav_source,))
    np.testing.assert_allclose(via_pyav, via_soundfile, rtol=0, atol=1e-6)


# --- channels and rates ----------------------------------------------------------------


@pytest.mark.parametrize("channels", [2, 6])
def test_downmix_is_the_channel_mean(channels, tmp_path):
    rng = np.random.default_rng(channels)
    samples = rng.uniform(-0.5, 0.5, size=(4410, channels)).astype(np.float32)
    path = tmp_path / "channels.wav"
    sf.write(path, samples, 44_100, subtype="FLOAT")
    decoded = load_audio(path, 44_100)
    np.testing.assert_allclose(decoded, samples.mean(axis=1), rtol=0, atol=1e-7)


@pytest.mark.parametrize("input_rate", [8_000, 22_050, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("target", [RATE, 22_050])
def test_any_input_rate_resamples_to_the_requested_rate(input_rate, target, tmp_path):
    path = tmp_path / f"sine_{input_rate}.wav"
    write_sine(path, input_rate, 2.0, 1000.0, channels=2)
    decoded = load_audio(path, target)
    assert len(decoded) == 2 * target
    assert_sine(decoded, target, 1000.0)


def test_m4a_at_48k_mono_resamples_correctly(tmp_path):
    path = tmp_path / "sine48k.m4a"
    times = np.arange(96_000) / 48_000
    write_m4a(path, (0.5 * np.sin(2 * np.pi * 1000.0 * times))[:, None].astype(np.float32),
              48_000)
    decoded = load_audio(path, RATE)
    assert abs(len(decoded) - 2 * RATE) <= LOSSY_LENGTH_TOLERANCE * RATE
    assert_sine(decoded[:2 * RATE], RATE, 1000.0)


def assert_sine(decoded: np.ndarray, rate: int, frequency: float) -> None:
    """The spectrum peaks at `frequency` (0.5 Hz bins over 2 s) and the level is kept."""
    spectrum = np.abs(np.fft.rfft(decoded * np.hanning(len(decoded))))
    peak = np.argmax(spectrum) * rate / len(decoded)
    assert peak == pytest.approx(frequency, abs=0.5)
    middle = decoded[len(decoded) // 4: -len(decoded) // 4]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / math.sqrt(2), rel=0.01)


# --- odd but valid input ---------------------------------------------------------------


def test_silence_decodes_to_zeros(tmp_path):
    path = tmp_path / "silence.flac"
    sf.write(path, np.zeros((44_100 * 3, 2)), 44_100)
    decoded = load_audio(path, RATE)
    assert len(decoded) == 3 * RATE and not decoded.any()


def test_clip_shorter_than_a_second(tmp_path):
    path = tmp_path / "short.ogg"
    write_sine(path, 44_100, 0.3, 440.0, channels=2, subtype="VORBIS")
    decoded = load_audio(path, RATE)
    assert abs(len(decoded) - 0.3 * RATE) <= 1
    assert np.abs(decoded).max() > 0.3


def test_max_seconds_cuts_the_decoding(encoded):
    assert len(load_audio(encoded["flac"], RATE, max_seconds=2.5)) == int(2.5 * RATE)
    assert abs(len(load_audio(encoded["m4a"], RATE, max_seconds=2.5)) - 2.5 * RATE) <= 1
    with pytest.raises(ValueError):
        load_audio(encoded["flac"], RATE, max_seconds=0)
    with pytest.raises(ValueError):
        load_audio(encoded["flac"], 0)


def test_non_finite_samples_become_silence_with_one_warning(tmp_path):
    samples = write_sine(tmp_path / "clean.wav", 44_100, 1.0, 440.0, channels=2,
                         subtype="FLOAT").astype(np.float32)
    samples[100, 0], samples[2000, 1], samples[30_000:30_010, :] = np.nan, np.inf, -np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, samples, 44_100, subtype="FLOAT")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = load_audio(path, 44_100)
        resampled = load_audio(path, RATE)
    assert len(caught) == 2  # one per call
    assert "22 non-finite" in str(caught[0].message) and str(path) in str(caught[0].message)
    cleaned = np.where(np.isfinite(samples), samples, 0).mean(axis=1)
    np.testing.assert_allclose(decoded, cleaned, rtol=0, atol=1e-7)
    assert np.all(np.isfinite(resampled))


# --- bad input -------------------------------------------------------------------------


def assert_refused(path: Path, *words: str) -> None:
    with deadline(10), pytest.raises(InputFileError) as raised:
        load_audio(path, RATE)
    message = str(raised.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert all(word in message for word in words), message
    with deadline(10), pytest.raises(InputFileError):
        audio_duration(path)


def test_missing_file(tmp_path):
    assert_refused(tmp_path / "nowhere.mp3", "not found")


def test_folder(tmp_path):
    assert_refused(tmp_path, "folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp3"
    path.touch()
    assert_refused(path, "empty")


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".wav", ".ogg"])
@pytest.mark.parametrize("content", ["text", "random"])
def test_non_audio_renamed_as_audio(content, suffix, tmp_path):
    path = tmp_path / f"not_audio{suffix}"
    if content == "text":
        path.write_text("These are the lyrics, not the song.\n" * 300)
    else:
        path.write_bytes(np.random.default_rng(7).bytes(50_000))
    assert_refused(path, "not a readable audio file")


@pytest.mark.parametrize("suffix", [".mp3", ".m4a"])
def test_picture_renamed_as_audio_has_no_audio_stream(suffix, tmp_path):
    path = tmp_path / f"cover{suffix}"
    path.write_bytes(png_bytes())
    assert_refused(path, "no audio stream")


def test_video_without_sound(tmp_path):
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(5):
            image = np.full((32, 32, 3), index * 40, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    assert_refused(path, "no audio stream")


@pytest.mark.parametrize("size", [5, 100])
def test_mp3_truncated_to_a_few_bytes(size, encoded, tmp_path):
    path = tmp_path / "stub.mp3"
    path.write_bytes(encoded["mp3"].read_bytes()[:size])
    assert_refused(path)


@pytest.mark.parametrize("name", ["mp3", "flac", "wav"])
def test_file_cut_in_half_gives_the_decodable_part(name, encoded, excerpt, tmp_path):
    data = encoded[name].read_bytes()
    path = tmp_path / f"half.{name}"
    path.write_bytes(data[:len(data) // 2])
    with deadline(10), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = load_audio(path, RATE)
    assert 4.0 * RATE < len(decoded) < 6.0 * RATE
    expected = reference(*excerpt)
    assert correlation(decoded[:4 * RATE], expected[:4 * RATE]) > 0.99
    if name != "wav":  # a cut wav's header is corrected by libsndfile; the others warn
        assert any("truncated" in str(warning.message) for warning in caught)


def test_m4a_cut_in_half_is_refused(encoded, tmp_path):
    """PyAV writes the index (moov) at the end: without it nothing can be decoded."""
    data = encoded["m4a"].read_bytes()
    path = tmp_path / "half.m4a"
    path.write_bytes(data[:len(data) // 2])
    assert_refused(path, "corrupt or truncated")


# --- long files and imports ------------------------------------------------------------

LONG_MINUTES = 15
MEMORY_PROBE = """
import json, sys
from pathlib import Path
from dancerev_core.music import audio

def peak_rss():  # VmHWM starts afresh at exec, unlike ru_maxrss which inherits the parent's
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

opener = {"soundfile": audio._soundfile_source, "pyav": audio._pyav_source}[sys.argv[3]]
audio._load(Path(sys.argv[2]), 15360, None, (opener,))  # warm up: libraries and caches
before = peak_rss()
samples, _ = audio._load(Path(sys.argv[1]), 15360, None, (opener,))
after = peak_rss()
print(json.dumps({"length": len(samples), "peak_growth": after - before,
                  "output": samples.nbytes, "rms": float((samples[:15360] ** 2).mean() ** .5)}))
"""


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory) -> Path:
    """15 minutes of 44.1 kHz stereo (two sines, 26 MB as FLAC), written second by second."""
    path = tmp_path_factory.mktemp("long") / "long.flac"
    times = np.arange(44_100) / 44_100
    second = np.stack([np.sin(2 * np.pi * 441 * times), np.sin(2 * np.pi * 882 * times)], 1)
    second = np.round(0.25 * 32767 * second).astype(np.int16)
    with sf.SoundFile(path, "w", 44_100, 2, "PCM_16") as handle:
        for _ in range(LONG_MINUTES * 60):
            handle.write(second)
    return path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("decoder", ["soundfile", "pyav"])
def test_fifteen_minutes_decode_in_bounded_memory(decoder, long_flac, encoded):
    """Peak RSS growth (in a fresh process) stays near the output's size.

    Holding the signal at full rate would cost 635 MB as stereo float64 (318 MB as float32);
    the output, mono float32 at 15,360 Hz, is 53 MB; measured growth is the output plus
    about a megabyte.
    """
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(long_flac), str(encoded["flac"]), decoder],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
    measured = json.loads(result.stdout)
    assert measured["length"] == LONG_MINUTES * 60 * RATE
    assert measured["rms"] == pytest.approx(0.125, rel=0.01)  # mean of two 0.25 sines
    full_rate_stereo_float64 = LONG_MINUTES * 60 * 44_100 * 2 * 8
    assert measured["peak_growth"] > 0.9 * measured["output"]  # the probe does see it
    assert measured["peak_growth"] < measured["output"] + 48 * 2**20
    assert measured["peak_growth"] < full_rate_stereo_float64 / 8


def test_module_imports_with_numpy_alone():
    """As in Blender's Python: soundfile, av, soxr and librosa absent."""
    blocked = "; ".join(f"sys.modules[{name!r}] = None"
                        for name in ("soundfile", "av", "soxr", "librosa", "scipy", "torch"))
    code = f"import sys; {blocked}; import dancerev_core.music.audio"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)
