"""librosa 0.11's `feature.chroma_cqt` in numpy + scipy.fft + soxr, without librosa or numba.

Importing librosa's spectral and constant-Q modules costs seconds (numba compiles its jitted
helpers), which alone breaks the 3 s cold-start budget of the feature extraction. This module
reproduces, step by step, what `librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop)`
computes with every other argument at its default:

1. `estimate_tuning` (via `piptrack` and `pitch_tuning`), bit-identical: same FFT library
   (scipy.fft), same window formula, same dtypes, and the peaks in librosa's order;
2. the constant-Q transform of `vqt` (C1 tuned, 7 octaves of 36 bins, Hann wavelets,
   sparsified FFT-domain bases, octave-wise soxr_hq halving, trimming and length scaling);
3. the chroma folding of `filters.cq_to_chroma` and the per-frame max normalisation.

The only differences left are float rounding (about 1e-7 relative on the constant-Q
magnitudes): dense BLAS products instead of scipy.sparse ones, numpy's cos/sin instead of
numba's in the wavelets. After the per-frame normalisation the chroma differs by at most
~3e-7, and up to ~1e-5 in near-silent frames (quiet intros), whose tiny values it magnifies.
Work is done in blocks of frames, so memory stays bounded on long songs; filter bases are
memoised per (sr, tuning).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import soxr

from .spectral import centred_frames, hann_window, stft_blocks

BINS_PER_OCTAVE = 36
N_OCTAVES = 7
N_BINS = BINS_PER_OCTAVE * N_OCTAVES
N_CHROMA = 12
C1_HZ = 440.0 * 2.0 ** ((24 - 69.0) / 12.0)  # librosa.note_to_hz("C1")
HANN_BANDWIDTH = 1.50018310546875  # librosa.filters.WINDOW_BANDWIDTHS["hann"]
SPARSITY = 0.01
TUNING_N_FFT = 2048
BLOCK_FRAMES = 2048  # frames per FFT block: bounds memory on long songs


# --- shared helpers -----------------------------------------------------------------------

# --- tuning: librosa.estimate_tuning -> piptrack -> pitch_tuning ----------------------------

def _parabolic_shift(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """librosa.core.pitch._parabolic_interpolation at given bins (a numba stencil there).

    The stencil mixes float32 samples with integer literals, so numba evaluates a and b in
    float64; |b| >= |a| gives 0.
    """
    a = (hi + lo).astype(np.float64) - 2 * mid.astype(np.float64)
    b = (hi - lo).astype(np.float64) / 2
    ok = np.abs(b) < np.abs(a)
    return np.divide(-b, a, out=np.zeros_like(a), where=ok).astype(mid.dtype)


def _peak_bins(s: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame, bin) of piptrack's peaks: librosa.util.localmax of s * (s > 0.1 max(s)) over
    frequency, restricted to bins lo..hi-1 (never the first or last bin of the spectrum)."""
    ref = 0.1 * np.max(s, axis=-1, keepdims=True)
    near = s[:, lo - 1:hi + 1]
    x = near * (near > ref)
    peaks = (x[:, 1:-1] > x[:, :-2]) & (x[:, 1:-1] >= x[:, 2:])
    frame, k = np.nonzero(peaks)
    return frame, k + lo


