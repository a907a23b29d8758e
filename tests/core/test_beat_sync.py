"""Beat sync: accents near the beats are moved onto them, within human limits, and nothing
else about the dance changes (length, ends, top speed)."""

from __future__ import annotations

import numpy as np

from dancerev_core.beat_sync import (
    MAX_SHIFT,
    fit_beat_sync,
    sync_to_beats,
)
from dancerev_core.body_frame import fastest_joint_speeds
from dancerev_core.evaluation.beats import beat_scores, kinematic_beats
from dancerev_core.time_warp import RATE_BOUNDS

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


def test_loose_accents_are_moved_onto_the_beats():
    beats, accents = loose_accents()
    dance = accented_dance(accents, 20.0)
    synced, report = sync_to_beats(dance, FPS, beats)
    before, after = hit_rate(dance, beats), hit_rate(synced, beats)
    # a few accents stay put: moving them would speed up spans that are already as fast as
    # the dance gets (the speed cap)
    assert before < 0.8 and after >= 0.85, (before, after)
    assert report.anchors >= 0.75 * accents.size
    assert synced.shape == dance.shape
    assert np.allclose(synced[0], dance[0]) and np.allclose(synced[-1], dance[-1])
    rates = report.warp.rates()
    assert rates.min() >= RATE_BOUNDS[0] - 1e-9 and rates.max() <= RATE_BOUNDS[1] + 1e-9
    # no joint faster than the dance's own fastest step (a little slack for resampling)
    assert fastest_joint_speeds(synced, FPS).max() <= 1.02 * fastest_joint_speeds(dance, FPS).max()


def test_a_dance_already_on_the_beat_is_left_as_it_is():
    beats = np.arange(BEAT, 19.6, BEAT)
    dance = accented_dance(beats[::2], 20.0)
    synced, report = sync_to_beats(dance, FPS, beats)
    assert hit_rate(dance, beats) == 1.0 and hit_rate(synced, beats) == 1.0
    # detected beats sit within a frame or so of the accents, so the warp barely moves
    motion_at = report.warp.motion_time(np.arange(dance.shape[0]) / FPS)
    assert np.abs(motion_at - np.arange(dance.shape[0]) / FPS).max() <= 1.5 / FPS


def test_without_beats_or_accents_nothing_moves():
    _, accents = loose_accents()
    dance = accented_dance(accents, 20.0)
    synced, report = sync_to_beats(dance, FPS, np.zeros(0))
    assert report.anchors == 0 and np.array_equal(synced, dance)
    still = np.repeat(dance[:1], dance.shape[0], axis=0)
    synced, report = sync_to_beats(still, FPS, np.arange(BEAT, 20, BEAT))
    assert report.anchors == 0 and report.kinematic_beats == 0
    assert np.array_equal(synced, still)


def test_an_accent_far_from_every_beat_is_not_pulled_onto_one():
    beats = np.array([2.0, 6.0])
    warp = fit_beat_sync(np.array([2.0 + MAX_SHIFT + 0.05, 4.0]), beats, 8.0)
    assert warp.anchors == 0
    warp = fit_beat_sync(np.array([2.0 + MAX_SHIFT - 0.05]), beats, 8.0)
    assert warp.anchors == 1
    assert np.isclose(warp.motion_time(2.0), 2.0 + MAX_SHIFT - 0.05)


def test_a_speed_cap_keeps_the_fastest_span_from_being_sped_up():
    # moving the accent at 1.2 s onto the beat at 1.0 s plays 0..1.2 s of motion in 1.0 s
    kinematic, beats = np.array([1.2]), np.array([1.0])
    assert fit_beat_sync(kinematic, beats, 4.0).anchors == 1
    steps = np.ones(int(4.0 * FPS))
    steps[10:20] = 5.0  # the fastest moment of the dance lies in that span
    assert fit_beat_sync(kinematic, beats, 4.0, steps, FPS).anchors == 0
