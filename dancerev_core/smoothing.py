"""Gaussian smoothing over time for joint arrays (retargeting, lifting).

Written out rather than scipy's `gaussian_filter1d` so that numpy alone suffices (these run
inside Blender's Python): taps to 3 sigma, edges mirrored without repeating the edge frame.
"""

from __future__ import annotations

import numpy as np


def smooth_over_time(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over axis 0 (sigma in frames); sigma <= 0 returns the input."""
    if sigma <= 0 or values.shape[0] < 3:
        return values
    radius = max(1, min(int(np.ceil(3 * sigma)), values.shape[0] - 1))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.concatenate([values[radius:0:-1], values, values[-2:-radius - 2:-1]], axis=0)
    out = np.zeros(values.shape, dtype=np.float64)
    for offset, weight in enumerate(taps):
        out += weight * padded[offset:offset + values.shape[0]]
    return out
