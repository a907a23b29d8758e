"""Generated 3D dances are made physically plausible: constant bones, no feet in the floor."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.body_frame import FOOT_JOINT_HEIGHT
from dancerev_core.formats.reading import read_motion
from dancerev_core.generation.plausible import (
    MAX_JOINT_SPEED,
    MAX_SETTLE_SECONDS,
    on_the_floor_with_constant_bones,
    plausible_positions,
    settled_start,
    soles,
    without_glitches,
)
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import shared_data

PARENTS = np.array(CANONICAL_24.parents[1:])


def bones(positions):
    return np.linalg.norm(positions[:, 1:] - positions[:, PARENTS], axis=-1)


def real_dance():
    motion = read_motion(shared_data("mocap", "cmu", "05", "005_02.bvh"), joints="canonical")
    return motion.resample(15).to_absolute().positions.astype(np.float64)


def test_stretching_bones_get_one_length_and_keep_their_directions():
    dance = real_dance()
    rng = np.random.default_rng(0)
    root = dance[:, :1]
    stretched = root + (dance - root) * rng.uniform(0.8, 1.25, (len(dance), 1, 1))
    fixed = on_the_floor_with_constant_bones(stretched, 15.0)
    lengths = bones(fixed)
    assert (lengths.std(axis=0) / lengths.mean(axis=0)).max() < 1e-6
    before = stretched[:, 1:] - stretched[:, PARENTS]
    after = fixed[:, 1:] - fixed[:, PARENTS]
    cos = (before * after).sum(-1) / np.linalg.norm(before, axis=-1) / np.linalg.norm(
        after, axis=-1)
    assert cos.min() > 1 - 1e-9


def test_sinking_feet_come_out_of_the_floor_and_jumps_stay():
    dance = real_dance()
    sinking = dance.copy()
    sinking[:, :, 2] -= np.linspace(0, 0.3, len(dance))[:, None]  # slowly through the floor
    jump = slice(40, 50)
    sinking[jump, :, 2] += 0.4
    fixed = plausible_positions(sinking, 15.0)
    assert soles(fixed).min() >= -0.015 - 1e-9
    assert np.percentile(soles(fixed), 5) >= -1e-9
    assert soles(fixed)[jump].min() > 0.1  # still in the air
    assert (fixed[:, :, 2].min() + FOOT_JOINT_HEIGHT) > -0.05


def test_a_plausible_dance_is_left_nearly_as_it_was():
    dance = real_dance()
    standing = dance.copy()
    standing[..., 2] -= np.percentile(soles(standing), 5)
    fixed = on_the_floor_with_constant_bones(standing, 15.0)
    assert np.abs(fixed - standing).mean() < 0.02


def test_the_dance_is_turned_to_face_the_front():
    from dancerev_core.body_frame import facing, rotate_yaw

    dance = real_dance()
    away = rotate_yaw(dance, np.radians(150), dance[0, 0, :2])
    fixed = plausible_positions(away, 15.0)
    angles = facing(fixed)
    mean = np.degrees(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()))
    assert mean == pytest.approx(-90.0, abs=1e-6)
    assert np.allclose(fixed[0, 0, :2], away[0, 0, :2])  # turned where it starts


def fastest_step(positions, fps=15.0):
    return np.linalg.norm(np.diff(positions, axis=0), axis=-1).max() * fps


def test_a_one_frame_glitch_is_smoothed_away_and_real_dance_is_left_alone():
    dance = real_dance()
    assert fastest_step(dance) < MAX_JOINT_SPEED
    np.testing.assert_array_equal(without_glitches(dance, 15.0), dance)
    glitched = dance.copy()
    glitched[40, 20:24] += [0.0, 0.0, 1.5]  # a hand thrown 1.5 m up for one frame
    glitched[-1, 7] += [1.0, 0.0, 0.0]  # and a foot in the last frame
    fixed = without_glitches(glitched, 15.0)
    assert fastest_step(glitched) > 20 and fastest_step(fixed) <= MAX_JOINT_SPEED + 1e-9
    untouched = np.ones(len(dance), dtype=bool)
    untouched[30:51] = untouched[-12:] = False
    np.testing.assert_array_equal(fixed[untouched], dance[untouched])
    plausible = plausible_positions(glitched, 15.0)
    assert fastest_step(plausible) <= MAX_JOINT_SPEED * 1.05


def test_the_opening_rush_is_held_still_and_a_calm_start_is_left_alone():
    dance = real_dance()
    np.testing.assert_array_equal(settled_start(dance, 15.0), dance)
    rushed = dance.copy()
    rushed[0] += [0.4, -0.3, 0.1]  # the decoder jumping into the dance over two steps
    rushed[1] += [0.2, -0.15, 0.05]
    held = settled_start(rushed, 15.0)
    np.testing.assert_array_equal(held[:3], np.repeat(dance[2:3], 3, axis=0))
    np.testing.assert_array_equal(held[2:], dance[2:])
    # a dance that never calms down keeps moving after at most MAX_SETTLE_SECONDS
    restless = np.cumsum(np.random.default_rng(0).normal(0, 0.05, dance.shape), axis=0)
    restless[:40] *= np.linspace(60, 1, 40)[:, None, None]
    limit = int(MAX_SETTLE_SECONDS * 15.0)
    held = settled_start(restless, 15.0)
    assert np.array_equal(held[limit:], restless[limit:])
    assert np.array_equal(held[:limit], np.repeat(restless[limit:limit + 1], limit, axis=0))