def _piptrack_peaks(y: np.ndarray, sr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero entries of librosa.piptrack(y=y, sr=sr) at its defaults.

    Returns (frequency bin, pitch, magnitude) of every peak; librosa's (bins x frames) arrays
    are never built, and the interpolation runs at the peaks only. Defaults: n_fft 2048,
    hop 512, Hann, 150 <= f < min(4000, sr/2), peaks above 0.1 x the frame's maximum.
    """
    n_fft = TUNING_N_FFT
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    inside = np.flatnonzero((freqs >= 150.0) & (freqs < min(4000.0, float(sr) / 2)))
    if not inside.size:
        return (np.zeros(0, np.int64),) + (np.zeros(0, np.result_type(y.dtype, np.float32)),) * 2
    lo, hi = int(inside[0]), int(inside[-1]) + 1  # bin 0 and Nyquist are always outside
    bins, pitches, mags = [], [], []
    for block in stft_blocks(y, n_fft, n_fft // 4):
        s = np.abs(block)  # frames x bins, float32 for float32 audio
        frame, k = _peak_bins(s, lo, hi)
        below, at, above = s[frame, k - 1], s[frame, k], s[frame, k + 1]
        shift = _parabolic_shift(below, at, above)
        gradient = (above - below) / 2.0  # np.gradient, interior
        bins.append(k)
        pitches.append(((k + shift) * float(sr) / n_fft).astype(s.dtype))
        mags.append(at + 0.5 * gradient * shift)
    # librosa lists peaks bin-major (C order of its bins x frames arrays); keep that order
    # so that the float32 log2 below sees the same array as librosa's.
    k = np.concatenate(bins)
    order = np.argsort(k, kind="stable")
    return k[order], np.concatenate(pitches)[order], np.concatenate(mags)[order]


def _pitch_tuning(frequencies: np.ndarray, bins_per_octave: int) -> float:
    """librosa.pitch_tuning at resolution 0.01: the histogram peak of pitch deviations."""
    frequencies = frequencies[frequencies > 0]
    if not frequencies.size:
        return 0.0  # librosa warns and returns 0.0
    residual = np.mod(bins_per_octave * np.log2(frequencies / (440.0 / 16)), 1.0)
    residual[residual >= 0.5] -= 1.0
    edges = np.linspace(-0.5, 0.5, 101)
    counts, edges = np.histogram(residual, edges)
    return float(edges[np.argmax(counts)])


def estimate_tuning(y: np.ndarray, sr: float, bins_per_octave: int = BINS_PER_OCTAVE) -> float:
    """librosa.estimate_tuning(y=y, sr=sr, bins_per_octave=...) exactly, as `vqt` calls it.

    The default of 36 bins per octave is what chroma_cqt passes down (the result is in
    fractions of a 1/36-octave bin); librosa.estimate_tuning's own default is 12.
    """
    y = _as_audio(y)
    _, pitch, mag = _piptrack_peaks(y, sr)
    positive = pitch > 0
    threshold = np.median(mag[positive]) if positive.any() else 0.0
    return _pitch_tuning(pitch[(mag >= threshold) & positive], bins_per_octave)


# --- constant-Q: librosa.vqt with gamma 0 (cqt) --------------------------------------------

def _cqt_frequencies(tuning: float) -> np.ndarray:
    """librosa.interval_frequencies for vqt's C1 * 2**(tuning / 36), 252 equal bins."""
    fmin = C1_HZ * 2.0 ** (tuning / BINS_PER_OCTAVE)
    ratios = 2.0 ** (np.arange(BINS_PER_OCTAVE, dtype=float) / BINS_PER_OCTAVE)
    all_ratios = np.multiply.outer(2.0 ** np.arange(float(N_OCTAVES)), ratios).flatten()
    return np.sort(all_ratios[:N_BINS]) * fmin


def _relative_bandwidth(freqs: np.ndarray) -> np.ndarray:
    """librosa.filters._relative_bandwidth: alpha from the local bins-per-octave."""
    bpo = np.empty_like(freqs)
    logf = np.log2(freqs)
    bpo[0] = 1 / (logf[1] - logf[0])
    bpo[-1] = 1 / (logf[-1] - logf[-2])
    bpo[1:-1] = 2 / (logf[2:] - logf[:-2])
    return (2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)


def _wavelet_lengths(freqs: np.ndarray, sr: float, alpha: np.ndarray) -> tuple[np.ndarray, float]:
    """librosa.filters.wavelet_lengths (gamma 0, filter_scale 1, Hann): lengths and cutoff."""
    q = 1.0 / alpha
    cutoff = float(np.max(freqs * (1 + 0.5 * HANN_BANDWIDTH / q)))
    return q * sr / freqs, cutoff


def _wavelet_basis(freqs: np.ndarray, sr: float, alpha: np.ndarray) -> np.ndarray:
    """librosa.filters.wavelet(norm=1, pad_fft=True): L1-normalised Hann-windowed phasors,
    centred in a power-of-two frame, complex64."""
    lengths, _ = _wavelet_lengths(freqs, sr, alpha)
    size = int(2.0 ** np.ceil(np.log2(np.max(lengths))))
    basis = np.zeros((len(freqs), size), dtype=np.complex64)
    for row, (ilen, freq) in enumerate(zip(lengths, freqs, strict=True)):
        angles = np.arange(-ilen // 2, ilen // 2, dtype=float) * 2 * np.pi * freq / sr
        sig = np.cos(angles) + 1j * np.sin(angles)
        sig *= hann_window(len(sig))
        sig = sig / np.sum(np.abs(sig))
        left = (size - len(sig)) // 2
        basis[row, left:left + len(sig)] = sig
    return basis


def _sparsify_rows(x: np.ndarray, quantile: float) -> np.ndarray:
    """librosa.util.sparsify_rows, kept dense: per row, zero the smallest-magnitude entries
    whose total is below `quantile` of the row's L1 norm."""
    mags = np.abs(x)
    norms = np.sum(mags, axis=1, keepdims=True)
    mag_sort = np.sort(mags, axis=1)
    cumulative = np.cumsum(mag_sort / norms, axis=1)
    idx = np.argmin(cumulative < quantile, axis=1)
    keep = mags >= mag_sort[np.arange(len(x)), idx][:, None]
    return np.where(keep, x, 0).astype(np.complex64)


def _octave_slice(octave: int) -> slice:
    """The 36 bins of an octave, counted down from the top as `vqt` iterates."""
    return slice(N_BINS - BINS_PER_OCTAVE * (octave + 1), N_BINS - BINS_PER_OCTAVE * octave)


@lru_cache(maxsize=8 * N_OCTAVES)
def _octave_basis(sr: float, tuning: float, octave: int, base_sr: float
                  ) -> tuple[np.ndarray, slice, int]:
    """librosa.core.constantq.__vqt_filter_fft for one octave, rescaled as `vqt` does.

    Returns the FFT-domain basis transposed for `frames @ basis` and cut to the band of FFT
    bins where it is non-zero (a third of them; the rest contributes exact zeros), the
    band, and n_fft.
    """
    freqs = _cqt_frequencies(tuning)
    alpha = _relative_bandwidth(freqs)
    sl = _octave_slice(octave)
    basis = _wavelet_basis(freqs[sl], sr, alpha[sl])
    lengths, _ = _wavelet_lengths(freqs[sl], sr, alpha[sl])
    n_fft = basis.shape[1]
    basis *= lengths[:, np.newaxis] / float(n_fft)
    fft_basis = scipy.fft.fft(basis, n=n_fft, axis=1)[:, :n_fft // 2 + 1]
    fft_basis = _sparsify_rows(fft_basis, SPARSITY)
    fft_basis *= np.sqrt(base_sr / sr)
    used = np.flatnonzero(np.any(fft_basis != 0, axis=0))
    band = slice(int(used[0]), int(used[-1]) + 1)
    return np.ascontiguousarray(fft_basis[:, band].T), band, n_fft


def _downsample(y: np.ndarray, factor: int) -> np.ndarray:
    """librosa.resample(orig_sr=factor, target_sr=1, res_type="soxr_hq", fix=True, scale=True)."""
    n_out = int(np.ceil(y.shape[-1] / factor))
    out = soxr.resample(y, factor, 1, quality="soxr_hq")
    if out.shape[-1] > n_out:
        out = out[:n_out]
    elif out.shape[-1] < n_out:
        out = np.pad(out, (0, n_out - out.shape[-1]))
    out /= np.sqrt(1.0 / factor)
    return np.asarray(out, dtype=y.dtype)


def _early_downsample_count(nyquist: float, cutoff: float, hop: int) -> int:
    """librosa.core.constantq.__early_downsample_count."""
    count1 = max(0, int(np.ceil(np.log2(nyquist / cutoff)) - 1) - 1)
    twos = 0
    while hop > 0 and hop % 2 == 0:
        twos += 1
        hop //= 2
    count2 = max(0, twos - N_OCTAVES + 1)
    return min(count1, count2)


def _octave_response(y: np.ndarray, hop: int, basis: tuple[np.ndarray, slice, int]
                     ) -> np.ndarray:
    """librosa.core.constantq.__cqt_response: ones-window STFT projected on the basis
    (36 x frames, complex64).

    As in librosa, the FFT runs in float64 (its "ones" window is float64) and is stored as
    complex64. A float32 FFT would be 10 ms/min faster but its rounding, relative to the
    loudest part of a 2 s bottom-octave frame, reaches 6e-4 after normalisation in quiet
    intros.
    """
    basis_t, band, n_fft = basis
    frames = centred_frames(y, n_fft, hop)
    out = np.empty((frames.shape[0], basis_t.shape[1]), dtype=basis_t.dtype)
    for start in range(0, frames.shape[0], BLOCK_FRAMES):
        block = frames[start:start + BLOCK_FRAMES].astype(np.float64)
        spectrum = scipy.fft.rfft(block, axis=-1)[:, band].astype(basis_t.dtype)
        np.matmul(spectrum, basis_t, out=out[start:start + block.shape[0]])
    return out.T


def cqt_magnitude(y: np.ndarray, sr: float, hop_length: int, tuning: float) -> np.ndarray:
    """|librosa.cqt(y, sr=sr, hop_length=hop_length, n_bins=252, bins_per_octave=36,
    tuning=tuning)|: 252 x T float32, lowest bin first."""
    freqs = _cqt_frequencies(tuning)
    alpha = _relative_bandwidth(freqs)
    _, cutoff = _wavelet_lengths(freqs, sr, alpha)
    if cutoff > sr / 2.0:
        raise ValueError(f"constant-Q basis reaches {cutoff:.0f} Hz, above Nyquist of sr={sr}")
    count = _early_downsample_count(sr / 2.0, cutoff, hop_length)
    sr = float(sr)
    if count > 0:  # __early_downsample
        y = _downsample(y, 2 ** count)
        sr, hop_length = sr / 2 ** count, hop_length // 2 ** count
    lengths, _ = _wavelet_lengths(freqs, sr, alpha)
    octaves, my_y, my_sr, my_hop = [], y, float(sr), hop_length
    for octave in range(N_OCTAVES):
        response = _octave_response(my_y, my_hop, _octave_basis(my_sr, tuning, octave, sr))
        # vqt's scale=True, applied per octave: same arithmetic, half the memory.
        response /= np.sqrt(lengths[_octave_slice(octave)])[:, np.newaxis]
        octaves.append(np.abs(response))
        if my_hop % 2 == 0:
            my_hop //= 2
            my_sr /= 2.0
            my_y = _downsample(my_y, 2)
    # __trim_stack: every octave cut to the shortest; the first (top) octave goes last.
    n_frames = min(m.shape[1] for m in octaves)
    return np.concatenate([m[:, :n_frames] for m in reversed(octaves)], axis=0)


# --- chroma: librosa.feature.chroma_cqt ---------------------------------------------------

@lru_cache(maxsize=1)
def _cq_to_chroma() -> np.ndarray:
    """librosa.filters.cq_to_chroma(252, bins_per_octave=36): each pitch class sums the three
    bins centred on it in every octave (C1-based, so no roll)."""
    block = np.roll(np.repeat(np.eye(N_CHROMA), BINS_PER_OCTAVE // N_CHROMA, axis=1), -1,
                    axis=1)
    midi_0 = np.mod(12 * (np.log2(C1_HZ) - np.log2(440.0)) + 69, 12)
    roll = int(np.round(midi_0 * (N_CHROMA / 12.0)))
    return np.roll(np.tile(block, N_OCTAVES), roll, axis=0).astype(np.float32)


def _normalize_max(chroma: np.ndarray) -> np.ndarray:
    """librosa.util.normalize(norm=inf, axis=-2): divide each frame by its maximum, leaving
    frames whose maximum is below float32's tiny unchanged."""
    length = np.max(np.abs(chroma).astype(float), axis=-2, keepdims=True)
    length[length < np.finfo(chroma.dtype).tiny] = 1.0
    return (chroma / length).astype(chroma.dtype)


def _as_audio(y: np.ndarray) -> np.ndarray:
    """A 1-D floating waveform (float32 stays float32, as librosa keeps the dtype)."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("audio contains NaN or infinite values")
    return y


def chroma_cqt(y: np.ndarray, sr: int = 15360, hop_length: int = 512) -> np.ndarray:
    """librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop_length): 12 x T float32.

    Tuning is estimated from y (`estimate_tuning`), the 252-bin constant-Q magnitude folded
    into pitch classes (negative values clipped, threshold 0), each frame scaled to max 1.
    """
    y = _as_audio(y)
    tuning = estimate_tuning(y, sr)
    magnitude = cqt_magnitude(y, sr, hop_length, tuning)
    chroma = _cq_to_chroma() @ magnitude
    chroma[chroma < 0.0] = 0.0
    return _normalize_max(chroma).astype(np.float32, copy=False)
