"""Lifting errors as the literature reports them: MPJPE and PA-MPJPE, in millimetres.

MPJPE: mean Euclidean distance over joints and frames after both poses are moved so their
roots (pelvis) coincide. PA-MPJPE: the same after each predicted frame is aligned to the
truth by the best similarity transform (rotation, uniform scale, translation; Procrustes),
which leaves only the pose's shape. All 24 canonical joints count (the root too, so the two
are comparable with Human3.6M-style 17-joint figures only roughly).
"""

from __future__ import annotations

import numpy as np


def mpjpe(predicted: np.ndarray, truth: np.ndarray, root: int = 0) -> float:
    """Root-aligned mean per-joint position error in mm (inputs T x J x 3, metres)."""
    predicted = predicted - predicted[:, root:root + 1]
    truth = truth - truth[:, root:root + 1]
    return float(np.linalg.norm(predicted - truth, axis=-1).mean() * 1000.0)


def procrustes_align(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each predicted frame (T x J x 3) under the similarity transform closest to truth."""
    mu_p = predicted.mean(axis=1, keepdims=True)
    mu_t = truth.mean(axis=1, keepdims=True)
    p, t = predicted - mu_p, truth - mu_t
    u, sigma, vt = np.linalg.svd(np.einsum("tji,tjk->tik", p, t))
    sign = np.sign(np.linalg.det(np.einsum("tij,tjk->tik", u, vt)))
    sigma[:, -1] *= sign
    u[:, :, -1] *= sign[:, None]
    rotation = np.einsum("tij,tjk->tik", u, vt)  # p @ rotation ~ t
    scale = sigma.sum(axis=1) / np.maximum((p ** 2).sum(axis=(1, 2)), 1e-12)
    return scale[:, None, None] * np.einsum("tji,tik->tjk", p, rotation) + mu_t


def pa_mpjpe(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Procrustes-aligned mean per-joint position error in mm."""
    aligned = procrustes_align(np.asarray(predicted, np.float64), np.asarray(truth, np.float64))
    return float(np.linalg.norm(aligned - truth, axis=-1).mean() * 1000.0)
