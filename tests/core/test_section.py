"""Regenerating a section: the frames outside kept bit for bit, the new piece aligned to the
dance (place and facing) and blended in without a jump; a new seed dances it anew."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.body_frame import bone_lengths, facing
from dancerev_core.errors import DanceRevError
from dancerev_core.generation import pipeline
from dancerev_core.generation.pipeline import generate_dance
from dancerev_core.generation.root_motion import body_yaw, ease, in_place, with_travel
from dancerev_core.generation.section import (
    align_section,
    beat_seconds,
    regenerate_section,
    section_frames,
    splice_section,
)
from tests.core.test_generation import make_checkpoint, music
from tests.core.test_loop import real_dance, steps
from tests.core.test_root_motion import dancing_in_place, travelling_dance


def seam_steps(positions: np.ndarray, first: int, stop: int, blend: int) -> np.ndarray:
    """The steps into and out of the section and through its blends."""
    every = steps(positions)
    return np.concatenate([every[first - 1:first + blend], every[stop - blend - 1:stop]])


def angle(radians: float) -> float:
    return float(np.angle(np.exp(1j * radians)))


def test_outside_bit_for_bit_inside_aligned_at_both_ends():
    dance = travelling_dance(seconds=6.0, fps=15.0)[0].astype(np.float32)
    other = with_travel(dancing_in_place(3.0, fps=15.0)[::-1],  # elsewhere, facing elsewhere
                        np.tile([3.0, -2.0, 2.0], (45, 1)))
    first, stop, blend = 20, 65, 4
    out = splice_section(dance, other, first, stop, blend, 15.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:first], dance[:first])
    np.testing.assert_array_equal(out[stop:], dance[stop:])
    assert not np.allclose(out[first + blend:stop - blend], dance[first + blend:stop - blend])
    # the piece starts where and as the dance does at the section, and hands back there
    piece = align_section(dance, other, first, stop, 15.0)
    np.testing.assert_allclose(piece[0, 0, :2], dance[first, 0, :2], atol=1e-5)
    np.testing.assert_allclose(piece[-1, 0, :2], dance[stop - 1, 0, :2], atol=1e-5)
    yaw, own = body_yaw(dance, 15.0), body_yaw(piece, 15.0)
    assert abs(angle(own[0] - yaw[first])) < 0.01 and abs(angle(own[-1] - yaw[stop - 1])) < 0.05
    # its pose is the replacement's, moved and turned as a body
    np.testing.assert_allclose(bone_lengths(piece), bone_lengths(other), rtol=1e-6)
    raw = np.unwrap(facing(out.astype(np.float64)))
    assert np.abs(np.diff(raw)).max() < np.radians(30)  # no sudden turn at the seams


def test_the_blend_step_is_the_weight_change_times_the_pose_difference():
    """What the design guarantees, seen on two bodies standing still: at the seams only the
    blend moves the body, by the weight's change times how far the poses are apart."""
    still = np.repeat(dancing_in_place(1.0, fps=15.0)[:1], 40, axis=0)
    other_pose = np.repeat(dancing_in_place(1.0, fps=15.0)[7:8], 20, axis=0)
    other = with_travel(other_pose, np.tile([1.0, 2.0, -1.0], (20, 1)))
    first, stop, blend = 10, 30, 5
    out = splice_section(still, other, first, stop, blend, 15.0)
    apart = np.linalg.norm(in_place(np.stack([still[0], other_pose[0]]))[1] - still[0],
                           axis=-1).max()
    weights = np.concatenate([[0.0], ease(blend), [1.0]])
    assert steps(out).max() <= np.diff(weights).max() * apart + 1e-9
    np.testing.assert_allclose(out[first + blend:stop - blend], in_place(
        np.concatenate([still[:1], other_pose[:stop - first - 2 * blend]]))[1:], atol=1e-9)


@pytest.mark.parametrize("first, stop, blend", [(30, 90, 4), (40, 70, 8)])
def test_a_real_section_replaced_by_another_real_dance(first, stop, blend):
    dance = real_dance("05", "005_02.bvh").astype(np.float32)  # ballet that travels and turns
    other = real_dance("05", "005_05.bvh")[10:10 + stop - first]  # another take, elsewhere
    out = splice_section(dance, other, first, stop, blend, 15.0)
    np.testing.assert_array_equal(out[:first], dance[:first])
    np.testing.assert_array_equal(out[stop:], dance[stop:])
    within = max(np.percentile(steps(dance), 99), np.percentile(steps(other), 99))
    assert seam_steps(out, first, stop, blend).max() <= within + 0.05


