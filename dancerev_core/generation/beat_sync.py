"""Beat sync: a generated dance re-timed, frame by frame, so that its accents land on the beats.

The model hears the beat but places its accents loosely: about 40 % of its kinematic beats
(speed minima, `evaluation.beats`) fall within 0.1 s of a musical beat, as for the real
routines before the recipe warped them onto their songs (43 %). Moving each accent onto its
nearest beat (the first version of this module) reached only about 62 %: a third of the
model's accents sit 0.5-0.9 or 1.4-1.6 beats apart, which no steady rate can fit, and the
accents that cannot be moved stay off the beat.

So beat sync re-times the whole speed curve instead. It chooses a playback rate for every
frame (motion frames per song frame) so that the dance slows into every musical beat and
speeds up out of it: the speed falls over the half beat before each beat and rises over the
half beat after. A shallow hesitation between beats is played through by speeding up a
little; a move that lands near a beat is eased onto it. A dance that already does this
keeps its timing to within a frame or two (the search prefers rate 1). Dynamic programming
over (drift, rate) states finds the cheapest rate curve; the cost counts every rise of speed
before a beat and every fall after it (in log speed, so slow and fast passages weigh
alike), plus a little for playing away from rate 1 and for changing rate.

What it may not do, so the dance stays the model's and stays human:
- play faster or slower than `RATE_BOUNDS` anywhere (the recipe's bounds: no more re-timing
  than the training routines got), nor change rate by more than `MAX_RATE_CHANGE` per second;
- drift from the model's timing by more than `MAX_SHIFT` seconds (nor half a beat), so the
  dance stays with the music the model heard and no move swaps places with another;
- change the length: the first and last frames stay where they are, in sync with the song;
- make any joint faster than the dance's own fastest step.
A song without beats, a dance standing still, or a dance too short to re-time is returned
unchanged.

The search sees frame-to-frame speed; the accents `evaluation.beats` finds are minima of the
smoothed speed and can land a frame or two from where the search aimed (most of its misses
were 0.10-0.13 s off a beat). `sync_to_beats` therefore checks its result and re-aims at
narrowly missed beats, up to REFINE_PASSES searches, keeping the best. Each search is one
numpy pass over the frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..body_frame import fastest_joint_speeds, mean_joint_speeds
from ..evaluation.beats import DEFAULT_TOLERANCE, beat_scores, kinematic_beats
from .time_warp import RATE_BOUNDS, Warp, sample_positions

MAX_SHIFT = 0.3  # seconds the dance may drift from the model's timing
MAX_SHIFT_BEATS = 0.5  # ... and at most this share of the median beat interval
MAX_RATE_CHANGE = 3.75  # rate units per second: from 0.75x to 1.33x takes 0.15 s or more
GRID = 12  # motion positions per frame the search works on; rates are multiples of 1/GRID
RATE_COST = 0.05  # per frame, times log(rate)^2: prefer the model's own timing
CHANGE_COST = 0.5  # per frame, times (change of log rate)^2: prefer steady rates
REFINE_PASSES = 3  # searches per dance: the first, then re-aimed at narrowly missed beats
RETARGET_REACH = 0.2  # seconds: a miss this close is re-aimed at; a farther one is let go


@dataclass(frozen=True)
class BeatSync:
    """What beat sync did to one dance: its warp (song time -> motion time, one breakpoint
    per frame; `warp.anchors` = accents on a beat afterwards) and the accents before/after."""

    warp: Warp
    kinematic_beats: int  # accents of the model's timing
    on_beat_before: int  # ... within the evaluation's tolerance of a beat
    kinematic_beats_after: int
    musical_beats: int

    @property
    def on_beat_after(self) -> int:
        return self.warp.anchors

    def summary(self) -> dict:
        rates = self.warp.rates()
        drift = np.abs(self.warp.motion_times - self.warp.music_times)
        return {"kinematic_beats": self.kinematic_beats, "on_beat_before": self.on_beat_before,
                "kinematic_beats_after": self.kinematic_beats_after,
                "on_beat_after": self.on_beat_after, "musical_beats": self.musical_beats,
                "rate_min": round(float(rates.min()), 4),
                "rate_max": round(float(rates.max()), 4),
                "largest_shift_seconds": round(float(drift.max()), 4)}


def fit_beat_sync(step_speeds: np.ndarray, fastest_steps: np.ndarray, beat_times: np.ndarray,
                  fps: float, rate_bounds: tuple[float, float] = RATE_BOUNDS,
                  max_shift: float = MAX_SHIFT) -> np.ndarray:
    """Motion time (in frames, one per frame) to show at each frame of the song.

    `step_speeds` are the T - 1 mean joint speeds between frames (any unit), `fastest_steps`
    the fastest joint's; `beat_times` in seconds from frame 0. Returns `arange(T)` (no
    change) when there is nothing to do or no re-timing fits the limits.
    """
    speeds = np.asarray(step_speeds, dtype=np.float64)
    frames = speeds.size + 1
    identity = np.arange(frames, dtype=np.float64)
    beats = np.sort(np.asarray(beat_times, dtype=np.float64)) * fps
    beats = beats[(beats >= 0) & (beats <= frames - 1)]
    top = float(speeds.max()) if speeds.size else 0.0
    if frames < 4 or beats.size == 0 or top <= 0:
        return identity
    if beats.size > 1:
        max_shift = min(max_shift, MAX_SHIFT_BEATS * float(np.median(np.diff(beats))) / fps)
    low, high = rate_bounds
    rates = np.arange(math.ceil(low * GRID - 1e-9), math.floor(high * GRID + 1e-9) + 1)
    log_rates = np.log(rates / GRID)
    reach = int(round(max_shift * fps * GRID))  # drift states -reach .. reach, in 1/GRID frame
    drifts = np.arange(-reach, reach + 1)
    max_step = max(1, math.floor(MAX_RATE_CHANGE / fps * GRID + 1e-9))
    too_sudden = np.abs(rates[:, None] - rates[None, :]) > max_step  # [new rate, old rate]
    # per frame, for [new rate, old rate]: the rate change and the new rate's distance from 1
    step_cost = (CHANGE_COST * (log_rates[:, None] - log_rates[None, :]) ** 2
                 + RATE_COST * log_rates[:, None] ** 2)
    step_cost[too_sudden] = np.inf
    before = drifts[:, None] - (rates[None, :] - GRID) + reach  # predecessor's drift index
    inside = (before >= 0) & (before < drifts.size)
    before = np.clip(before, 0, drifts.size - 1)
    log_speed = np.log(np.maximum(speeds, 1e-6 * top))
    fastest = np.asarray(fastest_steps, dtype=np.float64)
    cap = fastest.max() / np.maximum(fastest, 1e-12 * max(fastest.max(), 1e-12))
    centers = np.arange(speeds.size) + 0.5  # step i lies between frames i and i + 1
    # The step into frame t has its speed minimum on the beat when t is the frame nearest to
    # it (evaluation.beats puts a kinematic beat on the later frame of its slowest step).
    nearest = beats[np.abs(beats[None, :] - (np.arange(frames)[:, None] - 0.5)).argmin(axis=1)]

    # Everything that does not depend on the search, for all frames at once (one interp
    # each instead of two per frame: the loop below is what a dance's beat sync costs).
    position = (np.arange(frames)[:, None, None] + drifts[None, :, None] / GRID)  # [t, d, 1]
    middle = position - rates[None, None, :] / GRID / 2  # [t, drift, rate]
    step_log_speeds = np.interp(middle, centers, log_speed) + log_rates[None, None, :]
    allowed_all = (inside[None] & (position >= 0) & (position <= frames - 1)
                   & (rates[None, None, :] / GRID <= np.interp(middle, centers, cap) + 1e-9))
    approaching_all = np.arange(frames) - 0.5 < nearest

    cost = np.full((drifts.size, rates.size), np.inf)
    cost[reach, :] = 0.0  # frame 0 shows motion frame 0; no rate yet, so no change cost
    came_from = np.zeros((frames, drifts.size, rates.size), dtype=np.int8)
    step_cost = step_cost[None, :, :]
    for t in range(1, frames):
        total = cost[before] + step_cost  # [drift, new rate, old rate]
        if t > 1:
            rise = step_log_speeds[t][:, :, None] - step_log_speeds[t - 1][before]
            if not approaching_all[t]:
                rise = np.negative(rise, out=rise)
            total += np.maximum(rise, 0.0, out=rise)
        best = total.argmin(axis=2)
        cost = total.min(axis=2)
        cost[~allowed_all[t]] = np.inf
        came_from[t] = best
    rate = int(cost[reach].argmin())
    if not np.isfinite(cost[reach, rate]):
        return identity
    motion = np.empty(frames)
    drift = 0
    for t in range(frames - 1, 0, -1):
        motion[t] = t + drift / GRID
        previous_rate = int(came_from[t, drift + reach, rate])
        drift -= int(rates[rate]) - GRID
        rate = previous_rate
    motion[0] = 0.0
    return motion


def sync_to_beats(positions: np.ndarray, fps: float, beat_times: np.ndarray
                  ) -> tuple[np.ndarray, BeatSync]:
    """A dance (T x J x D absolute positions at `fps`, frame 0 at song time 0 of
    `beat_times`) re-timed onto the beats: same frame count, float64.

    The search works on the frame-to-frame speed; the accents a viewer (and
    `evaluation.beats`) sees are minima of the smoothed speed, which can sit a frame or two
    from where the search put them. So the result is checked: a beat whose nearest accent
    misses it by a little (up to RETARGET_REACH) is aimed at from the other side in another
    pass, up to REFINE_PASSES in all, and the pass with the most accents on the beat wins.
    """
    positions = np.asarray(positions, dtype=np.float64)
    frames = positions.shape[0]
    musical = np.sort(np.asarray(beat_times, dtype=np.float64))
    musical = musical[(musical >= 0) & (musical <= (frames - 1) / fps)]
    steps = mean_joint_speeds(positions, fps)
    fastest = fastest_joint_speeds(positions, fps)
    before = _accents(positions, fps, musical)
    targets, best = musical, None
    for _ in range(REFINE_PASSES):
        motion = fit_beat_sync(steps, fastest, targets, fps)
        synced = positions if np.array_equal(motion, np.arange(frames)) else sample_positions(
            positions, fps, motion / fps)
        accents = _accents(synced, fps, musical)
        if best is None or accents.share > best[2].share:
            best = (motion, synced, accents)
        targets = _retargeted(targets, musical, accents.times)
        if targets is None:
            break
    motion, synced, after = best
    times = np.arange(frames) / fps
    report = BeatSync(Warp(times, motion / fps, anchors=after.on_beat),
                      kinematic_beats=before.times.size, on_beat_before=before.on_beat,
                      kinematic_beats_after=after.times.size, musical_beats=int(musical.size))
    return synced, report


@dataclass(frozen=True)
class _Accents:
    times: np.ndarray  # kinematic beats, seconds
    on_beat: int  # ... within the evaluation's tolerance of a musical beat

    @property
    def share(self) -> float:
        return self.on_beat / self.times.size if self.times.size else 0.0


def _accents(positions: np.ndarray, fps: float, musical: np.ndarray) -> _Accents:
    kinematic = kinematic_beats(positions, fps) / fps
    scores = beat_scores(kinematic, musical, DEFAULT_TOLERANCE)
    return _Accents(kinematic, int(round(scores.hit_rate * kinematic.size)))


def _retargeted(targets: np.ndarray, musical: np.ndarray,
                kinematic: np.ndarray) -> np.ndarray | None:
    """Targets moved against each narrow miss (a beat whose nearest accent is off by more
    than the tolerance and at most RETARGET_REACH); None when there is none."""
    if kinematic.size == 0 or musical.size == 0:
        return None
    error = kinematic[np.abs(musical[:, None] - kinematic[None, :]).argmin(axis=1)] - musical
    narrow = (np.abs(error) > DEFAULT_TOLERANCE + 1e-9) & (np.abs(error) <= RETARGET_REACH)
    if not narrow.any():
        return None
    return np.sort(targets - np.where(narrow, error, 0.0))
