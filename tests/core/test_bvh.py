"""BVH: parsing, forward kinematics, writing, the CMU skeletons and bad files."""

import os

import numpy as np
import pytest

from dancerev_core.errors import InputFileError
from dancerev_core.formats.bvh import Bvh, parse_bvh, read_bvh, write_bvh
from dancerev_core.formats.reading import read_motion
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import shared_data

CC_FILE = ("mocap", "cmu", "05", "005_01.bvh")
DAZ_FILE = ("mocap", "cmu", "60", "60_01_scaled.bvh")

TWO_BONES = """HIERARCHY
ROOT root
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition {order}
  JOINT arm
  {{
    OFFSET 1 0 0
    CHANNELS {arm_channels}
    End Site
    {{
      OFFSET 1 0 0
    }}
  }}
}}
MOTION
Frames: {frames}
Frame Time: 0.033333
{values}
"""


def two_bones(order="Zrotation Yrotation Xrotation", arm_channels="3 Zrotation Xrotation "
              "Yrotation", rows=("0 0 0 0 0 0 0 0 0",)):
    return TWO_BONES.format(order=order, arm_channels=arm_channels, frames=len(rows),
                            values="\n".join(rows))


def end_site(bvh: Bvh) -> np.ndarray:
    positions, names = bvh.positions(include_end_sites=True)
    return positions[:, names.index("arm.end")]


def test_rotation_channels_apply_in_the_listed_order():
    # Rz(90) then Ry(90) in the listed order: R = Rz @ Ry. The arm's end site at (2, 0, 0)
    # goes to Ry: (0, 0, -2), then Rz leaves it: (0, 0, -2).
    zy = parse_bvh(two_bones(order="Zrotation Yrotation Xrotation",
                             rows=["0 0 0 90 90 0 0 0 0"]))
    np.testing.assert_allclose(end_site(zy)[0], [0, 0, -2], atol=1e-9)
    # Listed the other way, R = Ry @ Rz: Rz takes (2,0,0) to (0,2,0), Ry leaves it.
    yz = parse_bvh(two_bones(order="Yrotation Zrotation Xrotation",
                             rows=["0 0 0 90 90 0 0 0 0"]))
    np.testing.assert_allclose(end_site(yz)[0], [0, 2, 0], atol=1e-9)
    assert zy.fps == 30.0


def test_root_translation_and_child_rotation_compose():
    bvh = parse_bvh(two_bones(rows=["5 1 2 0 0 0 90 0 0"]))  # arm: Zrotation 90
    positions, names = bvh.positions(include_end_sites=True)
    np.testing.assert_allclose(positions[0, names.index("root")], [5, 1, 2])
    np.testing.assert_allclose(positions[0, names.index("arm")], [6, 1, 2])
    np.testing.assert_allclose(positions[0, names.index("arm.end")], [6, 2, 2], atol=1e-9)


def test_position_channels_on_a_child_joint():
    text = two_bones(arm_channels="6 Xposition Yposition Zposition Zrotation Xrotation "
                                  "Yrotation", rows=["0 0 0 0 0 0 1 3 0 0 0 0",
                                                     "0 0 0 0 0 0 1 4 0 0 0 0"])
    bvh = parse_bvh(text)
    positions, names = bvh.positions()
    np.testing.assert_allclose(positions[:, names.index("arm")], [[1, 3, 0], [1, 4, 0]])


def test_position_channels_relative_to_offset_are_detected():
    # Root OFFSET holds the height and the channels hover around zero (CMU CC files).
    text = two_bones(rows=["0 0.5 0 0 0 0 0 0 0", "0 -0.5 0 0 0 0 0 0 0"]).replace(
        "ROOT root\n{\n  OFFSET 0 0 0", "ROOT root\n{\n  OFFSET 0 100 0")
    bvh = parse_bvh(text)
    assert bvh.translation_adds_offset == (True, False)
    positions, _ = bvh.positions()
    np.testing.assert_allclose(positions[:, 0, 1], [100.5, 99.5])


@pytest.mark.parametrize("parts, joints, fps", [(CC_FILE, 100, 60.0), (DAZ_FILE, 43, 120.0)])
def test_cmu_files_read_write_read_round_trip(tmp_path, parts, joints, fps):
    path = shared_data(*parts)
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    bvh = read_bvh(path)
    assert (len(bvh.joints), bvh.fps) == (joints, fps)
    written = read_bvh(write_bvh(bvh, tmp_path / "copy.bvh"))
    assert written.joint_names == bvh.joint_names and written.parents == bvh.parents
    assert [j.channels for j in written.joints] == [j.channels for j in bvh.joints]
    original, _ = bvh.positions(include_end_sites=True)
    again, _ = written.positions(include_end_sites=True)
    assert np.abs(again - original).max() <= 1e-4 * bvh.skeleton_size()
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before  # input untouched


