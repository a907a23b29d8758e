"""Time-warp a dance so that its kinematic beats land on a song's musical beats.

The warp is a piecewise-linear, increasing map from song time to motion time whose
breakpoints are "anchors": a kinematic beat placed exactly on a musical beat. Between two
anchors the motion plays at one rate (motion seconds per song second) within
`rate_bounds` (default 0.75-1.33x, so that the dance stays human); rates change only at
kinematic beats, where the dancer is slowest, so the change is hardly visible.

Which kinematic beat goes to which musical beat is chosen by dynamic programming over
beat correspondences (as in dynamic time warping, but over beat events): a chain of anchors
(i1 < i2 < ..., j1 < j2 < ...) scores one point per anchor, one per skipped kinematic beat
that still lands within `match_tolerance` of a musical beat, minus costs for playing away
from natural speed and for changing rate between neighbouring spans. Skipping musical
beats is free (dancers do not move on every beat); skipping kinematic beats costs their
hit. The motion before the first and after the last anchor keeps the neighbouring rate.
"""

from __future__ import annotations

import math

import numpy as np

from ...generation.time_warp import RATE_BOUNDS, Warp, sample_positions, steady_around_anchors
from ...motion import Motion

MATCH_TOLERANCE = 0.05  # s; tighter than evaluation's 0.1 s so hits survive resampling
RATE_COST = 0.15  # per kinematic interval at the rate bound, in anchor points
CHANGE_COST = 0.1  # per kinematic interval for a rate change the size of the bound
LANDING_WORTH = 0.95  # a skipped beat landing near a beat: a little less than an anchor
MAX_KINEMATIC_STEP = 3  # an anchor may skip up to 2 kinematic beats
MAX_MUSICAL_STEP = 6  # and up to 5 musical beats
LOST_BEATS_PER_SECOND = 1.5  # cost of motion cut off because the song ends


def fit_warp(kinematic: np.ndarray, musical: np.ndarray, motion_seconds: float,
             song_seconds: float, rate_bounds: tuple[float, float] = RATE_BOUNDS,
             match_tolerance: float = MATCH_TOLERANCE) -> Warp:
    """The best warp of a motion (kinematic beats, seconds) onto a song (musical beats).

    The motion may start anywhere in the song but must fit after its start at the fastest
    allowed rate; if the song ends first, the motion's tail is cut (and that costs).
    """
    low, high = rate_bounds
    if not 0 < low <= 1.0 <= high:
        raise ValueError(f"rate bounds must bracket 1, got {rate_bounds}")
    k = np.asarray(kinematic, dtype=np.float64)
    b = np.asarray(musical, dtype=np.float64)
    k = k[(k >= 0) & (k <= motion_seconds)]
    b = b[(b >= 0) & (b <= song_seconds)]
    chain = _best_chain(k, b, motion_seconds, song_seconds, low, high, match_tolerance)
    if not chain:
        return unwarped(motion_seconds, song_seconds)
    return _breakpoints([k[i] for i, _ in chain], [b[j] for _, j in chain], motion_seconds,
                        song_seconds, low, high)


def unwarped(motion_seconds: float, song_seconds: float) -> Warp:
    """The motion at its own timing from the song's start, cut where either ends."""
    end = min(motion_seconds, song_seconds)
    return Warp(np.array([0.0, end]), np.array([0.0, end]), anchors=0)


