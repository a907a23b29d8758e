"""BVH skeletons from any mocap source: shipped joint maps first, then the rig families'
names (namespaces and prefixes stripped), then the skeleton's structure."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.errors import InputFileError
from dancerev_core.formats.bvh import read_bvh
from dancerev_core.formats.motion_npz import load_motion
from dancerev_core.formats.reading import read_motion
from dancerev_core.joint_maps import detect_joint_map
from dancerev_core.retarget.source_map import detect_source_map, position_names
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import REPO_ROOT, shared_data

J = {name: index for index, name in enumerate(CANONICAL_24.joint_names)}
SIDES = {"l": 1.0, "r": -1.0}
# role, parent role, OFFSET in centimetres (Y up, facing +Z, the left side at +X), End Site
BODY = [
    ("hips", None, (0, 95, 0), None),
    ("spine", "hips", (0, 10, 0), None),
    ("spine1", "spine", (0, 12, 0), None),
    ("spine2", "spine1", (0, 12, 0), None),
    ("neck", "spine2", (0, 14, 0), None),
    ("head", "neck", (0, 10, 0), (0, 15, 0)),
] + [row for s, x in SIDES.items() for row in (
    (f"{s}_collar", "spine2", (3 * x, 10, 0), None),
    (f"{s}_upperarm", f"{s}_collar", (12 * x, 0, 0), None),
    (f"{s}_forearm", f"{s}_upperarm", (27 * x, 0, 0), None),
    (f"{s}_hand", f"{s}_forearm", (24 * x, 0, 0), (9 * x, 0, 0)),
    (f"{s}_upleg", "hips", (9 * x, -5, 0), None),
    (f"{s}_leg", f"{s}_upleg", (0, -44, 0), None),
    (f"{s}_foot", f"{s}_leg", (0, -40, 0), None),
    (f"{s}_toe", f"{s}_foot", (0, -4, 13), (0, 0, 6)),
)]
KNEE_BEND, ARM_RAISE = 1, 2  # frames: 0 is the T-pose


def sided(names: dict[str, str | None], left: str, right: str) -> dict[str, str | None]:
    """Role names with `{}` filled in per side (None drops the joint)."""
    out = {}
    for role, name in names.items():
        if role.startswith("side_"):
            for s, word in (("l", left), ("r", right)):
                out[f"{s}_{role[5:]}"] = None if name is None else name.format(word)
        else:
            out[role] = name
    return out


MIXAMO = sided({"hips": "Hips", "spine": "Spine", "spine1": "Spine1", "spine2": "Spine2",
                "neck": "Neck", "head": "Head", "side_collar": "{}Shoulder",
                "side_upperarm": "{}Arm", "side_forearm": "{}ForeArm", "side_hand": "{}Hand",
                "side_upleg": "{}UpLeg", "side_leg": "{}Leg", "side_foot": "{}Foot",
                "side_toe": "{}ToeBase"}, "Left", "Right")
ROKOKO = {**MIXAMO, "l_toe": "LeftToe", "r_toe": "RightToe"}
PLAIN = sided({"hips": "Hips", "spine": "Spine", "spine1": None, "spine2": "Chest",
               "neck": "Neck", "head": "Head", "side_collar": None,
               "side_upperarm": "UpperArm_{}", "side_forearm": "LowerArm_{}", "side_hand": None,
               "side_upleg": "UpperLeg_{}", "side_leg": "LowerLeg_{}", "side_foot": "Foot_{}",
               "side_toe": "Toes_{}"}, "L", "R")
PLAIN_WITH_HANDS = {**PLAIN, **sided({"side_collar": "Shoulder_{}", "side_hand": "Hand_{}",
                                      "side_toe": None}, "L", "R")}


def skeleton(names: dict[str, str | None], prefix: str = "") -> list[tuple]:
    """BODY under `names`: a dropped joint's offset passes to its children, or becomes its
    parent's End Site when it has none (a forearm without a hand ends at the wrist)."""
    rows = {role: [parent, np.array(offset, float), end] for role, parent, offset, end in BODY}
    for role in [role for role, *_ in BODY if names.get(role) is None]:
        parent, offset, end = rows.pop(role)
        children = [row for row in rows.values() if row[0] == role]
        for child in children:
            child[0], child[1] = parent, child[1] + offset
        if not children:
            rows[parent][2] = tuple(offset)
    return [(prefix + names[role], None if parent is None else prefix + names[parent],
             tuple(offset), end) for role, (parent, offset, end) in rows.items()]


