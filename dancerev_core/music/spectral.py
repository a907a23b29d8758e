"""Short-time Fourier pieces shared by the fast feature path, bit-exact with librosa's.

librosa frames a centred, zero-padded signal, multiplies the float32 frames by a float64
Hann window built the way `scipy.signal.get_window("hann", n)` builds it, and transforms
with `scipy.fft` in float64. Doing the same, in the same dtypes, gives the same numbers,
which is what keeps the beats identical to the reference path.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import scipy.fft

BLOCK_FRAMES = 2048  # frames per FFT block: bounds the float64 work arrays on long songs


@lru_cache(maxsize=16)
def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window, as scipy.signal.get_window("hann", n) computes it."""
    if n <= 1:
        return np.ones(n)
    fac = np.linspace(-np.pi, np.pi, n + 1)
    window = np.zeros(n + 1)
    window += 0.5 * np.cos(0 * fac)
    window += 0.5 * np.cos(1 * fac)
    window = window[:-1]
    window.flags.writeable = False
    return window


def centred_frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Frames of the zero-padded signal as rows (T x n_fft), a view: librosa.stft's frames."""
    padded = np.pad(y, n_fft // 2)
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]


def stft_frames(frames: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """STFT columns (frequencies x frames) of rows taken from `centred_frames`."""
    block = np.multiply(frames, hann_window(frames.shape[1]), dtype=np.float64)
    return scipy.fft.rfft(block, axis=-1).astype(np.result_type(dtype, np.complex64)).T


def stft_blocks(y: np.ndarray, n_fft: int, hop: int) -> Iterator[np.ndarray]:
    """Blocks of `librosa.stft(y, n_fft=n_fft, hop_length=hop)` with frames as rows."""
    frames = centred_frames(y, n_fft, hop)
    window = hann_window(n_fft)
    complex_type = np.result_type(y.dtype, np.complex64)
    for start in range(0, frames.shape[0], BLOCK_FRAMES):
        block = np.multiply(frames[start:start + BLOCK_FRAMES], window, dtype=np.float64)
        yield scipy.fft.rfft(block, axis=-1).astype(complex_type)
