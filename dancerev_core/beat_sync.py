"""Beat sync: a generated dance re-timed by a little so that its accents land on the beats.

The model hears the beat but places its accents loosely: about 41 % of its kinematic beats
(speed minima, `evaluation.beats`) fall within 0.1 s of a musical beat, as for the real
routines before the recipe warped them onto their songs (43 %). Beat sync applies the
recipe's idea to the output: each kinematic beat may be matched to a musical beat near it,
and the dance is re-timed by a piecewise-linear warp through those matches ("anchors").

What it may not do, so the dance stays the model's and stays human:
- move a kinematic beat by more than `MAX_SHIFT` seconds (nor by more than
  `MAX_SHIFT_BEATS` of a beat interval), so it never swaps one accent for another;
- change the length: the first and last frames stay where they are, in sync with the song;
- play faster or slower than `RATE_BOUNDS` anywhere (the recipe's bounds: no more re-timing
  than the training routines got), hold its rate steady around anchors
  (`time_warp.steady_around_anchors`), and make no joint faster than the dance's own fastest
  moment (no frame-to-frame jump larger than the model made).
Anchors are chosen by dynamic programming (most anchors, rates near 1 preferred); a dance
whose song has no beats, or no beat near any accent, is returned unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .body_frame import fastest_joint_speeds
from .evaluation.beats import kinematic_beats
from .time_warp import RATE_BOUNDS, Warp, sample_positions, steady_around_anchors

MAX_SHIFT = 0.3  # seconds a kinematic beat may move
MAX_SHIFT_BEATS = 0.5  # ... and at most this share of the median beat interval
RATE_COST = 0.3  # an anchor reached at a rate bound is worth 0.7 of one reached at rate 1
LOOK_BACK = 12  # predecessors considered per anchor candidate (a chain moves forward)
MIN_GAP = 1e-3  # seconds between consecutive breakpoints


@dataclass(frozen=True)
class BeatSync:
    """What beat sync did to one dance."""

    warp: Warp
    kinematic_beats: int
    musical_beats: int

    @property
    def anchors(self) -> int:
        return self.warp.anchors

    def summary(self) -> dict:
        rates = self.warp.rates()
        return {"anchors": self.anchors, "kinematic_beats": self.kinematic_beats,
                "musical_beats": self.musical_beats,
                "rate_min": round(float(rates.min()), 4),
                "rate_max": round(float(rates.max()), 4)}


def fit_beat_sync(kinematic: np.ndarray, musical: np.ndarray, duration: float,
                  step_speeds: np.ndarray | None = None, fps: float | None = None,
                  rate_bounds: tuple[float, float] = RATE_BOUNDS,
                  max_shift: float = MAX_SHIFT) -> Warp:
    """The warp (song time -> motion time, both from 0 to `duration`) putting as many
    kinematic beats (seconds) as it can onto musical beats (seconds), within the limits.

    `step_speeds` (T - 1 fastest-joint speeds at `fps`) caps each span's rate so no joint
    goes faster than the dance's fastest step; without it only `rate_bounds` apply.
    """
    low, high = rate_bounds
    k = np.sort(np.asarray(kinematic, dtype=np.float64))
    b = np.sort(np.asarray(musical, dtype=np.float64))
    k = k[(k > MIN_GAP) & (k < duration - MIN_GAP)]
    b = b[(b > MIN_GAP) & (b < duration - MIN_GAP)]
    identity = Warp(np.array([0.0, duration]), np.array([0.0, duration]), anchors=0)
    if k.size == 0 or b.size == 0 or duration <= 0:
        return identity
    if b.size > 1:
        max_shift = min(max_shift, MAX_SHIFT_BEATS * float(np.median(np.diff(b))))
    pairs = np.argwhere(np.abs(k[:, None] - b[None, :]) <= max_shift)
    motion = np.concatenate([[0.0], k[pairs[:, 0]], [duration]])
    music = np.concatenate([[0.0], b[pairs[:, 1]], [duration]])
    order = np.lexsort((music, motion))
    motion, music = motion[order], music[order]
    cap = _span_rate_cap(step_speeds, fps, high)

    count = motion.size
    score = np.full(count, -np.inf)
    back = np.full(count, -1, dtype=np.int64)
    score[0] = 0.0
    log_high = math.log(high)
    for n in range(1, count):
        candidates = set(range(max(0, n - LOOK_BACK), n)) | {0}
        for p in candidates:
            if not np.isfinite(score[p]):
                continue
            d_motion, d_music = motion[n] - motion[p], music[n] - music[p]
            if d_motion < MIN_GAP or d_music < MIN_GAP:
                continue
            rate = d_motion / d_music
            if not low <= rate <= min(high, cap(motion[p], motion[n])):
                continue
            gain = 0.0 if n == count - 1 else 1.0 - RATE_COST * abs(math.log(rate)) / log_high
            if score[p] + gain > score[n]:
                score[n], back[n] = score[p] + gain, p
    if not np.isfinite(score[-1]):
        return identity
    path = [count - 1]
    while back[path[-1]] >= 0:
        path.append(int(back[path[-1]]))
    path = path[::-1]
    music_times, motion_times = steady_around_anchors(music[path], motion[path], low, high)
    return Warp(music_times, motion_times, anchors=len(path) - 2)


def _span_rate_cap(step_speeds: np.ndarray | None, fps: float | None, high: float):
    """cap(t0, t1): the highest rate at which motion seconds t0..t1 stay within the dance's
    fastest step."""
    if step_speeds is None or fps is None or step_speeds.size == 0:
        return lambda _start, _end: high
    fastest = float(step_speeds.max())
    if fastest <= 0:
        return lambda _start, _end: high

    def cap(start: float, end: float) -> float:
        first = max(0, int(math.floor(start * fps)) - 1)
        last = min(step_speeds.size, int(math.ceil(end * fps)) + 1)
        local = float(step_speeds[first:last].max()) if last > first else 0.0
        return high if local <= 0 else fastest / local

    return cap


def sync_to_beats(positions: np.ndarray, fps: float, beat_times: np.ndarray
                  ) -> tuple[np.ndarray, BeatSync]:
    """A dance (T x J x D absolute positions at `fps`, frame 0 at song time 0 of
    `beat_times`) re-timed onto the beats: same frame count, float64."""
    positions = np.asarray(positions, dtype=np.float64)
    frames = positions.shape[0]
    duration = (frames - 1) / fps
    kinematic = kinematic_beats(positions, fps) / fps
    musical = np.asarray(beat_times, dtype=np.float64)
    warp = fit_beat_sync(kinematic, musical, duration, fastest_joint_speeds(positions, fps), fps)
    report = BeatSync(warp, kinematic_beats=int(kinematic.size),
                      musical_beats=int(((musical >= 0) & (musical <= duration)).sum()))
    if warp.anchors == 0:
        return positions, report
    times = np.arange(frames) / fps
    return sample_positions(positions, fps, warp.motion_time(times)), report