def bvh_text(joints: list[tuple], bend: dict[str, tuple[int, str, float]]) -> str:
    """A BVH of `joints` (name, parent, offset, End Site), the first the ROOT with position
    channels; `bend[name] = (frame, axis, degrees)` turns a joint in one frame."""
    lines: list[str] = []
    columns: list[tuple[str, str]] = []

    def write(name: str, parent, offset, end, depth: int) -> None:
        pad = "  " * depth
        channels = ["Zrotation", "Xrotation", "Yrotation"]
        if parent is None:
            channels = ["Xposition", "Yposition", "Zposition"] + channels
        lines.append(f"{pad}{'ROOT' if parent is None else 'JOINT'} {name}\n{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]:g} {offset[1]:g} {offset[2]:g}")
        lines.append(f"{pad}  CHANNELS {len(channels)} {' '.join(channels)}")
        columns.extend((name, channel) for channel in channels)
        for child in joints:
            if child[1] == name:
                write(*child, depth + 1)
        if end is not None:
            lines.append(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET {end[0]:g} {end[1]:g} "
                         f"{end[2]:g}\n{pad}  }}")
        lines.append(f"{pad}}}")

    root = joints[0]
    write(*root, 0)
    frames = np.zeros((3, len(columns)))
    for column, (name, channel) in enumerate(columns):
        if name == root[0] and channel.endswith("position"):
            frames[:, column] = root[2]["XYZ".index(channel[0])]  # absolute root position
        if name in bend and channel == f"{bend[name][1]}rotation":
            frames[bend[name][0], column] = bend[name][2]
    body = "\n".join(" ".join(f"{v:g}" for v in row) for row in frames)
    return ("HIERARCHY\n" + "\n".join(lines) + f"\nMOTION\nFrames: {len(frames)}\n"
            f"Frame Time: 0.033333\n{body}\n")


def write_bvh(tmp_path, names: dict[str, str | None], prefix: str = "",
              root: str | None = None) -> str:
    joints = skeleton(names, prefix)
    if root is not None:  # an extra root at the origin above the hips
        joints = [(root, None, (0.0, 0.0, 0.0), None)] + [
            (name, parent or root, offset, end) for name, parent, offset, end in joints]
    bend = {prefix + names["l_leg"]: (KNEE_BEND, "X", 90.0),
            prefix + names["l_upperarm"]: (ARM_RAISE, "Z", 90.0)}
    path = tmp_path / "take.bvh"
    path.write_text(bvh_text(joints, bend))
    return path


