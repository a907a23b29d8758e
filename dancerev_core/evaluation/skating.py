"""Foot skating: how fast a foot slides while it stands on the floor (issue 18).

A real dancer's foot on the floor stays put, or pivots and slides a little; a model that
writes joint positions frame by frame lets it glide. The figure: each foot joint (the
canonical ankles and toes) is in contact in a frame when it is within CONTACT_HEIGHT of the
floor, the floor being the FLOOR_PERCENTILE-th percentile of the foot joints' heights over
the dance (so it needs no absolute floor and ignores a few sunken frames); a contact step is
a pair of consecutive frames with the joint in contact in both, and its speed the joint's
horizontal speed over that step. The figure is the mean over all contact steps of all four
joints, m/s. Also reported: the deepest sole below z = 0 (`body_frame.soles`), since a
fix for skating must not push the feet into the floor. numpy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..body_frame import FEET, soles

CONTACT_HEIGHT = 0.05  # metres above the floor: a foot joint this low is on the floor
FLOOR_PERCENTILE = 5.0  # the floor: this percentile of the foot joints' heights


@dataclass(frozen=True)
class SkatingFigure:
    """Mean horizontal speed (m/s) of foot joints over contact steps, how many steps there
    were, and the deepest sole below z = 0 (m, >= 0)."""

    mean_speed: float
    contact_steps: int
    deepest_sole: float

    def as_dict(self) -> dict:
        return asdict(self)


def foot_contacts(positions: np.ndarray) -> np.ndarray:
    """(T x 4) whether each foot joint (`body_frame.FEET`) is within CONTACT_HEIGHT of the
    dance's floor (the FLOOR_PERCENTILE of all foot joint heights)."""
    heights = np.asarray(positions, dtype=np.float64)[:, FEET, 2]
    floor = np.percentile(heights, FLOOR_PERCENTILE)
    return heights - floor < CONTACT_HEIGHT


def contact_step_speeds(positions: np.ndarray, fps: float) -> np.ndarray:
    """The horizontal speeds (m/s) of every contact step of every foot joint, flat."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape[0] < 2:
        return np.zeros(0)
    contact = foot_contacts(positions)
    both = contact[1:] & contact[:-1]
    speeds = np.linalg.norm(np.diff(positions[:, FEET, :2], axis=0), axis=-1) * fps
    return speeds[both]


def foot_skating(positions: np.ndarray, fps: float) -> SkatingFigure:
    """The skating figure of absolute canonical24 positions (T x 24 x 3, metres, Z up).

    A dance without contact steps (all in the air, or one frame) scores 0 m/s with 0 steps.
    """
    positions = np.asarray(positions, dtype=np.float64)
    speeds = contact_step_speeds(positions, fps)
    deepest = float(max(0.0, -soles(positions).min())) if len(positions) else 0.0
    return SkatingFigure(mean_speed=float(speeds.mean()) if speeds.size else 0.0,
                         contact_steps=int(speeds.size), deepest_sole=deepest)


def pooled_skating(dances: list[np.ndarray], fps: float | list[float]) -> SkatingFigure:
    """The figure over several dances: the mean over all their contact steps together, the
    deepest sole of any."""
    rates = fps if isinstance(fps, list) else [fps] * len(dances)
    speeds = [contact_step_speeds(d, r) for d, r in zip(dances, rates, strict=True)]
    flat = np.concatenate(speeds) if speeds else np.zeros(0)
    deepest = max((foot_skating(d, r).deepest_sole for d, r in zip(dances, rates, strict=True)),
                  default=0.0)
    return SkatingFigure(mean_speed=float(flat.mean()) if flat.size else 0.0,
                         contact_steps=int(flat.size), deepest_sole=deepest)
