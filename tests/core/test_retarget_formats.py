"""Readers and arithmetic under the retargeting: glTF skins, MPFB2 rigs, Blender's bone
roll, quaternions and Euler angles."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError, InputFileError
from dancerev_core.formats.bvh import axis_rotations
from dancerev_core.formats.gltf_skeleton import GLTF_TO_CANONICAL, read_gltf_skeleton
from dancerev_core.formats.mpfb_rig import read_mpfb_rig
from dancerev_core.retarget import RigRest, rest_from_gltf, rest_from_mpfb, roll_matrices
from dancerev_core.retarget.rotations import (
    continuous_signs,
    euler_to_matrix,
    matrix_to_euler,
    matrix_to_quaternion,
    quaternion_to_matrix,
)
from tests.conftest import shared_data

# Bone matrices Blender 5.0 computed for these tails (head at the origin) and rolls,
# including its special case of a bone pointing along -Y.
BLENDER_ROLLS = [
    ((0.188817, -0.19839, 0.961764), -0.572689,
     [[0.680306, 0.188817, -0.708189], [-0.679865, -0.19839, -0.705992],
      [-0.273801, 0.961764, -0.006596]]),
    ((-0.758316, -0.56362, -0.327552), 1.031969,
     [[0.3255, -0.758316, -0.564807], [0.107973, -0.56362, 0.818947],
      [-0.939357, -0.327552, -0.101581]]),
    ((0.0, -1.0, 0.0), 1.546373,
     [[-0.024421, 0.0, -0.999702], [0.0, -1.0, 0.0], [-0.999702, 0.0, 0.024421]]),
    ((0.0, -1.0, 0.0001), -0.015464,
     [[-0.99988, -2e-06, 0.015463], [2e-06, -1.0, -0.0], [0.015463, 0.0, 0.99988]]),
]


@pytest.mark.parametrize("tail, roll, expected", BLENDER_ROLLS)
def test_roll_matrices_match_blender(tail, roll, expected):
    got = roll_matrices(np.zeros(3), np.array(tail), np.array(roll))
    assert np.abs(got - np.array(expected)).max() < 2e-6


def test_quaternions_round_trip_and_stay_continuous():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    back = matrix_to_quaternion(quaternion_to_matrix(q))
    assert np.allclose(np.abs(np.sum(back * q, axis=1)), 1.0)
    assert (back[:, 0] >= 0).all()
    near_half_turn = quaternion_to_matrix(np.array([[1e-9, 0.0, 0.6, 0.8]]))
    assert np.allclose(matrix_to_quaternion(near_half_turn), [[0, 0, 0.6, 0.8]], atol=1e-6)
    path = np.stack([np.cos(np.linspace(0, 3, 50)), np.sin(np.linspace(0, 3, 50)),
                     np.zeros(50), np.zeros(50)], axis=1)
    flipped = path * np.where(np.arange(50) % 3 == 0, -1, 1)[:, None]
    smooth = continuous_signs(flipped)
    assert (np.sum(smooth[1:] * smooth[:-1], axis=1) > 0).all()


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_round_trip_in_bvh_channel_order(order):
    rng = np.random.default_rng(2)
    angles = rng.uniform(-np.pi, np.pi, (300, 3))
    angles[:, 1] = rng.uniform(-1.5, 1.5, 300)
    matrices = euler_to_matrix(angles, order)
    # BVH's convention: channels listed Z Y X mean R = Rz @ Ry @ Rx
    axes = ["XYZ".index(a) for a in order]
    bvh = axis_rotations(axes[0], angles[:, 0]) @ axis_rotations(
        axes[1], angles[:, 1]) @ axis_rotations(axes[2], angles[:, 2])
    assert np.allclose(matrices, bvh)
    assert np.allclose(euler_to_matrix(matrix_to_euler(matrices, order), order), matrices)
    locked = euler_to_matrix(np.array([[0.3, np.pi / 2, -0.2]]), order)
    assert np.allclose(euler_to_matrix(matrix_to_euler(locked, order), order), locked)


def test_rest_pose_validation():
    good = dict(names=("a", "b"), parents=(-1, 0), heads=np.zeros((2, 3)),
                tails=np.ones((2, 3)), matrices=np.stack([np.eye(3)] * 2),
                object_matrix=np.eye(4))
    RigRest(**good)
    with pytest.raises(DanceRevError, match="cycle"):
        RigRest(**{**good, "parents": (1, 0)})
    with pytest.raises(DanceRevError, match="two bones named"):
        RigRest(**{**good, "names": ("a", "a")})
    with pytest.raises(DanceRevError, match="object matrix"):
        RigRest(**{**good, "object_matrix": np.zeros((4, 4))})


def tiny_gltf(tmp_path, binary: bool) -> object:
    """Three joints under a scaled armature node; the bind pose differs from the nodes."""
    inverse_bind = np.stack([np.eye(4)] * 3)
    inverse_bind[1, :3, 3] = [0, -1, 0]      # bind: joint 1 at y = 1 (glTF up)
    inverse_bind[2, :3, 3] = [-0.5, -1, 0]   # bind: joint 2 at x = 0.5, y = 1
    blob = inverse_bind.transpose(0, 2, 1).astype("<f4").tobytes()  # column-major
    document = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0, 4]}],
        "nodes": [
            {"name": "Armature", "children": [1], "scale": [2, 2, 2]},
            {"name": "Hips", "children": [2], "translation": [0, 0.5, 0]},
            {"name": "Spine", "children": [3], "translation": [0, 0.25, 0]},
            {"name": "Head", "matrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0.25, 0.1, 1]},
            {"name": "Body", "mesh": 0, "skin": 0},
        ],
        "skins": [{"joints": [1, 2, 3], "inverseBindMatrices": 0}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "MAT4"}],
        "bufferViews": [{"buffer": 0, "byteLength": len(blob)}],
        "buffers": [{"byteLength": len(blob)}],
        "meshes": [{"primitives": []}],
    }
    if binary:
        text = json.dumps(document).encode()
        text += b" " * (-len(text) % 4)
        body = (struct.pack("<II", len(text), 0x4E4F534A) + text
                + struct.pack("<II", len(blob), 0x004E4942) + blob)
        path = tmp_path / "tiny.glb"
        path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    else:
        uri = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
        document["buffers"][0]["uri"] = uri
        path = tmp_path / "tiny.gltf"
        path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("binary", [False, True])
def test_gltf_skeleton_nodes_and_bind_pose(tmp_path, binary):
    path = tiny_gltf(tmp_path, binary)
    nodes = read_gltf_skeleton(path, pose="nodes")
    assert nodes.names == ("Hips", "Spine", "Head") and nodes.parents == (-1, 0, 1)
    # glTF (x, y up, z front) -> canonical (x, -z, y), armature scale 2 included
    assert np.allclose(nodes.heads, [[0, 0, 1.0], [0, 0, 1.5], [0, -0.2, 2.0]])
    assert np.allclose(nodes.matrices, GLTF_TO_CANONICAL)  # joints unrotated in glTF
    assert np.allclose(nodes.tails[0], nodes.heads[1])
    bind = read_gltf_skeleton(path)  # inverse bind matrices, placed by the mesh node
    assert np.allclose(bind.heads, [[0, 0, 0], [0, 0, 1], [0.5, 0, 1]])


def test_gltf_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.glb"
    path.write_bytes(b"glTF\x02\x00\x00\x00")
    with pytest.raises(InputFileError, match="broken.glb"):
        read_gltf_skeleton(path)
    path = tmp_path / "noskin.gltf"
    path.write_text(json.dumps({"nodes": [{"name": "a"}]}))
    with pytest.raises(InputFileError, match="skin 0 does not exist"):
        read_gltf_skeleton(path)


def test_shared_gltf_characters_read():
    robot = shared_data("characters", "RobotExpressive.glb")
    bind, nodes = read_gltf_skeleton(robot), read_gltf_skeleton(robot, pose="nodes")
    assert len(bind.names) == 43 and bind.names == nodes.names
    arm = bind.names.index("UpperArmL"), bind.names.index("LowerArmL")
    # the skin was bound in a T-pose; the nodes hold the arms down
    assert abs(bind.heads[arm[1], 2] - bind.heads[arm[0], 2]) < 0.05
    assert nodes.heads[arm[1], 2] < nodes.heads[arm[0], 2] - 0.4
    foot = bind.names.index("FootL")  # Blender-made: a leaf's tail runs along its +Y, forward
    assert (bind.tails[foot] - bind.heads[foot])[1] < -0.2
    cesium = rest_from_gltf(shared_data("characters", "CesiumMan.glb"))
    assert cesium.num_bones == 19
    head = cesium.index["Skeleton_neck_joint_2"]
    assert 1.1 < cesium.heads[head, 2] < 1.3  # Z up, metres: a small human


def test_mpfb_rigs_read_in_both_layouts(tmp_path):
    mixamo = read_mpfb_rig(shared_data("characters", "mpfb2", "rig.mixamo.json"))
    game = read_mpfb_rig(shared_data("characters", "mpfb2", "rig.game_engine.json"))
    assert len(mixamo.names) == 52 and "mixamorig:Hips" in mixamo.names
    assert len(game.names) == 53 and game.parents[game.names.index("thigh_l")] == "pelvis"
    rest = rest_from_mpfb(shared_data("characters", "mpfb2", "rig.mixamo.json"))
    arm = rest.index["mixamorig:LeftArm"]
    assert np.allclose(rest.matrices[arm][:, 1], (rest.tails[arm] - rest.heads[arm])
                       / np.linalg.norm(rest.tails[arm] - rest.heads[arm]))
    path = tmp_path / "rig.json"
    path.write_text(json.dumps({"a": {"head": {"default_position": [0, 0, 0]},
                                      "tail": {"default_position": [0, 0, 1]},
                                      "parent": "ghost"}}))
    with pytest.raises(InputFileError, match="ghost"):
        read_mpfb_rig(path)
