"""Rig map files (format v1 and v2), detection, prefix stripping, the structural fallback,
the one-line message for a rig that cannot be mapped, and a user's own map."""

from __future__ import annotations

import json

import pytest

from dancerev_core.errors import DanceRevError, InputFileError
from dancerev_core.joint_maps import builtin_joint_maps, detect_joint_map, load_joint_map
from dancerev_core.retarget import (
    builtin_rig_maps,
    detect_bone_map,
    load_bone_map,
    load_rig_map,
    resolve_bone_map,
    retarget,
    structural_bone_map,
)
from dancerev_core.retarget.rigmaps import match_variant, strip_namespace
from dancerev_core.retarget.structure import name_side, name_tokens
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import REPO_ROOT
from tests.core.test_retarget import (
    SMPLX_NAMES,
    assert_directions,
    build_rig,
    canonical_spec,
    dances,  # noqa: F401 - fixture
    human,
)
from tests.core.test_retarget_rigs import MIXAMO, RIGIFY, UNREAL, rigify_control_rig

RIG_FILES = sorted((REPO_ROOT / "rigs").glob("*.json"))
OWN_NAMES = {"pelvis": "Bassin", "spine1": "Dos1", "spine2": "Dos2", "spine3": "Poitrine",
             "neck": "Cou", "head": "Tete", "L": "G", "R": "D", "collar": "Clavicule{s}",
             "upper_arm": "Bras{s}", "forearm": "AvantBras{s}", "hand": "Main{s}",
             "finger": "Majeur{s}", "thigh": "Cuisse{s}", "shin": "Jambe{s}",
             "foot": "Pied{s}", "toe": "Orteil{s}"}


def test_every_rig_file_reads_as_v1_joint_map_and_as_rig_map():
    assert {p.name for p in RIG_FILES} >= {
        "cmu_character_creator.json", "cmu_daz.json", "mixamo.json", "rigify.json",
        "unreal.json", "smpl.json", "vrm.json", "mpfb2.json"}
    for path in RIG_FILES:
        old = load_joint_map(path)  # the v1 reader still takes every file
        assert set(old.joints) == set(CANONICAL_24.joint_names)
        variants = load_rig_map(path)
        assert variants[0].name == old.name
        for variant in variants:
            for needed in ("pelvis", "left_knee", "right_elbow"):
                assert needed in variant.joints, (variant.name, needed)
    assert [m.name for m in builtin_joint_maps()][:2] == ["cmu_character_creator", "cmu_daz"]
    names = {v.name for v in builtin_rig_maps()}
    assert {"mixamo", "rigify", "rigify/control_rig", "unreal", "unreal/ue5", "smpl",
            "smpl/smpl_addon", "vrm", "vrm/no_upper_chest", "vrm/vroid", "mpfb2",
            "mpfb2/default", "cmu_character_creator", "cmu_daz"} <= names


def test_v1_detection_of_cmu_sources_is_unchanged():
    cc = json.loads((REPO_ROOT / "rigs" / "cmu_character_creator.json").read_text())
    names = sorted({n for v in cc["joints"].values() for n in ([v] if isinstance(v, str) else v)})
    assert detect_joint_map(names).name == "cmu_character_creator"
    with pytest.raises(DanceRevError):
        detect_joint_map([n for n in names if n != "CC_Base_Head"])


def test_every_family_file_states_its_conventions():
    for path in RIG_FILES:
        data = json.loads(path.read_text())
        if data.get("format_version") == 2:
            assert {"rest_pose", "root_motion", "rotation_mode", "extra_bones"} <= set(
                data["conventions"]), path.name


@pytest.mark.parametrize("raw, stripped", [
    ("mixamorig:Hips", "Hips"), ("Armature|mixamorig:LeftArm", "LeftArm"),
    ("Character1:Spine", "Spine"), ("upper_arm.L", "upper_arm.L"),
])
def test_namespaces_are_stripped(raw, stripped):
    assert strip_namespace(raw) == stripped


def test_prefixes_and_case_resolve_to_the_rigs_own_names():
    mixamo = next(v for v in builtin_rig_maps() if v.name == "mixamo")
    names = ["mixamorig_" + n for n in ("Hips", "Spine", "Spine1", "Spine2", "Neck", "Head",
                                        "LeftUpLeg", "RightUpLeg", "LeftArm", "RightArm",
                                        "LeftForeArm", "RightForeArm")] + ["mixamorig_leftleg"]
    bone_map, detected = match_variant(mixamo, names)
    assert detected == 8 and "prefix 'mixamorig_' stripped" in bone_map.how
    assert bone_map.drivers["pelvis"] == "mixamorig_Hips"
    assert bone_map.drivers["left_knee"] == "mixamorig_leftleg"  # joints match any case


@pytest.mark.parametrize("words, side", [
    ("UpperArmL", 1), ("LowerLegR", -1), ("arm_joint_L__3_", 1), ("leg_joint_R_2", -1),
    ("thigh_l", 1), ("upper_arm.R", -1), ("lThigh", 1), ("RightHand", -1), ("J_Bip_L_Foot", 1),
    ("Spine1", 0), ("Hips", 0), ("Palm2L", 1),
])
def test_side_from_names(words, side):
    assert name_side(words) == side, name_tokens(words)


def test_structural_fallback_maps_own_names_and_says_so(dances):  # noqa: F811
    rest = build_rig(canonical_spec(OWN_NAMES, root="Racine"), human("A"))
    bone_map = detect_bone_map(rest)
    assert bone_map.chosen == "structure" and "structural fallback" in bone_map.how
    assert bone_map.drivers["left_shoulder"] == "BrasG"  # G/D say nothing: left is at +X
    assert bone_map.drivers["right_knee"] == "JambeD"
    assert bone_map.drivers["spine3"] == "Poitrine" and bone_map.drivers["head"] == "Tete"
    assert_directions(rest, retarget(dances[0], rest, bone_map), dances[0], expect_driven=19)


