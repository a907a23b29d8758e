"""AIST++ pickles: SMPL forward kinematics, keypoints3d, COCO-17 rules, and refused pickles."""

import os
import pickle

import numpy as np
import pytest

from dancerev_core.errors import InputFileError
from dancerev_core.formats.aistpp import (
    COCO17_JOINTS,
    REST_OFFSETS,
    coco17_to_canonical,
    read_aistpp,
)
from dancerev_core.formats.safe_pickle import safe_load_pickle
from dancerev_core.skeletons import CANONICAL_24

J = CANONICAL_24.index
C = COCO17_JOINTS.index


def write_pickle(path, data, protocol=4):
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


def rest_positions():
    """Rest joints relative to the model origin: offsets summed down the tree."""
    positions = np.zeros((24, 3))
    for joint, parent in enumerate(CANONICAL_24.parents):
        positions[joint] = REST_OFFSETS[joint] + (positions[parent] if parent >= 0 else 0)
    return positions


def smpl_data(frames=3, poses=None, trans=(1.0, 2.0, 3.0), scaling=2.0):
    return {
        "smpl_poses": np.zeros((frames, 72)) if poses is None else poses,
        "smpl_trans": np.tile(np.asarray(trans, dtype=np.float64), (frames, 1)),
        "smpl_scaling": np.array([scaling]),
        "smpl_loss": np.float64(0.5),
    }


