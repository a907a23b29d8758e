"""Beat sync: the dance is re-timed so its accents land on the beats, within human limits
(rate bounds, rate changes, drift from the model's timing), and nothing else about it
changes (length, ends, top speed); a dance already on the beat keeps its timing."""

from __future__ import annotations

import numpy as np

from dancerev_core.body_frame import fastest_joint_speeds
from dancerev_core.evaluation.beats import beat_scores, kinematic_beats
from dancerev_core.generation.beat_sync import (
    GRID,
    MAX_RATE_CHANGE,
    MAX_SHIFT,
    fit_beat_sync,
    sync_to_beats,
)
from dancerev_core.generation.time_warp import RATE_BOUNDS

FPS = 30.0
BEAT = 0.5  # seconds: 120 BPM


def accented_dance(accents: np.ndarray, seconds: float, joints: int = 24) -> np.ndarray:
    """Joints swinging from accent to accent with an ease-in-out, so that the dance stops
    exactly at each accent (its kinematic beats); T x J x 3."""
    times = np.arange(int(round(seconds * FPS)) + 1) / FPS
    marks = np.concatenate([[0.0], accents, [seconds]])
    index = np.clip(np.searchsorted(marks, times, side="right") - 1, 0, marks.size - 2)
    u = (times - marks[index]) / (marks[index + 1] - marks[index])
    phase = index + (1 - np.cos(np.pi * u)) / 2
    swing = 0.3 * np.where(index % 2 == 0, phase - index, 1 - (phase - index))
    offsets = np.random.default_rng(0).normal(0, 0.3, (joints, 3))
    positions = offsets[None] + swing[:, None, None] * np.array([1.0, 0.2, 0.5])
    positions[..., 2] += 1.0
    return positions


def loose_accents(seed: int = 1, seconds: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Beats every 0.5 s; an accent every one or two beats, each up to 0.15 s off its beat."""
    rng = np.random.default_rng(seed)
    beats = np.arange(BEAT, seconds - BEAT / 2, BEAT)
    steps = np.cumsum(rng.integers(1, 3, beats.size)) - 1
    chosen = beats[steps[steps < beats.size]]
    chosen = chosen[chosen < seconds - 1.0]
    return beats, chosen + rng.uniform(-0.15, 0.15, chosen.size)


def hit_rate(positions: np.ndarray, beats: np.ndarray) -> float:
    return beat_scores(kinematic_beats(positions, FPS) / FPS, beats).hit_rate


def assert_within_limits(dance: np.ndarray, synced: np.ndarray, report, max_shift: float):
    assert synced.shape == dance.shape
    assert np.allclose(synced[0], dance[0]) and np.allclose(synced[-1], dance[-1])
    rates = report.warp.rates()
    assert rates.min() >= RATE_BOUNDS[0] - 1e-9 and rates.max() <= RATE_BOUNDS[1] + 1e-9
    assert np.abs(np.diff(rates)).max() <= MAX_RATE_CHANGE / FPS + 1e-9
    drift = np.abs(report.warp.motion_times - report.warp.music_times)
    assert drift.max() <= max_shift + 1e-9
    # no joint faster than the dance's own fastest step (a little slack for resampling)
    assert fastest_joint_speeds(synced, FPS).max() <= 1.02 * fastest_joint_speeds(dance, FPS).max()


def test_loose_accents_are_moved_onto_the_beats():
    beats, accents = loose_accents()
    dance = accented_dance(accents, 20.0)
    synced, report = sync_to_beats(dance, FPS, beats)
    before, after = hit_rate(dance, beats), hit_rate(synced, beats)
    assert before < 0.8 and after >= 0.9, (before, after)
    assert report.on_beat_before < report.on_beat_after == round(after * report.
                                                                   kinematic_beats_after)
    assert_within_limits(dance, synced, report, MAX_SHIFT)


def test_accents_half_a_beat_off_are_not_dragged_further_than_the_limits():
    """The worst case: every accent exactly between two beats. The dance may not drift from
    the model's timing by more than half a beat (here 0.25 s, under MAX_SHIFT)."""
    beats = np.arange(BEAT, 19.6, BEAT)
    dance = accented_dance(beats[:-1] + BEAT / 2, 20.0)
    synced, report = sync_to_beats(dance, FPS, beats)
    assert hit_rate(dance, beats) == 0.0
    assert_within_limits(dance, synced, report, BEAT / 2 + 1 / (GRID * FPS))


def test_a_dance_already_on_the_beat_keeps_its_timing():
    beats = np.arange(BEAT, 19.6, BEAT)
    for accents in (beats, beats[::2]):  # on every beat; on every other beat (half time)
        dance = accented_dance(accents, 20.0)
        synced, report = sync_to_beats(dance, FPS, beats)
        assert hit_rate(dance, beats) == 1.0 and hit_rate(synced, beats) == 1.0
        # detected beats sit within a frame or so of the accents, so the timing barely moves
        assert np.abs(report.warp.motion_times - report.warp.music_times).max() <= 2 / FPS


def test_without_beats_or_accents_nothing_moves():
    _, accents = loose_accents()
    dance = accented_dance(accents, 20.0)
    synced, report = sync_to_beats(dance, FPS, np.zeros(0))
    assert report.on_beat_after == 0 and np.array_equal(synced, dance)
    beats = np.arange(BEAT, 20, BEAT)
    still = np.repeat(dance[:1], dance.shape[0], axis=0)
    synced, report = sync_to_beats(still, FPS, beats)
    assert report.kinematic_beats == report.on_beat_after == 0
    assert np.array_equal(synced, still)
    # gliding at a steady speed: no accent to place, and rate 1 costs least
    glide = dance[:1] + np.linspace(0, 2, dance.shape[0])[:, None, None] * np.array([1, 0, 0])
    synced, report = sync_to_beats(glide, FPS, beats)
    assert np.array_equal(synced, glide)


def test_the_fastest_moment_of_the_dance_is_never_sped_up():
    rng = np.random.default_rng(3)
    speeds = rng.uniform(0.2, 1.0, int(8 * FPS))  # a restless dance, accents everywhere
    fastest = np.ones(speeds.size)
    fastest[60:90] = 5.0  # its fastest moment: 2-3 s
    motion = fit_beat_sync(speeds, fastest, np.arange(BEAT, 8.0, BEAT), FPS)
    assert not np.array_equal(motion, np.arange(speeds.size + 1))  # it did re-time
    rates = np.diff(motion)
    shown = (motion[1:] + motion[:-1]) / 2  # the motion step each song step shows
    assert rates[(shown > 60) & (shown < 90)].max() <= 1.0 + 1e-9
    assert rates.max() > 1.0

