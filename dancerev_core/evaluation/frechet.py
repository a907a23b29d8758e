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
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), as FID computes it.

    Tr((S1 S2)^1/2) is the sum of the square roots of the eigenvalues of S1^1/2 S2 S1^1/2, a
    symmetric positive semi-definite matrix, so two `eigh` calls give it: 0.02 s for
    200-dimensional features where scipy's `sqrtm` takes over a second (scipy 1.17), and it
    stays defined for the singular covariances that few samples give.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    values, vectors = np.linalg.eigh(sigma1)
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root @ sigma2 @ root
    eigen = np.linalg.eigvalsh((product + product.T) / 2)
    difference = mu1 - mu2
    value = (difference @ difference + np.trace(sigma1) + np.trace(sigma2)
             - 2 * np.sqrt(np.clip(eigen, 0.0, None)).sum())
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
