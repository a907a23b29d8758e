"""`read_motion` and `dancerev convert`: every input kind through one entry point."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.errors import InputFileError
from dancerev_core.formats.motion_npz import load_motion
from dancerev_core.formats.reading import read_motion
from dancerev_core.skeletons import BODY_25, CANONICAL_24
from tests.conftest import REPO_ROOT, shared_data

CC_FILE = ("mocap", "cmu", "05", "005_02.bvh")


def test_convert_bvh_raw_keeps_every_joint_in_file_order(tmp_path):
    source = shared_data(*CC_FILE)
    output = tmp_path / "raw.npz"
    assert main(["convert", str(source), "-o", str(output)]) == 0
    motion = load_motion(output)
    assert motion.skeleton == "raw" and motion.num_joints == 100 and motion.fps == 60.0
    assert motion.joint_names[:3] == ("CC_Base_Hip", "CC_Base_Pelvis", "CC_Base_L_Thigh")
    assert motion.parents[:3] == (-1, 0, 1)
    assert 100 < motion.positions[0, 0, 1] < 110  # centimetres, Y up: the file's own units


def test_convert_bvh_canonical_with_resampling(tmp_path):
    output = tmp_path / "canonical.npz"
    assert main(["convert", str(shared_data(*CC_FILE)), "-o", str(output), "--joints",
                 "canonical", "--fps", "15"]) == 0
    motion = load_motion(output)
    full = read_motion(shared_data(*CC_FILE), joints="canonical")
    assert motion.skeleton == CANONICAL_24.name and motion.fps == 15.0
    np.testing.assert_array_equal(motion.positions, full.positions[::4])


def test_openpose_folder_and_single_frame(tmp_path):
    frame = shared_data("openpose", "im1010_openpose.json")
    folder = tmp_path / "video"
    folder.mkdir()
    for index in range(4):
        shutil.copy(frame, folder / f"video_{index:012d}_keypoints.json")
    motion = read_motion(folder, video_fps=25.0, joints="canonical")
    assert motion.skeleton == BODY_25.name and motion.num_frames == 4 and motion.fps == 25.0
    single = read_motion(frame)
    assert single.num_frames == 1
    np.testing.assert_array_equal(single.positions[0], motion.positions[0])
    np.testing.assert_allclose(single.positions[0, 1], [78.5691, 57.8892], atol=1e-4)


def test_unsupported_and_missing_inputs(tmp_path):
    path = tmp_path / "dance.fbx"
    path.write_bytes(b"Kaydara FBX Binary")
    with pytest.raises(InputFileError, match="unsupported motion file type"):
        read_motion(path)
    with pytest.raises(InputFileError, match="no such file"):
        read_motion(tmp_path / "absent.bvh")


def test_convert_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "cut.bvh"
    bad.write_text("HIERARCHY\nROOT hip\n{\n  OFFSET 0 0")
    result = subprocess.run([sys.executable, "-m", "dancerev_core", "convert", str(bad), "-o",
                             str(tmp_path / "x.npz")], capture_output=True, text=True,
                            cwd=REPO_ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and str(bad) in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.npz").exists()


def test_version_and_help():
    result = subprocess.run([sys.executable, "-m", "dancerev_core", "--help"],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0 and "convert" in result.stdout and "0.1.0" in result.stdout
    result = subprocess.run([sys.executable, "-m", "dancerev_core", "--version"],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.stdout.strip() == "dancerev 0.1.0"


def test_bvh_of_a_rig_family_gets_its_axes_and_units_from_its_rest_pose(tmp_path):
    """A BVH with Mixamo names: the mixamo map states no axes or units, so they are inferred
    from the skeleton (here the CMU Character Creator file renamed: Y up, centimetres)."""
    renames = {
        "CC_Base_Hip": "Hips", "CC_Base_L_Thigh": "LeftUpLeg", "CC_Base_R_Thigh": "RightUpLeg",
        "CC_Base_L_Calf": "LeftLeg", "CC_Base_R_Calf": "RightLeg", "CC_Base_L_Foot": "LeftFoot",
        "CC_Base_R_Foot": "RightFoot", "CC_Base_L_ToeBase": "LeftToeBase",
        "CC_Base_R_ToeBase": "RightToeBase", "CC_Base_Spine01": "Spine",
        "CC_Base_Spine02": "Spine1", "CC_Base_NeckTwist01": "Spine2",
        "CC_Base_NeckTwist02": "Neck", "CC_Base_Head": "Head",
        "CC_Base_L_Clavicle": "LeftShoulder", "CC_Base_R_Clavicle": "RightShoulder",
        "CC_Base_L_Upperarm": "LeftArm", "CC_Base_R_Upperarm": "RightArm",
        "CC_Base_L_Forearm": "LeftForeArm", "CC_Base_R_Forearm": "RightForeArm",
        "CC_Base_L_Hand": "LeftHand", "CC_Base_R_Hand": "RightHand",
        "CC_Base_L_Mid1": "LeftHandMiddle1", "CC_Base_R_Mid1": "RightHandMiddle1",
    }
    text = shared_data(*CC_FILE).read_text()
    for old, new in renames.items():
        text = text.replace(f"JOINT {old}\n", f"JOINT {new}\n").replace(f"ROOT {old}\n",
                                                                        f"ROOT {new}\n")
    path = tmp_path / "mixamo_named.bvh"
    path.write_text(text)
    renamed = read_motion(path, joints="canonical")
    original = read_motion(shared_data(*CC_FILE), joints="canonical")
    assert renamed.meta["joint_map"] == "mixamo"
    same = [CANONICAL_24.index(n) for n in CANONICAL_24.joint_names
            if not n.startswith(("spine", "neck"))]
    np.testing.assert_allclose(renamed.positions[:, same], original.positions[:, same],
                               atol=1e-5)
