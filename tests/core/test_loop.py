"""Loops: a whole number of beats, cut on the beat, whose last frame leads into the first as
any frame leads into the next; travel and turning closed so the dancer comes back."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.body_frame import facing
from dancerev_core.errors import DanceRevError
from dancerev_core.formats.reading import read_motion
from dancerev_core.generation.loop import loop_span, make_loop
from dancerev_core.generation.root_motion import in_place, with_travel
from tests.conftest import shared_data
from tests.core.test_root_motion import dancing_in_place, travelling_dance


def steps(positions: np.ndarray) -> np.ndarray:
    """Per step between frames, the largest joint's move (metres)."""
    return np.linalg.norm(np.diff(positions, axis=0), axis=-1).max(axis=-1)


def seam(loop: np.ndarray) -> float:
    """The step from the loop's last frame to its first."""
    return float(np.linalg.norm(loop[0] - loop[-1], axis=-1).max())


def accelerations(positions: np.ndarray) -> np.ndarray:
    """Per frame inside, the largest joint's change of step (second difference, metres)."""
    return np.linalg.norm(positions[2:] - 2 * positions[1:-1] + positions[:-2],
                          axis=-1).max(axis=-1)


def real_dance(folder: str, name: str) -> np.ndarray:
    motion = read_motion(shared_data("mocap", "cmu", folder, name), joints="canonical")
    return motion.resample(15).to_absolute().positions.astype(np.float64)


def beat_grid(seconds: float, beat: float = 0.5, offset: float = 0.3) -> np.ndarray:
    return np.arange(offset, seconds, beat)


def check_loop(dance: np.ndarray, fps: float, beats: np.ndarray, cut_jumps: bool = True
               ) -> np.ndarray:
    """The loop's seam is no larger than the dance's 99th percentile step, its velocity
    changes there no more than within the dance, it is a whole number of beats long and
    starts on a beat; returns it."""
    loop = make_loop(dance, fps, beats)
    first, stop, blend = loop_span(len(dance), fps, beats)
    assert loop.shape == (stop - first, 24, 3)
    within = np.percentile(steps(dance), 99)
    assert seam(loop) <= within
    if cut_jumps:  # a plain cut there would jump (a dance in place may happen to fit)
        assert seam(dance[first:stop]) > 2 * within
    assert steps(loop).max() <= 1.05 * steps(dance).max()  # and the blend makes no spike
    around = np.concatenate([loop[-2:], loop[:2]])  # C1: no kick in velocity at the seam
    assert accelerations(around).max() <= np.percentile(accelerations(dance), 99)
    beat = np.median(np.diff(beats)) * fps
    assert np.min(np.abs(beats * fps - first)) <= 0.5  # starts on a beat
    count = round(len(loop) / beat)
    assert count >= 2 and abs(len(loop) - count * beat) <= 1.0  # whole beats, within a frame
    return loop


def test_a_travelling_turning_dance_loops_seamlessly_and_comes_back():
    dance, _ = travelling_dance(seconds=8.0, fps=30.0)
    beats = beat_grid(8.0, beat=0.4, offset=0.1)
    loop = check_loop(dance, 30.0, beats)
    root_steps = np.linalg.norm(np.diff(loop[:, 0, :2], axis=0), axis=-1)
    assert np.linalg.norm(loop[0, 0, :2] - loop[-1, 0, :2]) <= np.percentile(root_steps, 99)
    turns = np.abs(np.angle(np.exp(1j * np.diff(facing(loop)))))
    seam_turn = abs(np.angle(np.exp(1j * (facing(loop[:1]) - facing(loop[-1:])))))[0]
    assert seam_turn <= np.percentile(turns, 99)
    # the loop is the dance's frames [first, stop): it starts there, no longer at frame 0
    first, stop, blend = loop_span(len(dance), 30.0, beats)
    assert first > 0 and blend == round(0.4 * 30.0)


def test_a_dance_in_place_loops_in_place():
    dance, _ = travelling_dance(seconds=8.0, fps=30.0)
    loop = make_loop(in_place(dance, fps=30.0), 30.0, beat_grid(8.0, 0.4, 0.1))
    assert np.abs(loop[:, 0, :2] - loop[0, 0, :2]).max() < 0.01
    held = np.unwrap(facing(loop))
    assert np.degrees(np.abs(held - held[0]).max()) < 3.0


def test_whole_turns_stay_in_the_loop():
    """A dancer spinning steadily, one turn per 2 beats: the loop keeps on spinning, the seam
    turns like any other step."""
    body = dancing_in_place(6.0, fps=15.0)
    t = np.arange(len(body)) / 15.0
    spinning = with_travel(body, np.column_stack([0 * t, 0 * t, np.pi * t]))
    loop = make_loop(spinning, 15.0, beat_grid(6.0, 1.0, 0.3))
    turns = np.diff(np.unwrap(facing(loop)))
    np.testing.assert_allclose(turns, np.pi / 15.0, atol=0.02)
    seam_turn = np.angle(np.exp(1j * (facing(loop[:1]) - facing(loop[-1:]))))[0]
    assert abs(seam_turn - np.pi / 15.0) < 0.05


@pytest.mark.parametrize("folder, name", [("05", "005_02.bvh"), ("61", "61_01_scaled.bvh")])
def test_a_real_dance_loops_seamlessly(folder, name):
    dance = real_dance(folder, name)  # ballet that travels 1.6 m; salsa that spins
    beats = beat_grid(len(dance) / 15.0)
    check_loop(dance, 15.0, beats)
    check_loop(in_place(dance, fps=15.0), 15.0, beats, cut_jumps=False)


def test_the_blend_is_bounded_by_the_dance():
    dance, _ = travelling_dance(seconds=2.0, fps=15.0)
    first, stop, blend = loop_span(len(dance), 15.0, np.array([0.1, 1.1, 1.9]), 2.0)
    assert 2 * blend <= stop - first and blend <= first
    assert make_loop(dance, 15.0, [0.1, 1.1, 1.9], 2.0).shape[0] == stop - first


@pytest.mark.parametrize("beats", [[], [0.5], [0.0, 0.1]])
def test_too_few_beats_or_too_short(beats):
    dance, _ = travelling_dance(seconds=1.0, fps=15.0)
    with pytest.raises(DanceRevError, match="beat"):
        make_loop(dance, 15.0, np.array(beats))