def test_structural_fallback_reads_sides_from_positions_without_names():
    spec = canonical_spec(OWN_NAMES)
    anonymous = {row[0]: f"bone{i:02d}" for i, row in enumerate(spec)}
    spec = [(anonymous[b], anonymous.get(p), h, t) for b, p, h, t in spec]
    rest = build_rig(spec, human("T"))
    bone_map = structural_bone_map(rest)
    assert "sides from positions" in bone_map.how
    expected = {"left_shoulder": "BrasG", "right_hip": "CuisseD", "left_ankle": "PiedG"}
    for joint, bone in expected.items():
        assert bone_map.drivers[joint] == anonymous[bone]


def test_unmappable_rig_gets_one_line_listing_what_is_missing():
    spec = [row for row in canonical_spec(OWN_NAMES)
            if not row[0].startswith(("CuisseD", "JambeD", "PiedD", "OrteilD"))]
    rest = build_rig(spec, human("T"))
    with pytest.raises(DanceRevError) as caught:
        detect_bone_map(rest)
    message = str(caught.value)
    assert "\n" not in message
    assert "two leg chains" in message and "--map" in message
    # Mixamo names, but the right leg stops at the thigh: the map and the structure fail.
    mixamo_like = build_rig([row for row in canonical_spec(MIXAMO) if row[0] not in (
        "RightLeg", "RightFoot", "RightToeBase")], human("T"))
    with pytest.raises(DanceRevError) as caught:
        detect_bone_map(mixamo_like)
    message = str(caught.value)
    assert "\n" not in message
    assert "closest rig map mixamo" in message and "right_knee bone" in message


def test_user_map_in_the_same_format(tmp_path, dances):  # noqa: F811
    joints = {"pelvis": "Bassin", "spine1": "Dos1", "spine2": "Dos2", "spine3": "Poitrine",
              "neck": "Cou", "head": "Tete"}
    for side, s in (("left", "G"), ("right", "D")):
        joints.update({f"{side}_collar": f"Clavicule{s}", f"{side}_shoulder": f"Bras{s}",
                       f"{side}_elbow": f"AvantBras{s}", f"{side}_wrist": f"Main{s}",
                       f"{side}_hand": f"Majeur{s}", f"{side}_hip": f"Cuisse{s}",
                       f"{side}_knee": f"Jambe{s}", f"{side}_ankle": f"Pied{s}",
                       f"{side}_foot": f"Orteil{s}"})
    path = tmp_path / "my_rig.json"
    path.write_text(json.dumps({"format": "dancerev.jointmap", "format_version": 2,
                                "name": "my_rig", "detect": ["Bassin", "BrasG"],
                                "joints": joints}))
    rest = build_rig(canonical_spec(OWN_NAMES, root="Racine"), human("T"))
    bone_map = resolve_bone_map(rest, path)
    assert bone_map.chosen == "my_rig" and len(bone_map.drivers) == 24
    assert_directions(rest, retarget(dances[1], rest, bone_map), dances[1], expect_driven=19)
    # A partial user map is fine as long as the solver gets what it needs...
    partial = {k: v for k, v in joints.items() if k not in ("spine1", "left_collar")}
    path.write_text(json.dumps({"format": "dancerev.jointmap", "format_version": 2,
                                "name": "my_rig", "joints": partial}))
    assert "left_collar" not in load_bone_map(rest, path).drivers
    # ... and says what is missing when it does not.
    del partial["left_knee"]
    path.write_text(json.dumps({"format": "dancerev.jointmap", "format_version": 2,
                                "name": "my_rig", "joints": partial}))
    with pytest.raises(DanceRevError, match="left_knee bone"):
        load_bone_map(rest, path)


def test_bad_map_files_fail_with_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "dancerev.jointmap", "format_version": 2,
                                "joints": {"elbow": "Bras"}}))
    with pytest.raises(InputFileError, match="unknown canonical joints: elbow"):
        load_rig_map(path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputFileError, match="not a rig map"):
        load_rig_map(path)
    path.write_text(json.dumps({"format": "dancerev.jointmap", "format_version": 7}))
    with pytest.raises(InputFileError, match="version 7"):
        load_rig_map(path)
    path.write_text(json.dumps({"format": "dancerev.jointmap",
                                "joints": {"pelvis": {"a": 0.5, "b": 0.2}}}))
    with pytest.raises(InputFileError, match="sum to 1"):
        load_rig_map(path)


def test_variants_rank_by_their_detect_names():
    # A full Rigify control rig also holds DEF- deform bones: the control rig must win.
    deform = [(f"DEF-{b}", f"DEF-{p}" if p else None, h, t)
              for b, p, h, t in canonical_spec(RIGIFY)]
    rest = build_rig(rigify_control_rig() + deform, human("A"))
    assert detect_bone_map(rest).chosen == "rigify/control_rig"
    # A UE4 rig is not taken for MPFB2's game engine rig (whose detect needs 'Root').
    ue4 = build_rig(canonical_spec(UNREAL, root="root"), human("T"))
    assert detect_bone_map(ue4).chosen == "unreal"


def test_smpl_names_are_the_canonical_ones():
    rest = build_rig(canonical_spec(SMPLX_NAMES, root="root"), human("T"))
    bone_map = detect_bone_map(rest)
    assert all(bone_map.drivers[j] == j for j in bone_map.drivers if not j.endswith("hand"))
    assert bone_map.points["left_hand"] == {"left_middle1": 1.0}
