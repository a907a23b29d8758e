"""The paper's 438 features without librosa: the same numbers, a fraction of the time.

`features.extract_reference` calls librosa as the paper's code does. Two things make
that slow for users: librosa's harmonic/percussive separation median-filters the spectrogram
with `scipy.ndimage.median_filter` (about 85 % of the warm time), and importing librosa's
spectral modules compiles or loads numba code (seconds on every cold start, 25 s on a fresh
machine). This module reproduces each librosa step used by the recipe with numpy, scipy.fft
and bottleneck's sliding median (O(log w) per sample, exact), in the same order and dtypes,
so that beats come out identical and every block matches within the tolerances in
`FAST_TOLERANCES` (checked on real songs by the tests). Chroma comes from `fast_chroma`.

Each private function names the librosa 0.11 function it reproduces.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft

from .features import (
    FEATURE_FPS,
    HOP_LENGTH,
    N_FFT,
    SAMPLE_RATE,
    MusicFeatures,
    check_waveform,
)
from .spectral import centred_frames, hann_window, stft_frames

N_MELS = 128
N_MFCC = 20
HPSS_KERNEL = 31
TEMPOGRAM_WINDOW = 384
TEMPO_WINDOW = 240  # librosa.beat.tempo: ac_size 8 s at 30 frames/s
START_BPM = 120.0
MAX_TEMPO = 320.0
TIGHTNESS = 100.0
CHUNK_FRAMES = 2048  # spectrogram frames held at once (about 68 s of music)

# Largest absolute difference from the reference path seen per block, with margin, on the
# shared songs (tests/core/test_fast_features.py asserts these on every run).
FAST_TOLERANCES = {"mfcc": 1e-5, "mfcc_delta": 2e-4, "chroma": 1e-4, "onset_envelope": 1e-6,
                   "beat": 0.0, "tempogram": 1e-6}


# ------------------------------------------------------------------------------ spectra
class OverlapAdd:
    """librosa.istft's overlap-add, fed frame ranges in order (so long songs go in chunks).

    Every output sample sums its frames in increasing frame order, as librosa's loop does,
    in four vectorised passes (hop = n_fft / 4): the same terms in the same order, so the
    same float32 result whether the frames arrive at once or in chunks.
    """

    def __init__(self, n_frames: int) -> None:
        self.n_frames = n_frames
        self.overlap = N_FFT // HOP_LENGTH
        self.blocks = np.zeros((n_frames + self.overlap - 1, HOP_LENGTH), dtype=np.float32)

    def add(self, start: int, columns: np.ndarray) -> None:
        """Frames start, start + 1, ... given as STFT columns (frequencies x frames)."""
        count = columns.shape[1]
        frames = scipy.fft.irfft(np.ascontiguousarray(columns.T), n=N_FFT, axis=-1)
        parts = (frames * hann_window(N_FFT)).reshape(count, self.overlap, HOP_LENGTH)
        for part in range(self.overlap - 1, -1, -1):
            self.blocks[start + part:start + part + count] += parts[:, part]

    def signal(self, length: int) -> np.ndarray:
        """The centred signal of `length` samples, divided by the window's sum-square."""
        padded = self.blocks.reshape(-1)
        y = _fix_length(padded[N_FFT // 2:N_FFT // 2 + length], length).copy()
        envelope = _fix_length(window_sum_square(self.n_frames)[N_FFT // 2:], length)
        nonzero = envelope > np.finfo(envelope.dtype).tiny
        y[nonzero] /= envelope[nonzero]
        return y


def istft(matrix: np.ndarray, length: int) -> np.ndarray:
    """librosa.istft(matrix, length=length) for the recipe's centred Hann STFT."""
    n_frames = min(matrix.shape[1], int(np.ceil((length + 2 * (N_FFT // 2)) / HOP_LENGTH)))
    overlap_add = OverlapAdd(n_frames)
    overlap_add.add(0, matrix[:, :n_frames])
    return overlap_add.signal(length)


def _fix_length(x: np.ndarray, size: int) -> np.ndarray:
    return x[:size] if x.shape[0] >= size else np.pad(x, (0, size - x.shape[0]))


@lru_cache(maxsize=8)
def _window_sum_square_cached(n_frames: int) -> np.ndarray:
    total = N_FFT + HOP_LENGTH * (n_frames - 1)
    envelope = np.zeros(total, dtype=np.float32)
    squared = hann_window(N_FFT) ** 2
    for frame in range(n_frames):
        sample = frame * HOP_LENGTH
        envelope[sample:min(total, sample + N_FFT)] += squared[:max(0, min(N_FFT,
                                                                          total - sample))]
    envelope.flags.writeable = False
    return envelope


def window_sum_square(n_frames: int) -> np.ndarray:
    """librosa.filters.window_sumsquare for the Hann window, float32 like istft's output."""
    return _window_sum_square_cached(n_frames)


# ------------------------------------------------------------------------------ mel, MFCC
def _hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """librosa.hz_to_mel (Slaney scale)."""
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = frequencies / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    if frequencies.ndim:
        log_t = frequencies >= min_log_hz
        mels[log_t] = min_log_mel + np.log(frequencies[log_t] / min_log_hz) / logstep
    elif frequencies >= min_log_hz:
        mels = min_log_mel + np.log(frequencies / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """librosa.mel_to_hz (Slaney scale)."""
    mels = np.asanyarray(mels)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


@lru_cache(maxsize=2)
def mel_filterbank(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """librosa.filters.mel(sr=sample_rate, n_fft=2048): 128 Slaney-normalised triangles."""
    fftfreqs = np.fft.rfftfreq(n=N_FFT, d=1.0 / sample_rate)
    min_mel, max_mel = _hz_to_mel(0.0), _hz_to_mel(float(sample_rate) / 2)
    mel_f = _mel_to_hz(np.linspace(min_mel, max_mel, N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((N_MELS, 1 + N_FFT // 2), dtype=np.float32)
    for i in range(N_MELS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:N_MELS + 2] - mel_f[:N_MELS]))[:, np.newaxis]
    return weights


def mel_power(spectrum: np.ndarray) -> np.ndarray:
    """librosa.feature.melspectrogram(S=None) from a complex STFT: power 2, 128 mels."""
    power = np.abs(spectrum) ** 2.0
    return np.einsum("ft,mf->mt", power, mel_filterbank(), optimize=True)


def power_to_db(power: np.ndarray, ref: float | None = 1.0, amin: float = 1e-10,
                top_db: float = 80.0) -> np.ndarray:
    """librosa.power_to_db; `ref=None` means `ref=np.max`."""
    ref_value = np.max(power) if ref is None else np.abs(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, power))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    return np.maximum(log_spec, log_spec.max() - top_db)


def mfcc_from_db(mel_db: np.ndarray) -> np.ndarray:
    """librosa.feature.mfcc(S=mel_db): orthonormal DCT-II, first 20 coefficients."""
    return scipy.fft.dct(mel_db, axis=-2, type=2, norm="ortho")[:N_MFCC]


def delta_width3(data: np.ndarray) -> np.ndarray:
    """librosa.feature.delta(data, width=3): Savitzky-Golay order 1, mode 'interp'.

    With three points the least-squares slope is (x[i+1] - x[i-1]) / 2 everywhere, and at
    the edges the slope of the line fitted to the first or last three frames.
    """
    out = np.empty_like(data)
    out[:, 1:-1] = (data[:, 2:] - data[:, :-2]) * 0.5
    out[:, 0] = (data[:, 2] - data[:, 0]) * 0.5
    out[:, -1] = (data[:, -1] - data[:, -3]) * 0.5
    return out


# ------------------------------------------------------------------------------ HPSS
def sliding_median(values: np.ndarray, width: int) -> np.ndarray:
    """scipy.ndimage.median_filter(values, size=(1, width), mode='reflect'), exactly.

    bottleneck's move_median is a trailing window; padding `width // 2` mirrored samples on
    each side (scipy's 'reflect' is numpy's 'symmetric') makes it centred.
    """
    import bottleneck

    half = width // 2
    padded = np.pad(values, ((0, 0), (half, half)), mode="symmetric")
    return bottleneck.move_median(padded, window=width, axis=-1)[:, width - 1:]


def _softmask(x: np.ndarray, x_ref: np.ndarray) -> np.ndarray:
    """librosa.util.softmask(x, x_ref, power=2, split_zeros=False)."""
    z = np.maximum(x, x_ref).astype(x.dtype)
    bad = z < np.finfo(x.dtype).tiny
    z[bad] = 1
    mask = (x / z) ** 2.0
    ref_mask = (x_ref / z) ** 2.0
    good = ~bad
    mask[good] /= mask[good] + ref_mask[good]
    mask[bad] = 0.0
    return mask


def magphase(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librosa.magphase(spectrum): magnitude and unit phase (1 where the magnitude is 0).

    Reproduced to the bit: even a one-ulp change in the harmonic signal can move the
    chroma's tuning estimate by a histogram step on some songs.
    """
    magnitude = np.abs(spectrum)
    zeros_to_ones = magnitude == 0
    nonzero = magnitude + zeros_to_ones
    phase = np.empty_like(spectrum)
    phase.real = spectrum.real / nonzero + zeros_to_ones
    phase.imag = spectrum.imag / nonzero
    return magnitude, phase


def hpss_masks(magnitude: np.ndarray, keep: slice) -> tuple[np.ndarray, np.ndarray]:
    """librosa.decompose.hpss soft masks (kernel 31, power 2, margin 1) for frames `keep`.

    `magnitude` holds the frames to keep plus up to 15 frames of context on each side
    (fewer only at the song's ends, where the median filter mirrors the signal as scipy's
    'reflect' does); the mirrored padding at an inner edge never reaches a kept frame.
    """
    harmonic = sliding_median(magnitude, HPSS_KERNEL)[:, keep]
    kept = np.ascontiguousarray(magnitude[:, keep].T)
    percussive = np.ascontiguousarray(sliding_median(kept, HPSS_KERNEL).T)
    harmonic = harmonic.astype(magnitude.dtype, copy=False)
    percussive = percussive.astype(magnitude.dtype, copy=False)
    return _softmask(harmonic, percussive * 1.0), _softmask(percussive, harmonic * 1.0)


def _chunks(n_frames: int) -> list[tuple[int, int]]:
    return [(start, min(start + CHUNK_FRAMES, n_frames))
            for start in range(0, n_frames, CHUNK_FRAMES)]


def spectral_pass(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the song in chunks: mel power of y, and its harmonic and percussive parts.

    Reproduces librosa.feature.melspectrogram(y) and librosa.effects.hpss(y) while holding
    only one chunk of the spectrogram at a time, so memory stays flat on long songs.
    """
    frames = centred_frames(y, N_FFT, HOP_LENGTH)
    n_frames = frames.shape[0]
    margin = HPSS_KERNEL // 2
    mel = np.empty((N_MELS, n_frames), dtype=np.float32)
    harmonic, percussive = OverlapAdd(n_frames), OverlapAdd(n_frames)
    for start, stop in _chunks(n_frames):
        context_start, context_stop = max(0, start - margin), min(n_frames, stop + margin)
        spectrum = stft_frames(frames[context_start:context_stop], y.dtype)
        keep = slice(start - context_start, stop - context_start)
        mel[:, start:stop] = mel_power(spectrum[:, keep])
        magnitude, phase = magphase(spectrum)
        mask_harmonic, mask_percussive = hpss_masks(magnitude, keep)
        magnitude, phase = magnitude[:, keep], phase[:, keep]
        harmonic.add(start, (magnitude * mask_harmonic) * phase)
        percussive.add(start, (magnitude * mask_percussive) * phase)
    return mel, harmonic.signal(len(y)), percussive.signal(len(y))


def hpss(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librosa.effects.hpss(y): harmonic and percussive waveforms."""
    _, harmonic, percussive = spectral_pass(y)
    return harmonic, percussive


def mel_power_chunked(y: np.ndarray) -> np.ndarray:
    """librosa.feature.melspectrogram(y=y), one chunk of the spectrogram at a time."""
    frames = centred_frames(y, N_FFT, HOP_LENGTH)
    mel = np.empty((N_MELS, frames.shape[0]), dtype=np.float32)
    for start, stop in _chunks(frames.shape[0]):
        mel[:, start:stop] = mel_power(stft_frames(frames[start:stop], y.dtype))
    return mel


# ------------------------------------------------------------------------------ rhythm
def onset_envelope(y: np.ndarray) -> np.ndarray:
    """librosa.onset.onset_strength(y=y, sr=15360, aggregate=np.median)."""
    mel_db = power_to_db(np.abs(mel_power_chunked(y)))
    flux = np.maximum(0.0, mel_db[:, 1:] - mel_db[:, :-1])
    envelope = np.median(flux, axis=0, keepdims=True)
    pad = 1 + N_FFT // (2 * HOP_LENGTH)
    envelope = np.pad(envelope, ((0, 0), (pad, 0)), mode="constant")
    return envelope[0, :mel_db.shape[1]]


def _normalize_columns(matrix: np.ndarray) -> np.ndarray:
    """librosa.util.normalize(matrix, norm=np.inf, axis=-2)."""
    length = np.max(np.abs(matrix).astype(float), axis=-2, keepdims=True)
    length[length < np.finfo(matrix.dtype).tiny] = 1.0
    out = np.empty_like(matrix)
    out[:] = matrix / length
    return out


def tempogram(envelope: np.ndarray, win_length: int = TEMPOGRAM_WINDOW) -> np.ndarray:
    """librosa.feature.tempogram(onset_envelope=envelope, win_length=win_length).

    Frames are laid out one per row so the FFTs run along contiguous memory; each
    transform sees the same numbers as librosa's column-wise one.
    """
    n = envelope.shape[-1]
    padded = np.pad(envelope, (win_length // 2, win_length // 2), mode="linear_ramp",
                    end_values=[0, 0])
    rows = np.lib.stride_tricks.sliding_window_view(padded, win_length)[:n]
    n_pad = scipy.fft.next_fast_len(2 * win_length - 1, real=True)
    result = np.empty((win_length, n), dtype=np.float64)
    for start, stop in _chunks(n):
        windowed = rows[start:stop] * hann_window(win_length)
        spectrum = scipy.fft.rfft(windowed, n=n_pad, axis=-1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        autocorrelation = scipy.fft.irfft(power, n=n_pad, axis=-1)[:, :win_length]
        result[:, start:stop] = _normalize_columns(np.ascontiguousarray(autocorrelation.T))
    return result


def estimate_tempo(envelope: np.ndarray) -> float:
    """librosa.feature.tempo(onset_envelope=envelope): log-normal prior around 120 BPM."""
    mean_tempogram = np.mean(tempogram(envelope, TEMPO_WINDOW), axis=-1, keepdims=True)
    bpms = np.zeros(TEMPO_WINDOW)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * SAMPLE_RATE / (HOP_LENGTH * np.arange(1.0, TEMPO_WINDOW))
    logprior = -0.5 * ((np.log2(bpms) - np.log2(START_BPM)) / 1.0) ** 2
    logprior[:int(np.argmax(bpms < MAX_TEMPO))] = -np.inf
    best = np.argmax(np.log1p(1e6 * mean_tempogram) + logprior[:, None], axis=-2)
    return float(bpms[best[0]])


def _local_score(onsets: np.ndarray, frames_per_beat: float) -> np.ndarray:
    """librosa.beat.__beat_local_score: the Gaussian-smoothed onsets, its loop order kept.

    librosa's loop leaves out onset index 0 (its upper bound is exclusive); so does this.
    """
    n = len(onsets)
    window = np.exp(-0.5 * (np.arange(-frames_per_beat, frames_per_beat + 1) * 32.0
                            / frames_per_beat) ** 2)
    k_total = len(window)
    half = k_total // 2
    score = np.zeros(n, dtype=np.float64)
    source = onsets.astype(np.float64)
    indices = np.arange(n)
    for k in range(k_total):
        # k in [max(0, i + half - n + 1), min(i + half, k_total)) <=> these i:
        low, high = max(k - half + 1, 0), min(n + k - half, n)
        if low < high:
            i = indices[low:high]
            score[low:high] += window[k] * source[i + half - k]
    return score


def _beat_dynamic_program(score: np.ndarray,
                          frames_per_beat: float) -> tuple[np.ndarray, np.ndarray]:
    """librosa.beat.__beat_track_dp: best predecessor of each frame, cumulative score."""
    n = len(score)
    threshold = 0.01 * score.max()
    backlink = np.full(n, -1, dtype=np.int32)
    cumulative = np.zeros(n, dtype=np.float64)
    nearest = int(np.round(frames_per_beat / 2))
    farthest = int(2 * frames_per_beat)
    distances = np.arange(nearest, farthest + 1)
    # math.log is the C library's log, as in librosa's numba code.
    log_fpb = math.log(frames_per_beat)
    penalty = np.array([np.float32(TIGHTNESS) * (math.log(d) - log_fpb) ** 2
                        for d in distances])
    first_beat = True
    for i in range(n):
        start = i - nearest
        location = -1
        best = -np.inf
        if start >= 0:
            stop = max(i - farthest, 0)
            candidates = cumulative[start:stop - 1 if stop > 0 else None:-1]
            scores = candidates - penalty[:len(candidates)]
            pick = int(np.argmax(scores))
            best, location = float(scores[pick]), start - pick
        cumulative[i] = score[i] + best if location >= 0 else score[i]
        if first_beat and score[i] < threshold:
            backlink[i] = -1
        else:
            backlink[i] = location
            first_beat = False
    return backlink, cumulative


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """librosa.util.localmax along the last axis."""
    padded = np.pad(x, 1, mode="edge")
    maxima = (x > padded[:-2]) & (x >= padded[2:])
    maxima[-1] = x[-1] > x[-2]
    return maxima


def beat_track(envelope: np.ndarray) -> tuple[float, np.ndarray]:
    """librosa.beat.beat_track(onset_envelope=envelope): (tempo BPM, beat frames)."""
    if not envelope.any():
        return 0.0, np.array([], dtype=int)
    tempo = estimate_tempo(envelope)
    frames_per_beat = float(np.round(FEATURE_FPS * 60.0 / tempo))
    onsets = envelope / (envelope.std(ddof=1) + np.finfo(envelope.dtype).tiny)
    score = _local_score(onsets, frames_per_beat)
    backlink, cumulative = _beat_dynamic_program(score, frames_per_beat)
    maxima = _local_maxima(cumulative)
    threshold = 0.5 * np.median(cumulative[maxima]) if maxima.any() else 0.0
    tail = len(cumulative) - 1
    candidates = np.flatnonzero(maxima & (cumulative >= threshold))
    if len(candidates):
        tail = int(candidates[-1])
    beats = np.zeros(len(envelope), dtype=bool)
    frame = tail
    while frame >= 0:
        beats[frame] = True
        frame = backlink[frame]
    smooth = np.convolve(score[beats], np.hanning(5))[2:len(score) + 2]
    trim_threshold = 0.5 * ((smooth ** 2).mean() ** 0.5)
    start = 0
    while start < len(score) and score[start] <= trim_threshold:
        beats[start] = False
        start += 1
    end = len(score) - 1
    while end >= 0 and score[end] <= trim_threshold:
        beats[end] = False
        end -= 1
    return tempo, np.flatnonzero(beats)


# ------------------------------------------------------------------------------ all
def extract_fast(waveform: np.ndarray) -> MusicFeatures:
    """The 438 features at 30 fps, matching `extract_reference` within FAST_TOLERANCES."""
    from .fast_chroma import chroma_cqt

    y = check_waveform(waveform)
    mel, harmonic, percussive = spectral_pass(y)
    mfcc = mfcc_from_db(power_to_db(mel, ref=None))
    mfcc_delta = delta_width3(mfcc)
    chroma = chroma_cqt(harmonic, SAMPLE_RATE, HOP_LENGTH)
    envelope = onset_envelope(percussive)
    tempo_matrix = tempogram(envelope)
    tempo, beats = beat_track(envelope)
    frames = min(mfcc.shape[1], chroma.shape[1], tempo_matrix.shape[1], envelope.shape[0])
    beat_column = np.zeros(frames, dtype=np.float32)
    beat_column[beats[beats < frames]] = 1.0
    features = np.concatenate([
        mfcc[:, :frames], mfcc_delta[:, :frames], chroma[:, :frames],
        envelope[None, :frames], beat_column[None], tempo_matrix[:, :frames],
    ], axis=0).T.astype(np.float32)
    return MusicFeatures(features=np.ascontiguousarray(features), fps=FEATURE_FPS,
                         beat_times=(beats * HOP_LENGTH) / SAMPLE_RATE, tempo=tempo,
                         duration=y.size / SAMPLE_RATE)
