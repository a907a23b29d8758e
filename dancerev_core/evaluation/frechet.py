"""Frechet distance between Gaussians fitted to feature sets, and feature-space diversity."""

from __future__ import annotations

import numpy as np

from ..errors import DanceRevError


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise DanceRevError(f"need at least 2 feature vectors to fit a Gaussian, got "
                            f"shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), as FID computes it."""
    import warnings

    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    difference = mu1 - mu2
    with warnings.catch_warnings():
        # Few samples in many dimensions give singular covariances; the square root of
        # their product is still defined, and the offset below catches the rare failure.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covariance_mean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covariance_mean).all():
            offset = np.eye(sigma1.shape[0]) * 1e-6
            covariance_mean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covariance_mean = np.real(covariance_mean)
    value = difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(
        covariance_mean)
    return float(max(value, 0.0))


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """Frechet distance between two feature sets (rows are samples)."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(generated))


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows (Div_k / Div_g, the paper's diversity)."""
    features = np.asarray(features, dtype=np.float64)
    if features.shape[0] < 2:
        return 0.0
    squared = (features ** 2).sum(axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :]
                                   - 2 * features @ features.T, 0.0))
    count = features.shape[0]
    return float(distances.sum() / (count * (count - 1)))


def normalise_by(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """z-score every set with the reference set's mean and standard deviation."""
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    std[std < 1e-10] = 1.0
    return [(reference - mean) / std] + [(other - mean) / std for other in others]