def test_zero_rotations_give_the_translated_rest_pose(tmp_path):
    path = write_pickle(tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", smpl_data())
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    motion = read_aistpp(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert motion.skeleton == "canonical24" and motion.fps == 60.0 and motion.num_frames == 3
    # AIST++ (1, 2, 3) / 2 in Y-up, facing +Z is (0.5, -1.5, 1.0) in canonical axes.
    expected = rest_positions() + np.array([0.5, -1.5, 1.0])
    np.testing.assert_allclose(motion.positions[1], expected, atol=1e-6)
    frame = motion.positions[0]
    assert frame[J("left_hip"), 0] > frame[J("right_hip"), 0]  # the person's left is +x
    assert frame[J("head"), 2] > frame[J("pelvis"), 2] > frame[J("left_ankle"), 2]  # Z up
    assert frame[J("left_foot"), 1] < frame[J("left_ankle"), 1]  # toes point to -Y
    height = frame[J("head"), 2] - frame[J("left_foot"), 2]
    assert 1.3 < height < 1.7  # head joint to ball of foot, for a ~1.7 m adult


def test_root_turned_90_degrees_about_vertical(tmp_path):
    poses = np.zeros((1, 72))
    poses[0, 1] = np.pi / 2  # +90 degrees about AIST++'s Y (up): forward +Z turns to +X
    motion = read_aistpp(write_pickle(tmp_path / "turn.pkl", smpl_data(1, poses, (0, 0, 0))))
    frame = motion.positions[0].astype(np.float64)
    rest = rest_positions()
    # About canonical Z (up), +90 degrees: (x, y, z) -> (-y, x, z), around the pelvis.
    relative = rest - rest[J("pelvis")]
    turned = np.stack([-relative[:, 1], relative[:, 0], relative[:, 2]], axis=1)
    np.testing.assert_allclose(frame - frame[J("pelvis")], turned, atol=1e-6)
    np.testing.assert_allclose(frame[J("pelvis")], rest[J("pelvis")], atol=1e-6)
    assert frame[J("left_hip"), 1] > frame[J("pelvis"), 1] + 0.05  # left now at +y
    assert frame[J("left_foot"), 0] > frame[J("left_ankle"), 0] + 0.05  # facing +x


def test_knee_flexion_moves_the_ankle_back(tmp_path):
    poses = np.zeros((1, 24, 3))
    poses[0, J("left_knee")] = (np.pi / 2, 0.0, 0.0)  # SMPL knee bend: about +X
    motion = read_aistpp(write_pickle(tmp_path / "knee.pkl",
                                      smpl_data(1, poses.reshape(1, 72), (0, 0, 0))))
    frame = motion.positions[0]
    rest = rest_positions()
    np.testing.assert_allclose(frame[J("left_knee")], rest[J("left_knee")], atol=1e-6)
    shin = frame[J("left_ankle")] - frame[J("left_knee")]
    np.testing.assert_allclose(shin, [0.0, 0.40, 0.02], atol=1e-6)  # backward is +Y
    np.testing.assert_allclose(frame[J("right_ankle")], rest[J("right_ankle")], atol=1e-6)


@pytest.mark.parametrize("protocol", range(6))
def test_every_pickle_protocol_loads(tmp_path, protocol):
    path = write_pickle(tmp_path / "p.pkl", smpl_data(2), protocol=protocol)
    assert read_aistpp(path, fps=30.0).fps == 30.0


def coco_keypoints_cm(frames=2):
    """A standing person in AIST++ axes (Y up, facing +Z, left at +X), centimetres."""
    points = {
        "nose": (0, 160, 10), "left_eye": (3, 163, 8), "right_eye": (-3, 163, 8),
        "left_ear": (7, 160, 0), "right_ear": (-7, 160, 0),
        "left_shoulder": (19, 140, 0), "right_shoulder": (-19, 140, 0),
        "left_elbow": (45, 140, 0), "right_elbow": (-45, 140, 0),
        "left_wrist": (70, 140, 0), "right_wrist": (-70, 140, 0),
        "left_hip": (9, 90, 0), "right_hip": (-9, 90, 0), "left_knee": (9, 50, 0),
        "right_knee": (-9, 50, 0), "left_ankle": (9, 10, 0), "right_ankle": (-9, 10, 0),
    }
    one = np.array([points[name] for name in COCO17_JOINTS], dtype=np.float64)
    return np.stack([one + (0, 0, 5 * t) for t in range(frames)])


def test_keypoints3d_in_centimetres(tmp_path):
    keypoints = coco_keypoints_cm()
    path = write_pickle(tmp_path / "kp.pkl", {"keypoints3d": keypoints,
                                              "keypoints3d_optim": keypoints})
    motion = read_aistpp(path)
    assert motion.skeleton == "coco17" and motion.joint_names == COCO17_JOINTS
    assert motion.meta["source_units"] == "cm"
    x, y, z = keypoints[1, C("nose")] / 100.0
    np.testing.assert_allclose(motion.positions[1, C("nose")], (x, -z, y), atol=1e-6)


def test_keypoints3d_in_metres_stay_metres(tmp_path):
    path = write_pickle(tmp_path / "kp.pkl", {"keypoints3d": coco_keypoints_cm() / 100.0})
    motion = read_aistpp(path)
    assert motion.meta["source_units"] == "m"
    np.testing.assert_allclose(motion.positions[0, C("left_hip")], (0.09, 0.0, 0.90),
                               atol=1e-6)


def test_coco17_to_canonical_rules(tmp_path):
    coco = read_aistpp(write_pickle(tmp_path / "kp.pkl", {"keypoints3d": coco_keypoints_cm()}))
    canonical = coco17_to_canonical(coco)
    assert canonical.skeleton == "canonical24" and canonical.meta["approximate"]
    src, out = coco.positions[0].astype(np.float64), canonical.positions[0]
    pelvis = (src[C("left_hip")] + src[C("right_hip")]) / 2
    neck = (src[C("left_shoulder")] + src[C("right_shoulder")]) / 2
    np.testing.assert_allclose(out[J("pelvis")], pelvis, atol=1e-6)
    np.testing.assert_allclose(out[J("neck")], neck, atol=1e-6)
    np.testing.assert_allclose(out[J("spine2")], (pelvis + neck) / 2, atol=1e-6)
    np.testing.assert_allclose(out[J("left_collar")], (neck + src[C("left_shoulder")]) / 2,
                               atol=1e-6)
    np.testing.assert_allclose(out[J("head")], (src[C("left_ear")] + src[C("right_ear")]) / 2,
                               atol=1e-6)
    np.testing.assert_allclose(out[J("left_knee")], src[C("left_knee")], atol=1e-6)
    forearm = src[C("left_wrist")] - src[C("left_elbow")]
    np.testing.assert_allclose(out[J("left_hand")], src[C("left_wrist")] + 0.32 * forearm,
                               atol=1e-6)
    # Facing -Y (AIST++ +Z): the foot is 0.12 m in front of the ankle and 0.06 m lower.
    np.testing.assert_allclose(out[J("right_foot")] - src[C("right_ankle")],
                               (0.0, -0.12, -0.06), atol=1e-6)


# ---------------------------------------------------------------------- bad files
@pytest.mark.parametrize("change, problem", [
    (lambda d: d.pop("smpl_trans"), "has smpl_poses but no smpl_trans"),
    (lambda d: d.update(smpl_poses=np.zeros((3, 69))), "smpl_poses has shape"),
    (lambda d: d.update(smpl_trans=np.zeros((2, 3))), "smpl_trans has shape"),
    (lambda d: d.update(smpl_scaling=np.array([0.0])), "smpl_scaling must be one positive"),
    (lambda d: d["smpl_poses"].__setitem__((1, 4), np.nan), "smpl_poses has NaN"),
    (lambda d: d.update(smpl_poses=np.array(["a"])), "smpl_poses is not an array of numbers"),
    (lambda d: [d.pop(k) for k in list(d)], "expected smpl_poses"),
])
def test_bad_smpl_files(tmp_path, change, problem):
    data = smpl_data()
    change(data)
    path = write_pickle(tmp_path / "bad.pkl", data)
    with pytest.raises(InputFileError, match=problem) as error:
        read_aistpp(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_bad_keypoint_and_unreadable_files(tmp_path):
    wrong = write_pickle(tmp_path / "kp.pkl", {"keypoints3d": np.zeros((4, 18, 3))})
    with pytest.raises(InputFileError, match="expected T x 17 x 3"):
        read_aistpp(wrong)
    nan = coco_keypoints_cm()
    nan[0, 3, 1] = np.nan
    with pytest.raises(InputFileError, match="keypoints3d has NaN"):
        read_aistpp(write_pickle(tmp_path / "nan.pkl", {"keypoints3d": nan}))
    with pytest.raises(InputFileError, match="expected a dict"):
        read_aistpp(write_pickle(tmp_path / "list.pkl", [np.zeros(3)]))
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(InputFileError, match="file is empty"):
        read_aistpp(tmp_path / "empty.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(InputFileError, match="not a readable pickle"):
        read_aistpp(tmp_path / "junk.pkl")
    with pytest.raises(InputFileError, match="no such file"):
        read_aistpp(tmp_path / "absent.pkl")


# ---------------------------------------------------------------------- hostile pickles
class RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class RunsEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload, refused", [(RunsShell, r"\w+\.system"),
                                              (RunsEval, r"builtins\.eval")])
def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path, payload, refused):
    marker = tmp_path / "marker"
    data = smpl_data()
    data["smpl_loss"] = payload(marker)  # hidden among real arrays, as an attack would be
    path = write_pickle(tmp_path / "evil.pkl", data)
    with pytest.raises(InputFileError, match=f"refuses to unpickle {refused}: only numpy "
                                             "arrays and plain containers are allowed") as error:
        read_aistpp(path)
    assert "\n" not in str(error.value)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the payload is real: a plain unpickler runs it
    assert marker.exists()


def test_other_numpy_globals_are_refused(tmp_path):
    path = write_pickle(tmp_path / "load.pkl", {"f": np.load})
    with pytest.raises(InputFileError, match="refuses to unpickle numpy.*load"):
        safe_load_pickle(path)