def test_sections_at_the_ends_of_the_dance_and_bad_spans():
    dance = travelling_dance(seconds=4.0, fps=15.0)[0]
    other = dancing_in_place(2.0, fps=15.0)
    start = splice_section(dance, other[:20], 0, 20, 4, 15.0)
    np.testing.assert_array_equal(start[20:], dance[20:])
    np.testing.assert_allclose(start[0, 0, :2], dance[0, 0, :2], atol=1e-9)
    end = splice_section(dance, other[:20], 40, 60, 4, 15.0)
    np.testing.assert_array_equal(end[:40], dance[:40])
    with pytest.raises(DanceRevError, match="within"):
        splice_section(dance, other[:20], 50, 70, 4, 15.0)
    with pytest.raises(DanceRevError, match="shape"):
        splice_section(dance, other[:19], 40, 60, 4, 15.0)
    assert section_frames(60, 15.0, 1.0, 9.0) == (15, 60)
    with pytest.raises(DanceRevError, match="two frames"):
        section_frames(60, 15.0, 3.0, 3.05)
    assert beat_seconds([0.1, 0.6, 1.1]) == pytest.approx(0.5)
    assert beat_seconds([], 120.0) == 0.5


@pytest.fixture
def tiny(tmp_path):
    """An untrained canonical-3D model, a 10-s song (beats every 0.5 s) and its dance."""
    checkpoint = make_checkpoint(tmp_path, joint_set="canonical24")
    song = music(frames=150)
    [dance] = generate_dance(song, checkpoint, seed=0)
    return checkpoint, song, dance


def test_regenerate_keeps_the_outside_and_blends_the_new_piece_in(tiny):
    checkpoint, song, dance = tiny
    out = regenerate_section(song, checkpoint, dance.positions, 3.0, 6.0, 1,
                             dance.meta["beat_times"])
    first, stop, blend = 45, 90, 4  # half a beat of 0.5 s at 15 fps
    assert out.shape == dance.positions.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:first], dance.positions[:first])
    np.testing.assert_array_equal(out[stop:], dance.positions[stop:])
    assert np.abs(out[first:stop] - dance.positions[first:stop]).max() > 0.05
    # the seams step no more than either dance does (99th percentile) and a little
    within = max(np.percentile(steps(dance.positions), 99),
                 np.percentile(steps(out[first:stop]), 99))
    assert seam_steps(out, first, stop, blend).max() <= within + 0.05
    # the inside has the dance's bones, and the piece was not turned to the front
    np.testing.assert_allclose(bone_lengths(out[first:stop]),
                               np.broadcast_to(bone_lengths(dance.positions[:1]), (45, 23)),
                               rtol=1e-4, atol=1e-5)
    yaw = body_yaw(out.astype(np.float64), 15.0)
    assert abs(angle(yaw[first] - yaw[first - 1])) < 0.5


def test_a_new_seed_dances_the_section_anew(tiny, monkeypatch):
    """The seed sets the decoder's initial state, which an untrained test model forgets
    within the pre-roll (see test_generation's `no_preroll`), so it runs without one."""
    monkeypatch.setattr(pipeline, "PREROLL_SECONDS", 0.0)
    checkpoint, song, dance = tiny
    beats = dance.meta["beat_times"]
    one = regenerate_section(song, checkpoint, dance.positions, 3.0, 6.0, 1, beats)
    again = regenerate_section(song, checkpoint, dance.positions, 3.0, 6.0, 1, beats)
    two = regenerate_section(song, checkpoint, dance.positions, 3.0, 6.0, 2, beats)
    np.testing.assert_array_equal(one, again)
    assert np.abs(one[45:90] - two[45:90]).max() > 1e-3
    np.testing.assert_array_equal(one[:45], two[:45])
    np.testing.assert_array_equal(one[90:], two[90:])


def test_a_section_starting_late_in_a_dance_that_starts_late_in_the_song(tiny):
    checkpoint, song, _ = tiny
    [dance] = generate_dance(song, checkpoint, seconds=6.0, start=3.0)
    out = regenerate_section(song, checkpoint, dance.positions, 4.0, 6.0, 3,
                             dance.meta["beat_times"], audio_start=dance.meta["audio_start"])
    np.testing.assert_array_equal(out[:60], dance.positions[:60])
    assert out.shape == (90, 24, 3)
    with pytest.raises(DanceRevError, match="music ends"):
        regenerate_section(song, checkpoint, dance.positions, 4.0, 6.0, 3,
                           dance.meta["beat_times"], audio_start=5.0)
