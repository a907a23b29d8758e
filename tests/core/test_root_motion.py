"""Root motion: a dance in place (travel and turning taken off), the travel handed back, and
the root-relative blend that loops and sections use."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.body_frame import bone_lengths, facing, rotate_yaw
from dancerev_core.generation import root_motion
from dancerev_core.generation.root_motion import (
    blend_poses,
    body_yaw,
    ease,
    in_place,
    root_travel,
    with_travel,
)
from dancerev_core.skeletons import CANONICAL_24

FPS = 30.0
# a body standing at the origin facing -Y (its left at +x), metres, canonical joint order
REST = np.array([
    [0.0, 0.0, 0.95], [0.09, 0.0, 0.87], [-0.09, 0.0, 0.87], [0.0, 0.0, 1.05],
    [0.1, 0.0, 0.5], [-0.1, 0.0, 0.5], [0.0, 0.0, 1.18], [0.1, 0.0, 0.1],
    [-0.1, 0.0, 0.1], [0.0, 0.0, 1.25], [0.1, -0.12, 0.05], [-0.1, -0.12, 0.05],
    [0.0, 0.0, 1.45], [0.07, 0.0, 1.4], [-0.07, 0.0, 1.4], [0.0, -0.02, 1.6],
    [0.18, 0.0, 1.4], [-0.18, 0.0, 1.4], [0.45, 0.0, 1.4], [-0.45, 0.0, 1.4],
    [0.7, 0.0, 1.4], [-0.7, 0.0, 1.4], [0.78, 0.0, 1.4], [-0.78, 0.0, 1.4]])
J = {name: index for index, name in enumerate(CANONICAL_24.joint_names)}
ARMS = [J[f"{side}_{part}"] for side in ("left", "right") for part in ("elbow", "wrist", "hand")]


def dancing_in_place(seconds: float = 6.0, fps: float = FPS) -> np.ndarray:
    """The rest body swinging its arms, bending its knees and jumping once, on the spot and
    facing -Y throughout (the hips and shoulders do not turn)."""
    t = np.arange(int(round(seconds * fps))) / fps
    body = np.repeat(REST[None], t.size, axis=0)
    for index in ARMS:
        reach = abs(REST[index, 0]) - 0.18
        body[:, index, 2] += reach * 0.8 * np.sin(2 * np.pi * 0.7 * t + REST[index, 0])
        body[:, index, 1] -= reach * 0.4 * (1 + np.sin(2 * np.pi * 1.3 * t))
    bob = 0.06 * (1 - np.cos(2 * np.pi * 1.1 * t))
    body[:, [J["left_knee"], J["right_knee"]], 1] -= bob[:, None]
    upper = [i for i in range(24) if REST[i, 2] > 0.6]
    body[:, upper, 2] -= bob[:, None] / 2
    jump = (t > 2.0) & (t < 2.4)
    body[jump, :, 2] += 0.3 * np.sin(np.pi * (t[jump] - 2.0) / 0.4)[:, None]
    return body


def a_turn(t: np.ndarray) -> np.ndarray:
    return 1.5 * 2 * np.pi * t / t[-1] + 0.5 * np.sin(2 * np.pi * 0.4 * t)


def a_path(t: np.ndarray) -> np.ndarray:
    return np.stack([1.5 * np.sin(0.5 * t), 0.8 * (1 - np.cos(0.7 * t)), 0 * t], axis=1)


def travelling_dance(seconds: float = 6.0, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """`dancing_in_place` moved along a curved path while turning 1.5 times, and that travel
    (dx, dy, yaw per frame)."""
    body = dancing_in_place(seconds, fps)
    t = np.arange(body.shape[0]) / fps
    path = a_path(t)
    travel = np.column_stack([path[:, :2], a_turn(t)])
    return with_travel(body, travel), travel


def test_in_place_holds_the_root_and_the_facing_and_keeps_heights_and_pose():
    dance, travel = travelling_dance()
    still = in_place(dance, fps=FPS)
    assert np.abs(still[:, 0, :2] - still[0, 0, :2]).max() < 0.01  # under 1 cm
    turned = np.unwrap(facing(still))
    assert np.degrees(np.abs(turned - turned[0]).max()) < 2.0  # while the dance turns 540
    assert np.degrees(np.ptp(np.unwrap(facing(dance)))) > 500
    np.testing.assert_array_equal(still[:, :, 2], dance[:, :, 2])  # jumps and crouches stay
    np.testing.assert_allclose(still[0], dance[0], atol=1e-12)  # frame 0 as it was
    # the pose relative to the root is the dance's, turned by what was taken off
    removed = root_travel(dance, fps=FPS)[:, 2]
    for frame in range(0, len(dance), 17):
        back = rotate_yaw(still[frame], removed[frame], still[frame, 0, :2])
        np.testing.assert_allclose(back - back[0], dance[frame] - dance[frame, 0], atol=1e-9)


def test_keep_turning_takes_off_the_travel_only():
    dance, _ = travelling_dance()
    still = in_place(dance, keep_turning=True, fps=FPS)
    assert np.abs(still[:, 0, :2] - still[0, 0, :2]).max() < 1e-9
    np.testing.assert_allclose(still - still[:, :1], dance - dance[:, :1], atol=1e-12)
    np.testing.assert_allclose(np.unwrap(facing(still)), np.unwrap(facing(dance)), atol=1e-9)
    assert np.all(root_travel(dance, keep_turning=True)[:, 2] == 0)


def test_root_travel_is_what_was_taken_off_and_puts_it_back():
    dance, travel = travelling_dance()
    taken = root_travel(dance, fps=FPS)
    assert taken.shape == (len(dance), 3)
    np.testing.assert_allclose(taken[:, :2], travel[:, :2] - travel[0, :2], atol=1e-9)
    np.testing.assert_allclose(taken[:, 2], travel[:, 2] - travel[0, 2], atol=0.03)
    for keep in (False, True):
        still = in_place(dance, keep_turning=keep, fps=FPS)
        back = with_travel(still, root_travel(dance, keep_turning=keep, fps=FPS))
        np.testing.assert_allclose(back, dance, atol=1e-9)
        np.testing.assert_allclose(still, with_travel(dance, -root_travel(dance, keep, FPS)),
                                   atol=1e-12)
    # travel put onto a dance in place comes off again
    still = dancing_in_place()
    moved = with_travel(still, travel)
    np.testing.assert_allclose(in_place(moved, fps=FPS), still, atol=0.03)


def test_a_steady_spin_is_taken_off_exactly_even_at_the_ends():
    body = dancing_in_place(3.0)
    t = np.arange(len(body)) / FPS
    spin = np.column_stack([0 * t, 0 * t, 2 * np.pi * 1.5 * t])  # 1.5 turns a second
    spinning = with_travel(body, spin)
    np.testing.assert_allclose(body_yaw(spinning, FPS) - body_yaw(spinning, FPS)[0],
                               spin[:, 2], atol=1e-9)
    np.testing.assert_allclose(in_place(spinning, fps=FPS), body, atol=1e-9)


def test_a_jittery_facing_is_smoothed_so_standing_feet_do_not_swivel(monkeypatch):
    """Shoulders that twitch about the vertical make the raw facing jitter; taken off frame
    by frame that would swivel the whole body, feet included."""
    rng = np.random.default_rng(0)
    body = dancing_in_place(4.0, fps=15.0)
    upper = [i for i in range(24) if REST[i, 2] > 1.3]
    for frame, twitch in enumerate(rng.normal(0, np.radians(8), len(body))):
        body[frame, upper] = rotate_yaw(body[frame, upper], twitch, body[frame, 0, :2])
    feet = [J["left_foot"], J["right_foot"], J["left_ankle"], J["right_ankle"]]

    def foot_travel(positions):
        return np.linalg.norm(np.diff(positions[:, feet, :2], axis=0), axis=-1).mean()

    smoothed = foot_travel(in_place(body, fps=15.0))
    monkeypatch.setattr(root_motion, "FACING_SIGMA", 0.0)
    raw = foot_travel(in_place(body, fps=15.0))
    assert foot_travel(body) < 1e-9  # the feet stand still on the floor (or jump straight up)
    assert smoothed < 0.6 * raw


def test_ease_is_c1_and_blend_poses_is_exact_at_the_ends_and_keeps_the_body():
    w = ease(6)
    assert np.all(np.diff(w) > 0) and 0 < w[0] < 0.1 and 0.9 < w[-1] < 1
    np.testing.assert_allclose(w + w[::-1], 1.0)
    # two bodies standing 2 m apart, facing 90 degrees apart
    a = dancing_in_place(1.0)
    b = with_travel(dancing_in_place(1.0)[::-1], np.tile([2.0, -1.0, np.pi / 2], (len(a), 1)))
    np.testing.assert_allclose(blend_poses(a, b, np.zeros(len(a)), FPS), a, atol=1e-12)
    np.testing.assert_allclose(blend_poses(a, b, np.ones(len(a)), FPS), b, atol=1e-12)
    half = blend_poses(a, b, np.full(len(a), 0.5), FPS)
    np.testing.assert_allclose(half[:, 0, :2], (a[:, 0, :2] + b[:, 0, :2]) / 2, atol=1e-12)
    assert np.degrees(np.abs(np.unwrap(facing(half)) - (-np.pi / 2 + np.pi / 4)).max()) < 3
    # the shoulders stay as wide as they were, where mixing positions would shrink them
    width = bone_lengths(half)[:, J["left_shoulder"] - 1]
    np.testing.assert_allclose(width, bone_lengths(a)[0, J["left_shoulder"] - 1], rtol=1e-3)
    assert bone_lengths((a + b) / 2)[:, J["left_shoulder"] - 1].max() < 0.8 * width.min()


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_short_dances(frames):
    dance, _ = travelling_dance()
    still = in_place(dance[:frames], fps=FPS)
    assert still.shape == (frames, 24, 3)
    assert np.abs(still[:, 0, :2] - still[0, 0, :2]).max() < 1e-9


def test_a_real_spinning_dance_in_place():
    from dancerev_core.formats.reading import read_motion
    from tests.conftest import shared_data

    motion = read_motion(shared_data("mocap", "cmu", "61", "61_01_scaled.bvh"),
                         joints="canonical")  # salsa: spins of up to 75 degrees a frame
    dance = motion.resample(15).to_absolute().positions.astype(np.float64)
    still = in_place(dance, fps=15.0)
    assert np.abs(still[:, 0, :2] - still[0, 0, :2]).max() < 0.01
    np.testing.assert_array_equal(still[:, :, 2], dance[:, :, 2])
    raw, held = np.unwrap(facing(dance)), np.unwrap(facing(still))
    assert np.degrees(np.ptp(raw)) > 1000
    assert np.degrees(np.percentile(np.abs(held - held[0]), 95)) < 10
    np.testing.assert_allclose(with_travel(still, root_travel(dance, fps=15.0)), dance,
                               atol=1e-9)