@pytest.mark.parametrize("parts, joint_map, height_range", [
    (CC_FILE, "cmu_character_creator", (1.5, 1.9)),
    (DAZ_FILE, "cmu_daz", (1.2, 1.6)),
])
def test_cmu_skeletons_map_onto_canonical_joints(parts, joint_map, height_range):
    motion = read_motion(shared_data(*parts), joints="canonical")
    assert motion.skeleton == CANONICAL_24.name and motion.meta["joint_map"] == joint_map
    positions = motion.positions
    index = CANONICAL_24.index
    # Z up: the head is above the pelvis, the pelvis above the ankles, in every frame.
    assert (positions[:, index("head"), 2] > positions[:, index("pelvis"), 2]).mean() > 0.95
    # Feet on the ground: the lowest joint is near z = 0 (metres) most of the time.
    lowest = positions[:, :, 2].min(axis=1)
    assert -0.08 < np.median(lowest) < 0.15
    # Standing height in metres: head top is a little above the head joint.
    assert height_range[0] < np.median(positions[:, index("head"), 2]) + 0.1 < height_range[1]
    # Left is the character's left whatever its heading: in the canonical frame left (+X)
    # cross forward (-Y) points down (-Z), so hip line x toe direction must point down.
    hips = positions[:, index("left_hip")] - positions[:, index("right_hip")]
    toes = positions[:, index("left_foot")] - positions[:, index("left_ankle")]
    assert (np.cross(hips, toes)[:, 2] < 0).mean() > 0.8
    bone = np.linalg.norm(positions[:, index("left_knee")] - positions[:, index("left_hip")],
                          axis=1)
    assert bone.std() < 0.02 * bone.mean() + 1e-3  # rigid bones: FK is consistent


def test_cc_first_frame_faces_minus_y_with_left_at_plus_x():
    motion = read_motion(shared_data(*CC_FILE), joints="canonical")
    first = motion.positions[0]
    index = CANONICAL_24.index
    assert first[index("left_hip"), 0] > first[index("right_hip"), 0] + 0.1
    toe_direction = first[index("left_foot")] - first[index("left_ankle")]
    assert toe_direction[1] < -0.05  # toes point forward, towards -Y


BAD_FILES = {
    "empty": ("", "file is empty"),
    "no motion": ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation "
                  "Zrotation\n", "no MOTION section"),
    "truncated hierarchy": ("HIERARCHY\nROOT a\n{\n OFFSET 0 0\nMOTION\nFrames: 1\n",
                            "ends inside the HIERARCHY"),
    "truncated frames": (two_bones(rows=["0"] * 1).replace("Frames: 1", "Frames: 3")
                         .replace("\n0\n", "\n0 0 0 0 0 0 0 0 0\n"),
                         "declares 3 frames but has 1"),
    "wrong channel count": (two_bones(rows=["0 0 0 0 0 0 0 0"]), "8 values"),
    "nan": (two_bones(rows=["0 0 0 0 nan 0 0 0 0"]), "NaN"),
    "zero frames": (two_bones(rows=[]).replace("Frames: 0", "Frames: 0"), "declares 0 frames"),
    "bad channel": (two_bones(order="Wrotation Yrotation Xrotation"), "unknown channel"),
    "not numbers": (two_bones(rows=["0 0 0 0 zero 0 0 0 0"]), "not numbers|has"),
    "bad frame time": (two_bones().replace("0.033333", "-1"), "Frame Time must be positive"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_bvh_files_get_one_line_errors(tmp_path, name):
    text, message = BAD_FILES[name]
    path = tmp_path / f"{name.replace(' ', '_')}.bvh"
    path.write_text(text)
    with pytest.raises(InputFileError, match=message) as caught:
        read_bvh(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_binary_file_renamed_bvh(tmp_path):
    path = tmp_path / "song.bvh"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputFileError, match="not a text file"):
        read_bvh(path)


def test_truncated_real_file(tmp_path):
    source = shared_data(*CC_FILE)
    data = source.read_bytes()
    path = tmp_path / "cut.bvh"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputFileError, match="truncated|values"):
        read_bvh(path)
