"""The foot-skating figure: how fast a foot on the floor slides (evaluation/skating.py)."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.body_frame import FEET, J, rotate_yaw
from dancerev_core.evaluation.skating import (
    CONTACT_HEIGHT,
    foot_skating,
    pooled_skating,
)
from dancerev_core.formats.reading import read_motion
from tests.conftest import shared_data

FPS = 30.0


def body(frames: int) -> np.ndarray:
    """A body whose joints all hang high up (z = 1 m) but for the four foot joints, which
    the tests place."""
    positions = np.zeros((frames, 24, 3))
    positions[..., 2] = 1.0
    return positions


def test_a_sliding_foot_scores_its_slide_speed():
    frames, speed = 60, 0.5
    positions = body(frames)
    t = np.arange(frames) / FPS
    for joint in (J["left_ankle"], J["left_foot"]):  # on the floor, sliding along x
        positions[:, joint] = np.stack([speed * t, np.zeros(frames), np.full(frames, 0.05)], 1)
    for joint in (J["right_ankle"], J["right_foot"]):  # the other foot still, on the floor
        positions[:, joint] = [0.3, 0.0, 0.05]
    figure = foot_skating(positions, FPS)
    assert figure.contact_steps == 4 * (frames - 1)
    assert figure.mean_speed == pytest.approx(speed / 2)  # one foot slides, one stands
    positions[:, [J["right_ankle"], J["right_foot"]], 2] = 0.5  # lift the still foot
    figure = foot_skating(positions, FPS)
    assert figure.contact_steps == 2 * (frames - 1)
    assert figure.mean_speed == pytest.approx(speed)


def test_a_jump_gives_no_contact_and_only_steps_with_both_frames_down_count():
    frames = 90
    positions = body(frames)
    positions[:, FEET] = [[0.1, 0, 0.05], [-0.1, 0, 0.05], [0.1, -0.15, 0.05], [-0.1, -0.15, 0.05]]
    jump = np.arange(30, 60)  # a travelling leap: 30 cm up, 3 m/s forward in the air
    positions[jump[:, None], FEET, 2] += 0.3
    positions[jump[:, None], FEET, 1] -= 3.0 * (jump - 29)[:, None] / FPS
    positions[60:, FEET, 1] -= 3.0 * 30 / FPS  # landed further on, standing still
    figure = foot_skating(positions, FPS)
    assert figure.mean_speed == 0.0  # all the travel was in the air
    assert figure.contact_steps == 4 * (frames - 1 - (len(jump) + 1))  # no step into the air
    assert CONTACT_HEIGHT < 0.3


def test_speed_is_per_second_whatever_the_frame_rate_and_the_place():
    frames = 121
    positions = body(frames)
    t = np.arange(frames) / 60.0
    positions[:, FEET, 0] = (0.2 * np.sin(2 * np.pi * t))[:, None]
    positions[:, FEET, 2] = 0.05
    fast = foot_skating(positions, 60.0)
    slow = foot_skating(positions[::2], 30.0)
    assert slow.mean_speed == pytest.approx(fast.mean_speed, rel=0.01)
    moved = rotate_yaw(positions, 1.0, np.array([3.0, -2.0]))
    moved[..., 2] += 0.7  # the floor is where the dance's feet are, not z = 0
    assert foot_skating(moved, 60.0).mean_speed == pytest.approx(fast.mean_speed, rel=1e-9)
    assert foot_skating(positions[:1], 60.0).contact_steps == 0


def test_the_deepest_sole_below_z0():
    positions = body(5)
    positions[:, FEET, 2] = 0.05  # soles at z = 0 (foot joints 5 cm above their soles)
    assert foot_skating(positions, FPS).deepest_sole == 0.0
    positions[2, J["right_foot"], 2] = 0.02
    assert foot_skating(positions, FPS).deepest_sole == pytest.approx(0.03)


def test_pooling_weighs_every_contact_step_alike():
    a, b = body(11), body(41)
    for positions, speed in ((a, 1.0), (b, 0.25)):
        positions[:, FEET, 2] = 0.05
        positions[:, FEET, 0] = (speed * np.arange(len(positions)) / FPS)[:, None]
    pooled = pooled_skating([a, b], FPS)
    assert pooled.contact_steps == 4 * 10 + 4 * 40
    assert pooled.mean_speed == pytest.approx((40 * 1.0 + 160 * 0.25) / 200)


@pytest.mark.parametrize("parts", [("05", "005_02.bvh"), ("60", "60_01_scaled.bvh")])
def test_real_dancers_feet_are_slower_on_the_floor_than_off_it(parts):
    """Real mocap: there are contact steps, and a foot on the floor moves slower than the
    feet do on average (the premise of the figure)."""
    motion = read_motion(shared_data("mocap", "cmu", *parts), joints="canonical")
    positions = motion.resample(15.0).to_absolute().positions.astype(np.float64)
    figure = foot_skating(positions, 15.0)
    steps = np.linalg.norm(np.diff(positions[:, FEET, :2], axis=0), axis=-1) * 15.0
    assert figure.contact_steps > 0.1 * steps.size
    assert 0.0 < figure.mean_speed < 0.8 * steps.mean()