CASES = {
    "mixamo": (MIXAMO, "mixamorig:", None, "mixamo"),
    "mixamo_char_prefix": (MIXAMO, "Char01_", None, "mixamo"),
    "mixamo_armature_namespace": (MIXAMO, "Armature|mixamorig:", None, "mixamo"),
    "rokoko": (ROKOKO, "", None, "mixamo"),
    "plain": (PLAIN, "", "joint_Root", "structure"),
    "plain_with_hands_no_toes": (PLAIN_WITH_HANDS, "", "joint_Root", "structure"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_source_skeleton_reads_as_canonical_metres_z_up_facing_minus_y(tmp_path, case):
    names, prefix, root, expected = CASES[case]
    motion = read_motion(write_bvh(tmp_path, names, prefix, root), joints="canonical")
    x = motion.positions.astype(np.float64)
    assert motion.skeleton == CANONICAL_24.name and motion.meta["units"] == "metres"
    assert motion.meta["joint_map"] == expected, motion.meta["joint_map_how"]
    assert np.isfinite(x).all()
    rest = x[0]
    assert rest[J["pelvis"], 2] == pytest.approx(0.95, abs=1e-4)
    for joint in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist",
                  "hand"):
        assert rest[J[f"left_{joint}"], 0] > 0.02 > -0.02 > rest[J[f"right_{joint}"], 0], joint
    assert rest[J["head"], 2] > rest[J["neck"], 2] > rest[J["spine3"], 2] > rest[
        J["spine2"], 2] > rest[J["spine1"], 2] > rest[J["pelvis"], 2]
    assert rest[J["left_foot"], 1] < rest[J["left_ankle"], 1] - 0.05  # toes forward: -Y
    # the joints a plain skeleton lacks sit apart from their neighbours, in line
    for joint, parent in (("left_hand", "left_wrist"), ("left_foot", "left_ankle"),
                          ("left_collar", "neck"), ("left_shoulder", "left_collar")):
        assert np.linalg.norm(rest[J[joint]] - rest[J[parent]]) > 0.02, joint
    assert rest[J["left_hand"], 0] > rest[J["left_wrist"], 0] > rest[J["left_elbow"], 0]
    knee, ankle = x[KNEE_BEND, J["left_knee"]], x[KNEE_BEND, J["left_ankle"]]
    assert ankle[2] == pytest.approx(knee[2], abs=1e-4)  # the shin is level, behind the knee
    assert ankle[1] - knee[1] == pytest.approx(0.40, abs=1e-4)
    np.testing.assert_allclose(x[KNEE_BEND, J["right_ankle"]], rest[J["right_ankle"]],
                               atol=1e-5)
    shoulder, elbow = x[ARM_RAISE, J["left_shoulder"]], x[ARM_RAISE, J["left_elbow"]]
    np.testing.assert_allclose(elbow - shoulder, [0.0, 0.0, 0.27], atol=1e-4)  # arm straight up


def test_the_meta_says_how_the_skeleton_was_mapped(tmp_path):
    prefixed = read_motion(write_bvh(tmp_path, MIXAMO, "Char01_"), joints="canonical")
    assert "prefix 'Char01_' stripped" in prefixed.meta["joint_map_how"]
    plain = read_motion(write_bvh(tmp_path, PLAIN, root="joint_Root"), joints="canonical")
    how = plain.meta["joint_map_how"]
    assert how.startswith("structural fallback: pelvis 'Hips', chest 'Chest'")
    assert how.endswith("placed from neighbouring joints: spine2, left_collar, left_hand, "
                        "right_collar, right_hand")


def test_placed_joints_follow_the_standard_body(tmp_path):
    """The plain skeleton's spine2 half way up, collars a quarter of the way from the neck to
    the shoulder, hands a third of the forearm past the wrist, toes at the foot's End Site,
    the neck at the start of a head bone that sits on the chest."""
    path = write_bvh(tmp_path, PLAIN, root="joint_Root")
    joint_map, _ = detect_source_map(read_bvh(path))
    assert joint_map.joints["spine2"] == {"Spine": 0.5, "Chest": 0.5}
    assert joint_map.joints["left_collar"] == {"Neck": 0.75, "UpperArm_L": 0.25}
    assert joint_map.joints["left_wrist"] == {"LowerArm_L.end": 1.0}
    assert joint_map.joints["left_hand"] == pytest.approx({"LowerArm_L.end": 1.35,
                                                           "LowerArm_L": -0.35})
    assert joint_map.joints["left_foot"] == {"Toes_L": 1.0}
    no_toes = write_bvh(tmp_path, PLAIN_WITH_HANDS, root="joint_Root")
    joint_map, _ = detect_source_map(read_bvh(no_toes))
    assert joint_map.joints["left_foot"] == {"Foot_L.end": 1.0}
    assert joint_map.joints["left_hand"] == {"Hand_L.end": 1.0}
    no_neck = write_bvh(tmp_path, {**PLAIN, "neck": None}, root="joint_Root")
    joint_map, how = detect_source_map(read_bvh(no_neck))  # the head bone sits on the chest
    assert joint_map.joints["neck"] == {"Head": 1.0}
    assert joint_map.joints["head"] == {"Head": 0.5, "Head.end": 0.5}
    assert "placed from neighbouring joints: neck, spine2" in how


@pytest.mark.parametrize("parts, joint_map", [
    (("mocap", "cmu", "05", "005_01.bvh"), "cmu_character_creator"),
    (("mocap", "cmu", "60", "60_01_scaled.bvh"), "cmu_daz"),
])
def test_cmu_files_map_exactly_as_with_their_shipped_maps(parts, joint_map):
    path = shared_data(*parts)
    bvh = read_bvh(path)
    detected, how = detect_source_map(bvh)
    assert detected == detect_joint_map(position_names(bvh))  # the old detection's answer
    assert detected.name == joint_map and how.startswith(f"joint map {joint_map} ")
    auto = read_motion(path, joints="canonical")
    explicit = read_motion(path, joints="canonical",
                           joint_map=REPO_ROOT / "rigs" / f"{joint_map}.json")
    assert auto.meta["joint_map"] == explicit.meta["joint_map"] == joint_map
    np.testing.assert_array_equal(auto.positions, explicit.positions)


def test_a_skeleton_nothing_maps_gets_one_line_naming_the_file(tmp_path):
    path = tmp_path / "stick.bvh"
    path.write_text(bvh_text([("Hips", None, (0, 95, 0), None), ("Spine", "Hips", (0, 20, 0),
                                                                    None),
                              ("Head", "Spine", (0, 30, 0), (0, 15, 0))], {}))
    with pytest.raises(InputFileError) as caught:
        read_motion(path, joints="canonical")
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "3 joints (Hips, Spine, Head)" in message
    for tried in ("no joint map in rigs/", "no rig family", "structural fallback found no "
                  "pelvis", "--joint-map"):
        assert tried in message


def test_convert_maps_the_plain_skeleton(tmp_path):
    source = write_bvh(tmp_path, PLAIN, root="joint_Root")
    output = tmp_path / "x.npz"
    assert main(["convert", str(source), "-o", str(output), "--joints", "canonical"]) == 0
    motion = load_motion(output)
    assert motion.skeleton == CANONICAL_24.name and motion.num_frames == 3
    assert motion.meta["joint_map"] == "structure"
    assert motion.positions[0, J["pelvis"], 2] == pytest.approx(0.95, abs=1e-4)
