"""The motion value: resampling, normalisation, filling and mirroring."""

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError
from dancerev_core.motion import Motion, normalize_image_coordinates
from dancerev_core.skeletons import BODY_25, CANONICAL_24, JOINT_SETS


def random_motion(frames=31, fps=30.0, joint_set=CANONICAL_24, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    positions = rng.normal(size=(frames, joint_set.num_joints, joint_set.dims))
    return Motion(positions=positions, fps=fps, skeleton=joint_set.name,
                  joint_names=joint_set.joint_names, **kwargs)


@pytest.mark.parametrize("joint_set", list(JOINT_SETS.values()))
def test_joint_sets_are_trees_with_symmetric_pairs(joint_set):
    assert len(joint_set.parents) == joint_set.num_joints
    assert joint_set.parents.count(-1) == 1
    order = joint_set.topological_order
    assert sorted(order) == list(range(joint_set.num_joints))
    seen = set()
    for joint in order:
        assert joint_set.parents[joint] == -1 or joint_set.parents[joint] in seen
        seen.add(joint)
    permutation = joint_set.mirror_permutation
    assert [permutation[p] for p in permutation] == list(range(joint_set.num_joints))
    for left, right in joint_set.mirror_pairs:
        left_name, right_name = joint_set.joint_names[left], joint_set.joint_names[right]
        assert left_name.lower().replace("left", "l").startswith("l"), left_name
        assert right_name.lower().replace("right", "r").startswith("r"), right_name


def test_body25_is_in_the_papers_order():
    assert BODY_25.joint_names[8] == "MidHip" and BODY_25.root == 8
    assert BODY_25.joint_names[:5] == ("Nose", "Neck", "RShoulder", "RElbow", "RWrist")
    assert BODY_25.joint_names[24] == "RHeel"


def test_resample_is_exact_at_shared_instants():
    motion = random_motion(frames=61, fps=60.0)
    half = motion.resample(30.0)
    assert half.num_frames == 31 and half.fps == 30.0
    np.testing.assert_array_equal(half.positions, motion.positions[::2])
    double = half.resample(60.0)
    np.testing.assert_array_equal(double.positions[::2], half.positions)
    midpoints = (half.positions[:-1].astype(np.float64) + half.positions[1:]) / 2
    np.testing.assert_allclose(double.positions[1::2], midpoints, atol=1e-6)


def test_resample_to_unrelated_rate_keeps_shared_instants():
    motion = random_motion(frames=121, fps=60.0)
    resampled = motion.resample(25.0)  # shared instants every 0.2 s: frames 12k and 5k
    assert resampled.num_frames == 51
    np.testing.assert_array_equal(resampled.positions[::5], motion.positions[::12])
    # Linear interpolation between frames 2 and 3 of the source at t = 1/25 s.
    expected = motion.positions[2] * 0.6 + motion.positions[3] * 0.4
    np.testing.assert_allclose(resampled.positions[1], expected, atol=1e-5)


def test_resample_of_linear_motion_is_linear():
    times = np.arange(16) / 15.0
    positions = np.broadcast_to(times[:, None, None] * 2.0, (16, 24, 3)).astype(np.float32)
    motion = Motion(positions, 15.0, CANONICAL_24.name, CANONICAL_24.joint_names)
    resampled = motion.resample(60.0)
    np.testing.assert_allclose(resampled.positions[:, 0, 0], resampled.times() * 2.0,
                               atol=1e-6)


def test_resample_keeps_missing_keypoints_missing():
    confidence = np.ones((10, 25), np.float32)
    confidence[4, 3] = 0.0
    motion = random_motion(frames=10, fps=15.0, joint_set=BODY_25, confidence=confidence)
    up = motion.resample(30.0)
    assert up.confidence[8, 3] == 0  # the instant of source frame 4
    assert up.confidence[7, 3] == 0 and up.confidence[9, 3] == 0  # its neighbours blend it
    assert up.confidence[5, 3] == 1


def test_root_relative_round_trip():
    motion = random_motion()
    relative = motion.to_root_relative()
    assert relative.root_relative
    np.testing.assert_array_equal(relative.positions[:, 0], motion.positions[:, 0])
    np.testing.assert_allclose(relative.positions[:, 5],
                               motion.positions[:, 5] - motion.positions[:, 0], atol=1e-6)
    np.testing.assert_allclose(relative.to_absolute().positions, motion.positions, atol=1e-6)


def test_body25_root_relative_uses_midhip():
    motion = random_motion(joint_set=BODY_25)
    relative = motion.to_root_relative()
    np.testing.assert_array_equal(relative.positions[:, 8], motion.positions[:, 8])
    np.testing.assert_allclose(relative.positions[:, 1],
                               motion.positions[:, 1] - motion.positions[:, 8], atol=1e-6)


def test_image_normalisation_maps_corners_to_minus_one_and_one():
    positions = np.zeros((1, 25, 2), np.float32)
    positions[0, 0] = (1920, 1080)
    motion = Motion(positions, 15.0, BODY_25.name, BODY_25.joint_names)
    normalised = normalize_image_coordinates(motion, 1920, 1080)
    assert tuple(normalised.positions[0, 0]) == (1.0, 1.0)
    assert tuple(normalised.positions[0, 1]) == (-1.0, -1.0)


def test_fill_missing_interpolates_over_time():
    frames = 11
    positions = np.zeros((frames, 25, 2), np.float32)
    positions[:, :, 0] = np.arange(frames)[:, None]
    confidence = np.ones((frames, 25), np.float32)
    confidence[3:7, 4] = 0.0
    positions[3:7, 4] = 0.0
    confidence[:2, 7] = 0.0  # missing at the start: holds the first detection
    motion = Motion(positions, 15.0, BODY_25.name, BODY_25.joint_names, confidence=confidence)
    filled = motion.fill_missing()
    np.testing.assert_allclose(filled.positions[3:7, 4, 0], [3, 4, 5, 6])
    np.testing.assert_allclose(filled.positions[:2, 7, 0], [2, 2])
    np.testing.assert_array_equal(filled.confidence, confidence)
    assert not np.shares_memory(filled.positions, motion.positions)
    assert motion.positions[4, 4, 0] == 0.0  # the input is untouched


def test_fill_missing_treats_nan_as_missing_and_never_seen_joints_follow_parent():
    positions = np.ones((5, 25, 2), np.float32)
    positions[:, 4] = np.nan  # RWrist never seen: takes RElbow's track
    positions[2, 3] = np.nan
    positions[:, 3, 0] = [0, 1, np.nan, 3, 4]
    filled = Motion(positions, 15.0, BODY_25.name, BODY_25.joint_names).fill_missing()
    assert np.isfinite(filled.positions).all()
    np.testing.assert_allclose(filled.positions[:, 3, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(filled.positions[:, 4], filled.positions[:, 3])


def test_fill_missing_with_nothing_detected_is_a_clear_error():
    confidence = np.zeros((4, 25), np.float32)
    motion = random_motion(frames=4, joint_set=BODY_25, confidence=confidence)
    with pytest.raises(DanceRevError, match="no detected keypoint"):
        motion.fill_missing()


def test_mirror_swaps_sides_and_is_an_involution():
    motion = random_motion()
    mirrored = motion.mirrored()
    left, right = CANONICAL_24.index("left_wrist"), CANONICAL_24.index("right_wrist")
    np.testing.assert_array_equal(mirrored.positions[:, left, 0], -motion.positions[:, right, 0])
    np.testing.assert_array_equal(mirrored.positions[:, left, 1:], motion.positions[:, right, 1:])
    np.testing.assert_array_equal(mirrored.mirrored().positions, motion.positions)


def test_raw_motion_cannot_be_mirrored():
    motion = Motion(np.zeros((2, 3, 3)), 30.0, "raw", ("a", "b", "c"))
    with pytest.raises(DanceRevError, match="raw motion"):
        motion.mirrored()


@pytest.mark.parametrize("bad, message", [
    (dict(positions=np.zeros((0, 24, 3))), "zero frames"),
    (dict(positions=np.zeros((3, 24))), "T x J x 2"),
    (dict(fps=0.0), "fps must be positive"),
    (dict(joint_names=("a",)), "joint names"),
])
def test_invalid_motions_get_one_line_errors(bad, message):
    fields = dict(positions=np.zeros((3, 24, 3)), fps=30.0, skeleton=CANONICAL_24.name,
                  joint_names=CANONICAL_24.joint_names)
    fields.update(bad)
    with pytest.raises(DanceRevError, match=message):
        Motion(**fields)


def test_image_normalisation_of_a_root_relative_motion_keeps_offsets_consistent():
    rng = np.random.default_rng(3)
    pixels = Motion(rng.uniform(0, 640, size=(4, 25, 2)), 15.0, BODY_25.name,
                    BODY_25.joint_names)
    via_relative = normalize_image_coordinates(pixels.to_root_relative(), 640, 480)
    direct = normalize_image_coordinates(pixels, 640, 480).to_root_relative()
    assert via_relative.root_relative
    np.testing.assert_allclose(via_relative.positions, direct.positions, atol=1e-5)