def _best_chain(k: np.ndarray, b: np.ndarray, motion_seconds: float, song_seconds: float,
                low: float, high: float, tolerance: float) -> list[tuple[int, int]]:
    m, n = k.size, b.size
    if m == 0 or n == 0:
        return []
    log_high = math.log(high)
    score = np.full((m, n), -np.inf)
    rate_in = np.full((m, n), np.nan)
    back = np.full((m, n, 2), -1, dtype=np.int64)
    # A chain may start at (i, j) when the motion before beat i fits before beat j.
    starts = b[None, :] >= k[:, None] / high - 1e-9
    score[starts] = 1.0
    for i in range(1, m):
        for di in range(1, min(MAX_KINEMATIC_STEP, i) + 1):
            ip = i - di
            dk = k[i] - k[ip]
            between = k[ip + 1:i] - k[ip]
            for dj in range(1, min(MAX_MUSICAL_STEP, n - 1) + 1):
                jp = np.arange(n - dj)
                j = jp + dj
                rate = dk / (b[j] - b[jp])
                valid = (rate >= low) & (rate <= high) & np.isfinite(score[ip, jp])
                if not valid.any():
                    continue
                jp, j, rate = jp[valid], j[valid], rate[valid]
                log_rate = np.log(rate)
                previous = rate_in[ip, jp]
                change = np.where(np.isnan(previous), 0.0,
                                  np.abs(log_rate - np.log(np.where(np.isnan(previous), 1.0,
                                                                    previous))))
                # Costs scale with the kinematic intervals spanned, so that skipping beats
                # that land anyway is not a way to avoid them.
                gain = 1.0 - di * (RATE_COST * np.abs(log_rate)
                                   + CHANGE_COST * change) / log_high
                for offset in between:
                    gain += LANDING_WORTH * _lands(b[jp] + offset / rate, b, tolerance)
                candidate = score[ip, jp] + gain
                better = candidate > score[i, j]
                j, jp, candidate, rate = j[better], jp[better], candidate[better], rate[better]
                score[i, j] = candidate
                rate_in[i, j] = rate
                back[i, j, 0] = ip
                back[i, j, 1] = jp
    final = score - LOST_BEATS_PER_SECOND * _lost_tail(k, b, motion_seconds, song_seconds,
                                                       high)
    if not np.isfinite(final).any():
        return []
    i, j = np.unravel_index(int(np.argmax(final)), final.shape)
    chain = []
    while i >= 0:
        chain.append((int(i), int(j)))
        i, j = back[i, j]
    return chain[::-1]


def _lands(times: np.ndarray, beats: np.ndarray, tolerance: float) -> np.ndarray:
    """1.0 where a time falls within `tolerance` of a beat (beats sorted), else 0.0."""
    index = np.clip(np.searchsorted(beats, times), 1, beats.size - 1) if beats.size > 1 else (
        np.zeros(times.size, dtype=np.int64))
    distance = np.minimum(np.abs(beats[index] - times), np.abs(beats[index - 1] - times))
    return (distance <= tolerance).astype(np.float64)


def _lost_tail(k: np.ndarray, b: np.ndarray, motion_seconds: float, song_seconds: float,
               high: float) -> np.ndarray:
    """Motion seconds cut off after anchor (i, j) because the song ends (at the top rate)."""
    left = motion_seconds - k[:, None]
    room = song_seconds - b[None, :]
    return np.maximum(0.0, left - high * room)


def _breakpoints(anchor_motion: list[float], anchor_music: list[float], motion_seconds: float,
                 song_seconds: float, low: float, high: float) -> Warp:
    rates = np.diff(anchor_motion) / np.diff(anchor_music) if len(anchor_motion) > 1 else (
        np.ones(1))
    first_motion, first_music = anchor_motion[0], anchor_music[0]
    head_rate = float(np.clip(rates[0], low, high))
    if first_music > 0:
        head_rate = max(head_rate, first_motion / first_music)
    music = [first_music - first_motion / head_rate] if first_motion > 0 else []
    motion = [0.0] if first_motion > 0 else []
    music += anchor_music
    motion += anchor_motion
    left = motion_seconds - anchor_motion[-1]
    room = song_seconds - anchor_music[-1]
    if left > 0 and room > 0:
        tail_rate = float(np.clip(rates[-1], low, high))
        if left / tail_rate > room:
            tail_rate = min(high, left / room)
        played = min(left, tail_rate * room)
        music.append(anchor_music[-1] + played / tail_rate)
        motion.append(anchor_motion[-1] + played)
    music_times, motion_times = np.array(music), np.array(motion)
    keep = np.concatenate([[True], np.diff(music_times) > 1e-9])
    music_times, motion_times = steady_around_anchors(music_times[keep], motion_times[keep],
                                                       low, high)
    return Warp(music_times, motion_times, anchors=len(anchor_motion))


def warp_motion(motion: Motion, warp: Warp, fps: float, start: float) -> Motion:
    """The motion as it plays against the song from song time `start`, at `fps`.

    Frame k is song time start + k / fps; frames run while the warp lasts.
    """
    count = int(math.floor((warp.music_end - start) * fps + 1e-6)) + 1
    if count < 2:
        raise ValueError("the warp leaves less than two frames after the start")
    times = start + np.arange(count) / fps
    positions = sample_positions(motion.positions, motion.fps, warp.motion_time(times))
    return motion.with_positions(positions.astype(np.float32), fps=float(fps), confidence=None)
