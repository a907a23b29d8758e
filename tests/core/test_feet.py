"""Planted feet (generation/feet.py): feet on the floor stay put, the legs reach them."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.body_frame import FEET, J, bone_lengths, soles
from dancerev_core.evaluation.skating import foot_skating
from dancerev_core.formats.reading import read_motion
from dancerev_core.generation.feet import (
    EASE_SECONDS,
    LEGS,
    foot_contacts,
    knee_bend,
    pinned_cores,
    plant_feet,
    two_bone_ik,
)
from dancerev_core.generation.pipeline import finish_dance
from dancerev_core.lifting.skeleton import STANDARD_REST
from dancerev_core.motion import Motion
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import shared_data

FPS = 30.0
LEG_JOINTS = sorted(joint for leg in LEGS.values() for joint in leg[1:])  # knees, ankles, toes
STILL = [j for j in range(24) if j not in LEG_JOINTS]  # everything else, the hips with it


def horizontal_steps(positions: np.ndarray, joints) -> np.ndarray:
    return np.linalg.norm(np.diff(positions[:, joints, :2], axis=0), axis=-1)


def standing_body(frames: int, crouch: float = 0.08) -> np.ndarray:
    """The standard body standing with its toes 5 cm above the floor, its upper body (hips
    and all) lowered by `crouch` metres over its feet and its knees bent forward (-Y)."""
    pose = STANDARD_REST.copy()
    pose[:, 2] -= pose[[J["left_foot"], J["right_foot"]], 2].min() - 0.05
    pose[STILL, 2] -= crouch
    for hip, knee, ankle, _ in LEGS.values():
        thigh = np.linalg.norm(STANDARD_REST[knee] - STANDARD_REST[hip])
        shin = np.linalg.norm(STANDARD_REST[ankle] - STANDARD_REST[knee])
        reach = pose[ankle] - pose[hip]
        distance = np.linalg.norm(reach)
        along = reach / distance
        forward = np.array([0.0, -1.0, 0.0]) - along[1] * -1.0 * along
        forward /= np.linalg.norm(forward)
        cosine = (thigh ** 2 + distance ** 2 - shin ** 2) / (2 * thigh * distance)
        pose[knee] = pose[hip] + thigh * (cosine * along + np.sqrt(1 - cosine ** 2) * forward)
    return np.repeat(pose[None], frames, axis=0)


def swaying(frames: int, amplitude: float = 0.1, period: float = 2.0) -> np.ndarray:
    """The standing body sliding sideways as a whole, feet and all: a skating dance."""
    positions = standing_body(frames)
    positions[..., 0] += amplitude * np.sin(2 * np.pi * np.arange(frames) / FPS / period)[:, None]
    return positions


def test_the_standing_body_is_what_the_tests_think():
    body = standing_body(1)[0]
    assert body[J["left_hip"], 2] - body[J["left_ankle"], 2] == pytest.approx(
        STANDARD_REST[J["left_hip"], 2] - STANDARD_REST[J["left_ankle"], 2] - 0.08)
    np.testing.assert_allclose(bone_lengths(body), bone_lengths(STANDARD_REST), atol=1e-12)
    assert body[J["left_knee"], 1] < body[J["left_hip"], 1] - 0.05  # knees bend forward


# ---------------------------------------------------------------------- two-bone IK
def test_ik_keeps_bone_lengths_and_the_knee_on_its_pole_side():
    rng = np.random.default_rng(0)
    n = 500
    hip = rng.normal(size=(n, 3))
    thigh, shin = rng.uniform(0.3, 0.5, n), rng.uniform(0.3, 0.5, n)
    pole = hip + rng.normal(size=(n, 3))
    target = hip + rng.normal(size=(n, 3)) * 0.4
    knee, ankle = two_bone_ik(hip, pole - hip, target, thigh, shin)
    np.testing.assert_allclose(np.linalg.norm(knee - hip, axis=-1), thigh, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ankle - knee, axis=-1), shin, atol=1e-12)
    reach = np.linalg.norm(target - hip, axis=-1)
    inside = (reach < thigh + shin) & (reach > np.abs(thigh - shin))
    np.testing.assert_allclose(ankle[inside], target[inside], atol=1e-9)
    # out of reach: a straight leg pointing at the target
    along = (target - hip) / reach[:, None]
    np.testing.assert_allclose(ankle[~inside & (reach > thigh)],
                               (hip + (thigh + shin)[:, None] * along)[~inside & (reach > thigh)],
                               atol=1e-9)
    # the knee bends towards the pole: same side of the hip-ankle line, in the same plane
    def across(point):
        offset = point - hip
        return offset - (offset * along).sum(-1, keepdims=True) * along
    knees, poles = across(knee), across(pole)
    bent = (np.linalg.norm(knees, axis=-1) > 1e-6) & (np.linalg.norm(poles, axis=-1) > 1e-6)
    assert bent.mean() > 0.5
    cosine = ((knees[bent] * poles[bent]).sum(-1) / np.linalg.norm(knees[bent], axis=-1)
              / np.linalg.norm(poles[bent], axis=-1))
    np.testing.assert_allclose(cosine, 1.0, atol=1e-9)


def test_ik_to_the_original_ankle_gives_back_the_original_knee():
    body = standing_body(1)[0]
    hip, knee, ankle, _ = LEGS["left"]
    thigh = np.linalg.norm(body[knee] - body[hip])[None]
    shin = np.linalg.norm(body[ankle] - body[knee])[None]
    bend = knee_bend(*(body[None, joint] for joint in LEGS["left"]))
    new_knee, new_ankle = two_bone_ik(body[None, hip], bend, body[None, ankle], thigh, shin)
    np.testing.assert_allclose(new_knee[0], body[knee], atol=1e-12)
    np.testing.assert_allclose(new_ankle[0], body[ankle], atol=1e-12)


def test_a_straight_leg_bends_towards_its_toes():
    straight = STANDARD_REST[None].copy()  # the standard body's legs are straight
    hip, knee, ankle, toe = LEGS["left"]
    straight[0, knee] = (straight[0, hip] + straight[0, ankle]) / 2  # exactly straight
    bend = knee_bend(*(straight[:, joint] for joint in LEGS["left"]))
    assert bend[0, 1] < 0 and abs(bend[0, 1]) > 10 * abs(bend[0, 0])  # forward, like the toes
    target = straight[:, ankle] + [0.0, 0.0, 0.1]  # the foot comes up: the knee must bend
    thigh = np.linalg.norm(straight[:, knee] - straight[:, hip], axis=-1)
    shin = np.linalg.norm(straight[:, ankle] - straight[:, knee], axis=-1)
    new_knee, _ = two_bone_ik(straight[:, hip], bend, target, thigh, shin)
    assert new_knee[0, 1] < straight[0, knee, 1] - 0.05


# ---------------------------------------------------------------------- planting
def assert_only_the_legs_move(before: np.ndarray, after: np.ndarray) -> None:
    np.testing.assert_array_equal(after[:, STILL], before[:, STILL])  # hips' path unchanged
    np.testing.assert_allclose(bone_lengths(after), bone_lengths(before), atol=1e-6, rtol=0)
    assert (soles(after) >= soles(before) - 1e-9).all()  # no foot goes deeper


def test_a_skating_foot_is_planted_and_the_legs_reach_it():
    before = swaying(121)
    assert foot_skating(before, FPS).mean_speed > 0.15
    after = plant_feet(before, FPS)
    assert_only_the_legs_move(before, after)
    contacts = foot_contacts(before, FPS)
    assert {c.side for c in contacts} == {"left", "right"}
    assert all((c.start, c.stop) == (0, len(before)) for c in contacts)  # one spot each
    assert horizontal_steps(after, FEET).max() < 1e-9  # both joints of both feet stay put
    assert foot_skating(after, FPS).mean_speed < 1e-6
    knees = [J["left_knee"], J["right_knee"]]
    assert (after[:, knees, 1] < after[:, [J["left_hip"], J["right_hip"]], 1]).all()  # forward


def test_a_body_that_travels_away_from_its_foot_replants_it():
    """Sliding 2 m while the feet stay low: the leg cannot reach one spot all the way, so
    the foot moves on, spot to spot, each move eased over 2 x EASE_SECONDS."""
    frames = 91
    before = standing_body(frames)
    before[..., 1] -= (2 * np.arange(frames) / (frames - 1))[:, None]  # 2 m in 3 s, forward
    after = plant_feet(before, FPS)
    assert_only_the_legs_move(before, after)
    contacts = [c for c in foot_contacts(before, FPS) if c.side == "left"]
    assert len(contacts) >= 3
    ankle = J["left_ankle"]
    cores = pinned_cores(contacts, round(EASE_SECONDS * FPS))
    for (start, stop), contact in zip(cores, contacts, strict=True):
        assert stop - start > 1
        np.testing.assert_allclose(after[start:stop, ankle, :2],  # the leg reaches the spot
                                   np.broadcast_to(contact.spot, (stop - start, 2)), atol=1e-9)
    # a move of d metres over n >= 2 x EASE_SECONDS x fps + 1 steps on a cosine ease is at
    # most pi / 2 x d / n per step
    spots = np.array([c.spot for c in contacts])
    longest = np.linalg.norm(np.diff(spots, axis=0), axis=-1).max()
    steps = 2 * round(EASE_SECONDS * FPS) + 1
    assert horizontal_steps(after, [ankle]).max() <= np.pi / 2 * longest / steps + 1e-3


def test_easing_in_and_out_makes_no_pops():
    """A foot that steps (down, up, down) and drifts a few cm while down: pinned, no joint
    steps further between two frames than before, give or take a few millimetres (without
    the easing, the foot would jump onto its spot and off it)."""
    frames = 150
    before = standing_body(frames)
    left = [J["left_ankle"], J["left_foot"], J["left_knee"]]
    swing = np.arange(50, 80)  # the left foot lifts 15 cm and steps 30 cm forward
    lift = 0.15 * np.sin(np.pi * (swing - 49) / 31)
    forward = 0.3 * (1 - np.cos(np.pi * (swing - 49) / 31)) / 2
    before[swing[:, None], left, 2] += lift[:, None]
    before[swing[:, None], left, 1] -= forward[:, None]
    before[80:, left, 1] -= 0.3
    drift = np.concatenate([np.linspace(0, 0.06, 50), np.full(30, 0.06),
                            np.linspace(0.06, 0, 70)])
    before[:, left, 0] += drift[:, None]  # the whole lower leg slides as one, 1.2 m/s x 5 cm
    after = plant_feet(before, FPS)
    assert_only_the_legs_move(before, after)
    contacts = [c for c in foot_contacts(before, FPS) if c.side == "left"]
    assert len(contacts) == 2
    # The pin's offset from the original foot (d at most, at a contact's edge) fades over
    # n frames on a cosine: it adds at most pi / 2 x d / (n + 1) to any step of the ankle.
    ease = round(EASE_SECONDS * FPS)
    assert ease >= 4  # a fifth of a second or so: over several frames, not one
    ankle = J["left_ankle"]
    offset = max(np.linalg.norm(np.asarray(c.spot) - before[frame, ankle, :2])
                 for c in contacts for frame in (c.start, c.stop - 1))
    bound = np.pi / 2 * offset / (ease + 1)
    assert bound < horizontal_steps(before, [ankle]).max()  # small beside the foot's own steps
    assert (horizontal_steps(after, [ankle]) <= horizontal_steps(before, [ankle])
            + bound + 1e-9).all()
    steps_after = np.linalg.norm(np.diff(after, axis=0), axis=-1)
    steps_before = np.linalg.norm(np.diff(before, axis=0), axis=-1)
    assert steps_after.max() <= steps_before.max() + bound + 0.002  # knees and toes too
    assert foot_skating(after, FPS).mean_speed < 0.5 * foot_skating(before, FPS).mean_speed


def test_a_jump_is_left_alone():
    frames = 90
    before = standing_body(frames)
    jump = np.arange(30, 60)
    before[jump, :, 2] += (0.4 * np.sin(np.pi * (jump - 29) / 31))[:, None]
    before[jump, :, 1] -= (3.0 * (jump - 29) / FPS)[:, None]  # travelling in the air
    before[60:, :, 1] -= 3.0 * 31 / FPS
    after = plant_feet(before, FPS)
    assert_only_the_legs_move(before, after)
    ease = round(EASE_SECONDS * FPS)
    high = jump[(before[jump][:, FEET, 2].min(axis=1) > 0.05 + 0.08)]  # well above the floor
    inner = high[(high > high[0] + ease) & (high < high[-1] - ease)]
    assert inner.size > 0
    np.testing.assert_array_equal(after[inner], before[inner])  # the flight as it was


def test_nothing_to_plant_comes_back_as_it_was():
    body = standing_body(40)
    body[..., 2] += np.linspace(0, 0.3, 40)[:, None]  # rising steadily: never slow and low
    body[..., 0] += np.linspace(0, 4, 40)[:, None]  # while crossing the stage fast
    assert foot_contacts(body, FPS) == []
    np.testing.assert_array_equal(plant_feet(body, FPS), body)
    np.testing.assert_array_equal(plant_feet(body[:1], FPS), body[:1])


@pytest.mark.parametrize("parts", [("05", "005_02.bvh"), ("61", "61_03_scaled.bvh")])
def test_real_dance_keeps_its_body_and_skates_less(parts):
    motion = read_motion(shared_data("mocap", "cmu", *parts), joints="canonical")
    before = motion.resample(15.0).to_absolute().positions.astype(np.float64)
    after = plant_feet(before, 15.0)
    assert_only_the_legs_move(before, after)
    assert foot_skating(after, 15.0).mean_speed < foot_skating(before, 15.0).mean_speed


# ---------------------------------------------------------------------- the pipeline
def test_finish_dance_plants_the_feet_and_says_so():
    positions = swaying(90)
    dance = Motion(positions=positions.astype(np.float32), fps=FPS, skeleton=CANONICAL_24.name,
                   joint_names=CANONICAL_24.joint_names,
                   meta={"beat_times": [0.4, 0.9, 1.4, 1.9, 2.4]})
    planted = finish_dance(dance, beat_sync=False)
    plain = finish_dance(dance, beat_sync=False, plant_feet=False)
    assert "feet" in planted.meta and "feet" not in plain.meta
    assert "two-bone IK" in planted.meta["feet"]
    np.testing.assert_allclose(planted.positions,
                               plant_feet(plain.positions.astype(np.float64), FPS), atol=1e-5)
    assert foot_skating(planted.positions, FPS).mean_speed < 0.2 * foot_skating(
        plain.positions, FPS).mean_speed
    synced, synced_plain = finish_dance(dance), finish_dance(dance, plant_feet=False)
    assert "beat_sync" in synced.meta and "feet" in synced.meta  # re-timing keeps them planted
    assert foot_skating(synced.positions, FPS).mean_speed < 0.2 * foot_skating(
        synced_plain.positions, FPS).mean_speed
    assert soles(synced.positions).min() >= -0.02
