"""`dancerev retarget IN.npz --skeleton TARGET.bvh [--map RIGMAP] -o OUT.bvh`: the dance on
any BVH skeleton, written in that file's own layout and read back by the BVH reader."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.formats.bvh import Bvh, read_bvh, write_bvh
from dancerev_core.formats.motion_npz import save_motion
from dancerev_core.formats.reading import read_motion
from dancerev_core.retarget import retarget_to_bvh
from tests.conftest import shared_data

CC = ("mocap", "cmu", "05", "005_07.bvh")
DAZ = ("mocap", "cmu", "60", "60_03_scaled.bvh")
SEGMENTS = [(a, b) for side in ("left", "right") for a, b in (
    (f"{side}_collar", f"{side}_shoulder"), (f"{side}_shoulder", f"{side}_elbow"),
    (f"{side}_elbow", f"{side}_wrist"), (f"{side}_hip", f"{side}_knee"),
    (f"{side}_knee", f"{side}_ankle"), (f"{side}_ankle", f"{side}_foot"))] + [
    ("right_hip", "left_hip"), ("spine3", "neck")]


def segment_errors(a, b) -> np.ndarray:
    names = a.joint_names
    out = []
    for start, end in SEGMENTS:
        i, j = names.index(start), names.index(end)
        u = a.positions[:, j] - a.positions[:, i]
        v = b.positions[:, j] - b.positions[:, i]
        cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        out.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.stack(out, axis=1)


@pytest.mark.parametrize("dance, skeleton", [(DAZ, CC), (CC, DAZ), (CC, CC)])
def test_cli_retargets_onto_a_bvh_skeleton_that_reads_back(tmp_path, capsys, dance, skeleton):
    motion = read_motion(shared_data(*dance), joints="canonical")
    dance_file = save_motion(motion, tmp_path / "dance.npz")
    out = tmp_path / "out.bvh"
    code = main(["retarget", str(dance_file), "--skeleton", str(shared_data(*skeleton)),
                 "-o", str(out)])
    assert code == 0
    said = capsys.readouterr().out
    assert "wrote" in said and "rig map cmu_" in said
    template, written = read_bvh(shared_data(*skeleton)), read_bvh(out)
    assert written.joints == template.joints  # names, OFFSETs, channels, End Sites
    assert written.num_frames == motion.num_frames and written.fps == motion.fps
    back = read_motion(out, joints="canonical")
    errors = segment_errors(motion, back)
    # Directions come back as danced; what differs is what the skeleton cannot copy
    # (its blended spine point, its own proportions).
    assert errors.mean() < 2.0 and np.percentile(errors, 99) < 10.0, errors.mean(axis=0)
    # Root motion is the dance's scaled to this skeleton's legs, feet on its floor.
    lowest = back.positions[:, :, 2].min(axis=1)
    assert -0.08 < np.median(lowest) < 0.15  # as the CMU files themselves (test_bvh)
    travel = np.linalg.norm(np.ptp(back.positions[:, 0, :2], axis=0))
    dance_travel = np.linalg.norm(np.ptp(motion.positions[:, 0, :2], axis=0))
    legs = {CC: 0.95, DAZ: 0.64}
    assert travel == pytest.approx(dance_travel * legs[skeleton] / legs[dance], rel=0.15)


def test_same_skeleton_round_trip_reproduces_the_dance(tmp_path):
    bvh = read_bvh(shared_data(*CC))
    motion = read_motion(shared_data(*CC), joints="canonical")
    animated, result = retarget_to_bvh(motion, motion.fps, bvh)
    assert result.scale == pytest.approx(100.0, rel=0.02)  # centimetres per metre
    back = read_motion(write_bvh(animated, tmp_path / "same.bvh"), joints="canonical")
    limbs = [i for i, name in enumerate(motion.joint_names)
             if name.endswith(("knee", "ankle", "elbow", "wrist"))]
    offset = (back.positions - motion.positions)[:, limbs] - (
        back.positions - motion.positions)[:, :1]
    assert np.median(np.linalg.norm(offset, axis=-1)) < 0.03  # metres, pelvis-relative


def renamed_bvh(bvh: Bvh, names: dict[str, str]) -> Bvh:
    joints = tuple(replace(j, name=names.get(j.name, j.name)) for j in bvh.joints)
    return Bvh(joints, bvh.frame_time, bvh.channel_values)


def test_user_map_on_the_command_line(tmp_path, capsys):
    daz = read_bvh(shared_data(*DAZ))
    french = {"hip": "Bassin", "abdomen": "Ventre", "chest": "Poitrine", "neck": "Cou",
              "head": "Tete", "lThigh": "CuisseG", "rThigh": "CuisseD", "lShin": "JambeG",
              "rShin": "JambeD", "lFoot": "PiedG", "rFoot": "PiedD", "lCollar": "ClavG",
              "rCollar": "ClavD", "lShldr": "BrasG", "rShldr": "BrasD", "lForeArm": "CoudeG",
              "rForeArm": "CoudeD", "lHand": "MainG", "rHand": "MainD"}
    skeleton = write_bvh(renamed_bvh(daz, french), tmp_path / "french.bvh")
    dance = save_motion(read_motion(shared_data(*CC), joints="canonical").trimmed(0, 120),
                        tmp_path / "dance.npz")
    joints = {"pelvis": "Bassin", "spine2": "Ventre", "spine3": "Poitrine", "neck": "Cou",
              "head": "Tete"}
    for side, s in (("left", "G"), ("right", "D")):
        joints.update({f"{side}_hip": f"Cuisse{s}", f"{side}_knee": f"Jambe{s}",
                       f"{side}_ankle": f"Pied{s}", f"{side}_foot": f"Pied{s}.end",
                       f"{side}_collar": f"Clav{s}", f"{side}_shoulder": f"Bras{s}",
                       f"{side}_elbow": f"Coude{s}", f"{side}_wrist": f"Main{s}"})
    rig_map = tmp_path / "french.json"
    rig_map.write_text(json.dumps({"format": "dancerev.jointmap", "format_version": 2,
                                   "name": "french", "joints": joints}))
    out = tmp_path / "out.bvh"
    assert main(["retarget", str(dance), "--skeleton", str(skeleton), "--map", str(rig_map),
                 "-o", str(out)]) == 0
    assert "rig map french" in capsys.readouterr().out
    assert read_bvh(out).joint_names == read_bvh(skeleton).joint_names
    # Without the map the structure is enough for this skeleton too (names as hints).
    assert main(["retarget", str(dance), "--skeleton", str(skeleton), "-o", str(out)]) == 0
    assert "structural fallback" in capsys.readouterr().out


def test_unmappable_skeleton_fails_with_one_line(tmp_path, capsys):
    daz = read_bvh(shared_data(*DAZ))
    keep = [i for i, j in enumerate(daz.joints) if not j.name.startswith(("r", "l"))
            or j.name.startswith(("lCollar", "lShldr", "lForeArm", "lHand", "lMid"))]
    skeleton = write_bvh(Bvh(
        tuple(replace(daz.joints[i], parent=keep.index(daz.joints[i].parent)
                      if daz.joints[i].parent >= 0 else -1) for i in keep),
        daz.frame_time, daz.channel_values[:, np.concatenate([
            np.arange(daz.channel_offsets[i], daz.channel_offsets[i] + len(daz.joints[i].channels))
            for i in keep])]), tmp_path / "one_armed.bvh")
    dance = save_motion(read_motion(shared_data(*CC), joints="canonical").trimmed(0, 30),
                        tmp_path / "dance.npz")
    code = main(["retarget", str(dance), "--skeleton", str(skeleton), "-o",
                 str(tmp_path / "out.bvh")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "dancerev retarget: error: cannot map" in err and "--map" in err
    assert not (tmp_path / "out.bvh").exists()
