"""Kinematic beats and how well they meet the music's beats.

A kinematic beat is a local minimum of the dancer's speed: a sharp deceleration, where a
move lands. Speed is the mean over joints of each joint's speed (units per second), smoothed
with a Gaussian of `sigma` seconds (default 1/12 s: Bailando's 5 frames at 60 fps). A
dancer standing still has no minima at all, only a flat line, so a frozen dance has no
kinematic beats. Working in seconds makes the beats the
same whatever the motion's frame rate.

Two scores use them:
- beat coverage and beat hit rate (Lee et al., NeurIPS 2019, as the paper uses them):
  coverage = kinematic beats / musical beats; hit rate = kinematic beats within
  `tolerance` seconds of a musical beat / kinematic beats. The paper does not publish its
  tolerance; DanceRev's default is `DEFAULT_TOLERANCE` and every result states it.
- the beat-align score (Bailando, CVPR 2022): for every musical beat,
  exp(-d^2 / (2 * 3^2)) with d the distance in frames to the nearest kinematic beat,
  averaged; it depends on the frame rate, which is reported with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body_frame import mean_joint_speeds

DEFAULT_TOLERANCE = 0.1  # seconds: within 1.5 frames at 15 fps, 3 frames at 30 fps
DEFAULT_SIGMA = 1 / 12  # seconds of Gaussian smoothing of the speed curve
MIN_PROMINENCE = 1e-3  # share of the top speed a dip must have to count
ALIGN_SIGMA_FRAMES = 3.0  # Bailando's beat-align score
ALIGN_SMOOTHING_FRAMES = 5.0


def gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """1-D Gaussian smoothing with mirrored edges (scipy.ndimage.gaussian_filter1d)."""
    if sigma <= 0:
        return values.astype(np.float64)
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(values.astype(np.float64), sigma, mode="reflect")


def speed_curve(positions: np.ndarray, fps: float, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """Mean joint speed between frames (T - 1 values, units/s), smoothed by `sigma` seconds."""
    if np.shape(positions)[0] < 2:
        return np.zeros(0)
    return gaussian_smooth(mean_joint_speeds(positions, fps), sigma * fps)


def kinematic_beats(positions: np.ndarray, fps: float, sigma: float = DEFAULT_SIGMA,
                    min_prominence: float = MIN_PROMINENCE) -> np.ndarray:
    """Frames (indices into the motion) where the smoothed speed has a local minimum.

    A flat-bottomed minimum counts once, at its middle; a dip shallower than
    `min_prominence` of the fastest speed is numerical noise, not a beat.
    """
    from scipy.signal import find_peaks

    speed = speed_curve(positions, fps, sigma)
    if speed.size < 3:
        return np.zeros(0, dtype=np.int64)
    scale = float(np.abs(speed).max())
    if scale <= 0:
        return np.zeros(0, dtype=np.int64)
    minima, _ = find_peaks(-speed, prominence=min_prominence * scale)
    # Speed sample i lies between frames i and i + 1: the beat is the later frame, where the
    # deceleration ends.
    return minima.astype(np.int64) + 1


@dataclass(frozen=True)
class BeatScores:
    coverage: float
    hit_rate: float
    kinematic_beats: int
    musical_beats: int
    tolerance: float

    def as_dict(self) -> dict:
        return {"beat_coverage": self.coverage, "beat_hit_rate": self.hit_rate,
                "kinematic_beats": self.kinematic_beats, "musical_beats": self.musical_beats,
                "tolerance_seconds": self.tolerance}


def beat_scores(kinematic_times: np.ndarray, musical_times: np.ndarray,
                tolerance: float = DEFAULT_TOLERANCE) -> BeatScores:
    """Coverage and hit rate of kinematic beats (seconds) against musical beats (seconds)."""
    kinematic_times = np.asarray(kinematic_times, dtype=np.float64)
    musical_times = np.asarray(musical_times, dtype=np.float64)
    coverage = kinematic_times.size / musical_times.size if musical_times.size else 0.0
    if kinematic_times.size and musical_times.size:
        distance = np.abs(kinematic_times[:, None] - musical_times[None, :]).min(axis=1)
        hit_rate = float((distance <= tolerance + 1e-9).mean())
    else:
        hit_rate = 0.0
    return BeatScores(coverage=float(coverage), hit_rate=hit_rate,
                      kinematic_beats=int(kinematic_times.size),
                      musical_beats=int(musical_times.size), tolerance=tolerance)


def beat_align_kinematic_frames(positions: np.ndarray, fps: float) -> np.ndarray:
    """Bailando's kinematic beats: local minima of mean joint speed smoothed by 5 frames."""
    speed = speed_curve(positions, fps, ALIGN_SMOOTHING_FRAMES / fps)
    if speed.size < 3:
        return np.zeros(0, dtype=np.int64)
    inner = speed[1:-1]
    return np.flatnonzero((inner < speed[:-2]) & (inner < speed[2:])) + 1


def beat_align_score(musical_frames: np.ndarray, kinematic_frames: np.ndarray,
                     sigma_frames: float = ALIGN_SIGMA_FRAMES) -> float:
    """Bailando's beat-align score; both beat lists in frames of the same frame rate."""
    musical_frames = np.asarray(musical_frames, dtype=np.float64)
    kinematic_frames = np.asarray(kinematic_frames, dtype=np.float64)
    if musical_frames.size == 0:
        return 0.0
    if kinematic_frames.size == 0:
        return 0.0
    distance = np.abs(musical_frames[:, None] - kinematic_frames[None, :]).min(axis=1)
    return float(np.exp(-distance ** 2 / (2 * sigma_frames ** 2)).mean())
