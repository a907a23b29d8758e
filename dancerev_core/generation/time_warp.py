"""Piecewise-linear time warps: song time -> motion time, and motion sampled through them.

Shared by the recipe's pairing (real routines warped onto songs' beats, `pairing.warp`) and
generation's beat sync (a generated dance re-timed frame by frame onto its song's beats,
`beat_sync`). A rate that jumps at a kinematic beat (a minimum of speed) drags the minimum off
the beat, so the pairing's warps hold their rate steady around each anchor
(`steady_around_anchors`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE_BOUNDS = (0.75, 4.0 / 3.0)  # motion s per song s: the most re-timing a dance gets
STEADY_SECONDS = 0.15  # rate held constant this long on both sides of an anchor


@dataclass(frozen=True, eq=False)
class Warp:
    """Song time -> motion time through breakpoints (both increasing)."""

    music_times: np.ndarray
    motion_times: np.ndarray
    anchors: int  # kinematic beats the warp puts on musical beats

    @property
    def music_start(self) -> float:
        return float(self.music_times[0])

    @property
    def music_end(self) -> float:
        return float(self.music_times[-1])

    def motion_time(self, music_time: np.ndarray | float) -> np.ndarray:
        return np.interp(music_time, self.music_times, self.motion_times)

    def rates(self) -> np.ndarray:
        """Motion seconds per song second of each span."""
        return np.diff(self.motion_times) / np.diff(self.music_times)

    def spans(self) -> np.ndarray:
        """Song seconds of each span."""
        return np.diff(self.music_times)


def steady_around_anchors(music: np.ndarray, motion: np.ndarray, low: float,
                          high: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep the rate constant for STEADY_SECONDS on both sides of every inner breakpoint.

    A kinematic beat is a minimum of speed; a rate that jumps right at it scales the speed
    differently on its two sides and drags the minimum towards the slower side, off the
    musical beat. Holding one rate (the geometric mean of the two neighbouring spans') around
    the anchor and changing rate between anchors instead keeps the minimum where it was
    put. The span's middle takes up the difference, within the bounds (else a shorter hold).
    """
    if music.size < 3 or STEADY_SECONDS <= 0:
        return music, motion
    secant = np.diff(motion) / np.diff(music)
    steady = np.sqrt(secant[:-1] * secant[1:])  # at inner points 1 .. n-2
    new_music, new_motion = [music[0]], [motion[0]]
    for i in range(music.size - 1):
        span = music[i + 1] - music[i]
        left_rate = steady[i - 1] if i >= 1 else None
        right_rate = steady[i] if i + 1 <= music.size - 2 else None
        h = min(STEADY_SECONDS, span / 4)
        while h > 1e-3:
            left = h if left_rate is not None else 0.0
            right = h if right_rate is not None else 0.0
            middle = (secant[i] * span - left * (left_rate or 0.0)
                      - right * (right_rate or 0.0)) / (span - left - right)
            if low - 1e-9 <= middle <= high + 1e-9:
                break
            h /= 2
        else:
            left = right = 0.0
        if left:
            new_music.append(music[i] + left)
            new_motion.append(motion[i] + left * left_rate)
        if right:
            new_music.append(music[i + 1] - right)
            new_motion.append(motion[i + 1] - right * right_rate)
        new_music.append(music[i + 1])
        new_motion.append(motion[i + 1])
    return np.array(new_music), np.array(new_motion)


def sample_positions(positions: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Positions (T x J x D) at arbitrary instants (seconds), linear between frames, clamped
    at the ends; float64."""
    source = np.asarray(positions, dtype=np.float64)
    u = np.clip(np.asarray(times, dtype=np.float64) * fps, 0, source.shape[0] - 1)
    lower = np.floor(u).astype(np.int64)
    upper = np.minimum(lower + 1, source.shape[0] - 1)
    weight = (u - lower)[:, None, None]
    return source[lower] * (1.0 - weight) + source[upper] * weight
