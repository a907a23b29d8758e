"""Where a canonical body stands and which way it faces (metres, Z up, front = -Y).

Shared by the data recipe, the evaluation and the generated dances' clean-up, so all three
agree on the floor and the facing. numpy only.
"""

from __future__ import annotations

import numpy as np

from .skeletons import CANONICAL_24

J = {name: index for index, name in enumerate(CANONICAL_24.joint_names)}
FEET = [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]]
FOOT_JOINT_HEIGHT = 0.05  # metres: the foot joints' centres stand this high above the floor
BONE_PARENTS = np.asarray(CANONICAL_24.parents[1:])  # bone b ends at joint b + 1


def soles(positions: np.ndarray) -> np.ndarray:
    """Per frame, the height of the lowest sole (FOOT_JOINT_HEIGHT under the lowest foot
    joint, the recipe's convention for where the training data's feet stand)."""
    return np.asarray(positions, dtype=np.float64)[:, FEET, 2].min(axis=1) - FOOT_JOINT_HEIGHT


def mean_joint_speeds(positions: np.ndarray, fps: float) -> np.ndarray:
    """Per step between frames (T - 1 values), the joints' mean speed (units/s)."""
    steps = np.diff(np.asarray(positions, dtype=np.float64), axis=0)
    return np.linalg.norm(steps, axis=-1).mean(axis=-1) * fps


def fastest_joint_speeds(positions: np.ndarray, fps: float) -> np.ndarray:
    """Per step between frames (T - 1 values), the fastest joint's speed (units/s)."""
    steps = np.diff(np.asarray(positions, dtype=np.float64), axis=0)
    return np.linalg.norm(steps, axis=-1).max(axis=-1) * fps


def bone_lengths(positions: np.ndarray) -> np.ndarray:
    """Lengths (... x 23) of the canonical bones, bone b ending at joint b + 1."""
    positions = np.asarray(positions, dtype=np.float64)
    return np.linalg.norm(positions[..., 1:, :] - positions[..., BONE_PARENTS, :], axis=-1)


def facing(positions: np.ndarray) -> np.ndarray:
    """Per frame, the angle (radians) of the direction the dancer faces, in the floor plane.

    Left side at +x means facing -y: facing = (left - right) x up, from hips and shoulders.
    """
    across = (positions[:, J["left_hip"]] - positions[:, J["right_hip"]]
              + positions[:, J["left_shoulder"]] - positions[:, J["right_shoulder"]])
    return np.arctan2(-across[:, 0], across[:, 1])


def rotate_yaw(positions: np.ndarray, angle: float, centre: np.ndarray) -> np.ndarray:
    """Positions turned by `angle` radians about the vertical axis through `centre` (x, y)."""
    cos, sin = np.cos(angle), np.sin(angle)
    out = positions.astype(np.float64).copy()
    x, y = out[..., 0] - centre[0], out[..., 1] - centre[1]
    out[..., 0] = centre[0] + cos * x - sin * y
    out[..., 1] = centre[1] + sin * x + cos * y
    return out
