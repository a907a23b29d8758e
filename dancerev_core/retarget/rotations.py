"""Rotation arithmetic over arrays: matrices, quaternions (w, x, y, z), Euler angles.

Matrices act on column vectors. Every function works on stacks (any leading shape) so a
whole clip is converted at once.
"""

from __future__ import annotations

import numpy as np

from ..formats.bvh import axis_rotations

AXES = "XYZ"


def unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors scaled to length 1 (zero vectors stay zero instead of becoming NaN)."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norm, 1e-12)


def matrix_to_quaternion(matrices: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to unit quaternions (..., 4) as w, x, y, z, w >= 0.

    Shepperd's method: each quaternion is taken from the largest of its four squared
    components, so precision holds near 180 degrees too.
    """
    m = np.asarray(matrices, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    candidates = np.stack([
        np.stack([1.0 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], axis=-1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1.0 + m00 - m11 - m22,
                  m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], axis=-1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                  1.0 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], axis=-1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                  m[..., 1, 2] + m[..., 2, 1], 1.0 - m00 - m11 + m22], axis=-1),
    ], axis=-2)
    choice = np.argmax(np.stack([trace, m00, m11, m22], axis=-1), axis=-1)
    quaternions = np.take_along_axis(candidates, choice[..., None, None], axis=-2)[..., 0, :]
    quaternions = unit(quaternions)
    return np.where(quaternions[..., :1] < 0, -quaternions, quaternions)


def quaternion_to_matrix(quaternions: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) as w, x, y, z to rotation matrices (..., 3, 3)."""
    w, x, y, z = np.moveaxis(unit(np.asarray(quaternions, dtype=np.float64)), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def continuous_signs(quaternions: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 (time) so consecutive quaternions have a positive dot product.

    q and -q are the same rotation, but keyframe interpolation between q and -q spins the
    long way round; this picks, frame by frame, the sign nearest the previous key.
    """
    q = np.asarray(quaternions, dtype=np.float64)
    if q.shape[0] < 2:
        return q.copy()
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumsum(dots < 0, axis=0) % 2
    signs = np.concatenate([np.ones((1,) + dots.shape[1:]), 1.0 - 2.0 * flips], axis=0)
    return q * signs[..., None]


def matrix_to_euler(matrices: np.ndarray, order: str) -> np.ndarray:
    """Angles (..., 3), radians, with R = R_a(t0) @ R_b(t1) @ R_c(t2) for order "abc".

    `order` names three different axes, e.g. "ZYX" as in a BVH `Zrotation Yrotation
    Xrotation` channel list. At gimbal lock (middle angle +-90 degrees) the last angle is
    set to zero and the first carries the remaining rotation.
    """
    i, j, k = (AXES.index(letter) for letter in order.upper())
    if len({i, j, k}) != 3:
        raise ValueError(f"Euler order {order!r} must name three different axes")
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    m = np.asarray(matrices, dtype=np.float64)
    middle = np.arcsin(np.clip(sign * m[..., i, k], -1.0, 1.0))
    first = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    last = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    locked = np.hypot(m[..., k, k], m[..., j, k]) < 1e-9
    if np.any(locked):
        # R_a(t0) R_b(+-90) collapses t0 and t2 into one angle; with t2 = 0 the j-th column
        # is R_a(t0) e_j = cos(t0) e_j + sign sin(t0) e_k.
        first = np.where(locked, np.arctan2(sign * m[..., k, j], m[..., j, j]), first)
        last = np.where(locked, 0.0, last)
    return np.stack([first, middle, last], axis=-1)


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Inverse of `matrix_to_euler`: R = R_a(t0) @ R_b(t1) @ R_c(t2)."""
    angles = np.asarray(angles, dtype=np.float64)
    result = None
    for position, letter in enumerate(order.upper()):
        rotation = axis_rotations(AXES.index(letter), angles[..., position])
        result = rotation if result is None else result @ rotation
    return result
