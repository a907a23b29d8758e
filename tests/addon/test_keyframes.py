"""Dance keyframes on real rigs, evaluated by Blender itself.

Rigs: Rigify's human metarig, a generated Rigify control rig (FK through its switches), a
Mixamo-named rig built here the way FBX imports arrive (centimetres, Y up, object rotated
and scaled), and the shared glTF characters with their own animations. After applying a
real CMU dance, frames are set and the evaluated pose bones' world directions are
compared with the dance's (mean under 2 degrees) and, on rigs without constraints, with
the core's own forward kinematics; the user's Action is checked key for key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from tests.addon.conftest import needs_audio
from tests.conftest import REPO_ROOT, shared_data

bpy = pytest.importorskip("bpy")

import addon_utils  # noqa: E402 - Blender's, importable once bpy is
import mathutils  # noqa: E402
from bpy_extras import anim_utils  # noqa: E402

from addon import armature, compat, keyframes  # noqa: E402
from dancerev_core.formats.reading import read_motion  # noqa: E402
from dancerev_core.retarget import (  # noqa: E402
    detect_bone_map,
    rest_points,
    retarget,
    similarity_matrix,
)
from dancerev_core.retarget.rotations import euler_to_matrix, matrix_to_quaternion  # noqa: E402
from dancerev_core.retarget.solver import as_positions  # noqa: E402
from tests.core.test_retarget import (  # noqa: E402
    LIMBS,
    SPINE_CHAIN,
    J,
    canonical_spec,
    forward_kinematics,
    human,
    point,
)
from tests.core.test_retarget_rigs import MIXAMO, renamed, with_extras  # noqa: E402

SAMPLES = 12  # frames evaluated per check


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def empty_file():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.context.scene.render.fps = 30
    yield


@pytest.fixture(scope="module")
def dance():
    """Real modern dance: CMU 5/02 (60 fps, 9.4 s) as canonical joints."""
    return read_motion(shared_data("mocap", "cmu", "05", "005_02.bvh"), joints="canonical")


def new_metarig(name: str) -> bpy.types.Object:
    bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.active_object
    rig.name = name
    return rig


@pytest.fixture(scope="module")
def metarig():
    return new_metarig("Metarig")


@pytest.fixture(scope="module")
def control_rig():
    """A generated Rigify control rig (about 4 s: the only one in this module)."""
    source = new_metarig("Metarig for generation")
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    assert rig != source and len(rig.data.bones) > 600
    rig.name = "Control rig"
    source.hide_set(True)
    return rig


def armature_from_rows(name: str, rows: list[tuple], points: dict, object_matrix: np.ndarray,
                       seed: int = 0) -> bpy.types.Object:
    """An armature object from (bone, parent, head, tail) rows in world metres, its bones
    stored in the object's own space (object_matrix), rolls random."""
    rng = np.random.default_rng(seed)
    inverse = np.linalg.inv(object_matrix)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    obj.matrix_world = mathutils.Matrix(object_matrix.tolist())
    bpy.context.view_layer.objects.active = obj
    with bpy.context.temp_override(active_object=obj, object=obj):
        bpy.ops.object.mode_set(mode="EDIT")
        for bone, _, head, tail in rows:
            edit = data.edit_bones.new(bone)
            edit.head = inverse[:3, :3] @ point(points, head) + inverse[:3, 3]
            edit.tail = inverse[:3, :3] @ point(points, tail) + inverse[:3, 3]
            edit.roll = rng.uniform(-np.pi, np.pi)
        for bone, parent, _, _ in rows:
            if parent:
                data.edit_bones[bone].parent = data.edit_bones[parent]
        bpy.ops.object.mode_set(mode="OBJECT")
    return obj


@pytest.fixture(scope="module")
def mixamo_rig():
    """Mixamo names (mixamorig:), T-pose, fingers; centimetres, Y up, as an FBX import has
    it: the object turns Y up into Z up and scales by 0.01."""
    rows = renamed(with_extras(canonical_spec(MIXAMO), MIXAMO), "mixamorig:")
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    return armature_from_rows("Mixamo rig", rows, human("T"), similarity_matrix(tilt, 0.01))


def import_gltf(name: str) -> bpy.types.Object:
    before = set(bpy.data.objects)
    bpy.ops.import_scene.gltf(filepath=str(shared_data("characters", name)))
    (rig,) = [obj for obj in set(bpy.data.objects) - before if obj.type == "ARMATURE"]
    return rig


@pytest.fixture(scope="module")
def robot():
    return import_gltf("RobotExpressive.glb")


@pytest.fixture(scope="module")
def cesium_man():
    return import_gltf("CesiumMan.glb")


# -------------------------------------------------------------------------- helpers
def scene_dance(dance, scene=None):
    """The dance at the scene's rate, its joint positions, and the scene frame of each."""
    scene = scene or bpy.context.scene
    resampled = keyframes.resample_for_scene(dance, scene)
    return resampled, as_positions(resampled), keyframes.scene_frames(resampled.times(), scene)


def aims(points: np.ndarray) -> dict[str, tuple[str, str]]:
    """Per driven joint, the two canonical joints whose line the bone should follow."""
    has = {j for j in J if np.isfinite(points[J[j]]).all()}
    found = {"pelvis": ("right_hip", "left_hip")}
    spine = [j for j in SPINE_CHAIN if j in has]
    found.update({j: (j, spine[i + 1]) for i, j in enumerate(spine[:-1]) if j != "head"})
    for chain in LIMBS:
        found.update({a: (a, b) for a, b in zip(chain, chain[1:], strict=False)
                      if a in has and b in has})
    return found


def rest_world(rest) -> np.ndarray:
    matrices = np.zeros((rest.num_bones, 4, 4))
    matrices[:, :3, :3] = rest.matrices
    matrices[:, :3, 3] = rest.heads
    matrices[:, 3, 3] = 1.0
    return rest.object_matrix @ matrices


def evaluated_poses(obj, frames: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Blender's world pose matrices (S x B x 4 x 4) at the sampled dance frames."""
    poses = []
    for k in samples:
        bpy.context.scene.frame_set(int(frames[k]))
        poses.append(armature.pose_matrices(obj))
    return np.stack(poses)


def direction_errors(rest, result, positions: np.ndarray, poses: np.ndarray,
                     samples: np.ndarray) -> dict[str, np.ndarray]:
    """Degrees between each driven bone's evaluated direction and the dance's (as
    tests/core/test_retarget.py measures it, with Blender's pose instead of our FK)."""
    points = rest_points(rest, result.bone_map)
    targets = aims(points)
    at_rest = rest_world(rest)
    errors = {}
    for joint, bone in result.bone_map.drivers.items():
        if joint not in targets:
            continue
        start, end = targets[joint]
        b = rest.index[bone]
        moved = poses[:, b] @ np.linalg.inv(at_rest[b])

        def carry(name: str, moved: np.ndarray = moved) -> np.ndarray:
            return moved[:, :3, :3] @ rest.to_world(points[J[name]]) + moved[:, :3, 3]

        got = carry(end) - carry(start)
        want = positions[samples, J[end]] - positions[samples, J[start]]
        cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(
            want, axis=-1)
        errors[joint] = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    return errors


def assert_same_pose(poses: np.ndarray, ours: np.ndarray, rest, bones) -> None:
    """Blender's evaluated pose equals the core's forward kinematics (world metres; the
    object's scale divided out of the axes)."""
    scale = abs(np.linalg.det(rest.object_matrix[:3, :3])) ** (1 / 3)
    poses, ours = poses[:, bones], ours[:, bones]
    axes = np.abs(poses[..., :3, :3] - ours[..., :3, :3]).max() / scale
    gaps = np.abs(poses[..., :3, 3] - ours[..., :3, 3]).max(axis=(0, 2))
    worst = {rest.names[b]: round(float(g), 3) for b, g in zip(bones, gaps, strict=True)
             if g > 1e-4}
    assert axes < 1e-4 and gaps.max() < 1e-4, (axes, gaps.max(), worst)


def assert_follows(obj, dance, expect_driven: int, bone_map=None):
    """Apply the dance, evaluate it in Blender, check directions and that Blender's pose is
    the core's own forward kinematics; returns the Action and the retargeting."""
    rest = armature.armature_rest(obj)
    moving, positions, frames = scene_dance(dance)
    result = retarget(moving, rest, bone_map)
    action = keyframes.apply_dance(obj, result, frames, name=f"DanceRev test {obj.name}")
    samples = np.linspace(0, len(frames) - 1, SAMPLES).astype(int)
    poses = evaluated_poses(obj, frames, samples)
    errors = direction_errors(rest, result, positions, poses, samples)
    assert len(errors) >= expect_driven, sorted(errors)
    every = np.concatenate(list(errors.values()))
    assert every.mean() < 2.0 and every.max() < 10.0, str({
        k: (round(float(v.mean()), 2), round(float(v.max()), 2)) for k, v in errors.items()})
    # Bones under constraints are what the rig makes of them (Rigify's ORG bones follow
    # its controls), which the core's plain FK does not model.
    free = [b for b in np.flatnonzero(result.keyed)
            if not obj.pose.bones[rest.names[b]].constraints]
    ours = forward_kinematics(rest, result, result.bone_map.copy_transforms)[samples]
    assert_same_pose(poses, ours, rest, free)
    return action, result


def fcurves(action, slot=None):
    if hasattr(action, "slots"):
        slot = slot or action.slots[0]
        return anim_utils.action_get_channelbag_for_slot(action, slot).fcurves
    return action.fcurves


def snapshot(action) -> dict:
    """Every key of every F-curve of every slot, to compare an Action before and after."""
    if compat.SLOTTED_ACTIONS:
        bags = [(slot.identifier, anim_utils.action_get_channelbag_for_slot(action, slot))
                for slot in action.slots]
        curves = [(slot, curve) for slot, bag in bags for curve in (bag.fcurves if bag else ())]
    else:  # Blender 4.2/4.3: the curves are the Action's own
        curves = [("", curve) for curve in action.fcurves]
    keys = {}
    for slot, curve in curves:
        co = np.empty(2 * len(curve.keyframe_points), dtype=np.float32)
        curve.keyframe_points.foreach_get("co", co)
        keys[(slot, curve.data_path, curve.array_index)] = co
    return keys


def action_slot(anim):
    """The object's slot (None before Blender 4.4's slotted Actions)."""
    return getattr(anim, "action_slot", None)


def first_slot(action):
    return action.slots[0] if compat.SLOTTED_ACTIONS else None


def assert_same_keys(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key, co in before.items():
        assert np.array_equal(co, after[key]), key


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize("rig, driven", [
    ("metarig", 19), ("mixamo_rig", 19), ("robot", 17), ("cesium_man", 15)])
def test_dance_is_evaluated_as_retargeted(rig, driven, dance, request):
    obj = request.getfixturevalue(rig)
    previous = obj.animation_data.action if obj.animation_data else None
    before = snapshot(previous) if previous else None
    slot = action_slot(obj.animation_data) if previous else None
    action, result = assert_follows(obj, dance, driven)
    name = action.name
    # only keyed bones have curves, every key linear, on the scene's integer frames
    curves = fcurves(action)
    groups = {curve.group.name for curve in curves}
    assert groups == {result.bone_names[b] for b in np.flatnonzero(result.keyed)}
    for curve in curves:
        assert len(curve.keyframe_points) == result.num_frames
        assert {k.interpolation for k in curve.keyframe_points} == {"LINEAR"}
    if previous is not None:  # the glTF characters come with their own animation
        assert obj.animation_data.action == action and previous.users >= 1
        assert_same_keys(before, snapshot(previous))
    assert keyframes.remove_dance(obj)
    assert (obj.animation_data.action if obj.animation_data else None) == previous
    if previous is not None:
        assert action_slot(obj.animation_data) == slot
        assert_same_keys(before, snapshot(previous))
    assert name not in bpy.data.actions


def test_rigify_rig_map_lets_neck_and_head_follow(control_rig):
    """Rigify's MCH-ROT-neck and MCH-ROT-head copy the torso's rotation with influence
    1 - follow (rigify/rigs/spines/spine_rigs.py): 1.0 is the plain FK the solver assumes."""
    switches = {(p["bone"], p["property"]): p["value"] for p in detect_bone_map(
        armature.armature_rest(control_rig)).set_properties}
    assert switches[("torso", "neck_follow")] == switches[("torso", "head_follow")] == 1.0


def test_generated_rigify_control_rig_dances_in_fk(control_rig, dance):
    shoulder_mode = control_rig.pose.bones["shoulder.L"].rotation_mode
    assert shoulder_mode != "QUATERNION"  # Rigify's shoulders are Euler: kept as they are
    bone_map = detect_bone_map(armature.armature_rest(control_rig))
    action, result = assert_follows(control_rig, dance, 17, bone_map)
    assert result.bone_map.chosen == "rigify/control_rig"
    constrained = {name for b, name in enumerate(result.bone_names)
                   if result.keyed[b] and control_rig.pose.bones[name].constraints}
    assert constrained == {"ORG-f_middle.01.L", "ORG-f_middle.01.R"}  # keyed, but inert
    assert control_rig.pose.bones["shoulder.L"].rotation_mode == shoulder_mode
    paths = {curve.data_path for curve in fcurves(action)}
    assert 'pose.bones["shoulder.L"].rotation_euler' in paths
    assert 'pose.bones["upper_arm_parent.L"]["IK_FK"]' in paths
    evaluated = control_rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
    for bone in ("upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R"):
        assert evaluated.pose.bones[bone]["IK_FK"] == 1.0
    assert keyframes.remove_dance(control_rig)
    assert control_rig.animation_data.action is None
    for bone in ("upper_arm_parent.L", "thigh_parent.R"):
        assert control_rig.pose.bones[bone]["IK_FK"] == 0.0  # Rigify's default, given back
    assert control_rig.pose.bones["torso"]["neck_follow"] == 0.5


def test_users_action_is_kept_and_given_back(dance):
    rig = new_metarig("User's rig")
    bone = rig.pose.bones["upper_arm.L"]
    for frame, angle in ((1, 0.0), (20, 0.8)):
        bone.rotation_quaternion = mathutils.Quaternion((0, 0, 1), angle)
        bone.keyframe_insert("rotation_quaternion", frame=frame)
    rig.keyframe_insert("location", frame=1)
    anim = rig.animation_data
    users_action, users_slot = anim.action, action_slot(anim)
    anim.action_blend_type, anim.action_influence = "ADD", 0.7
    before = snapshot(users_action)

    rest = armature.armature_rest(rig)
    moving, _, frames = scene_dance(dance)
    result = retarget(moving, rest)
    first = keyframes.apply_dance(rig, result, frames, name=keyframes.dance_action_name(
        "/songs/Vibe Ace.ogg", 1))
    second = keyframes.apply_dance(rig, result, frames + 10,
                                   name=keyframes.dance_action_name("/songs/Vibe Ace.ogg", 2))
    assert (first.name, second.name) == ("DanceRev Vibe Ace v1", "DanceRev Vibe Ace v2")
    assert anim.action == second and action_slot(anim) == first_slot(second)
    assert (anim.action_blend_type, anim.action_influence) == ("REPLACE", 1.0)
    # the user's Action: unassigned, untouched, kept alive in the file by the dance
    assert users_action.name in bpy.data.actions and users_action.users >= 1
    assert_same_keys(before, snapshot(users_action))
    assert second[keyframes.PREVIOUS_ACTION] == users_action  # carried over from v1

    assert keyframes.remove_dance(rig)
    assert anim.action == users_action and action_slot(anim) == users_slot
    assert (anim.action_blend_type, round(anim.action_influence, 6)) == ("ADD", 0.7)
    assert "DanceRev Vibe Ace v2" not in bpy.data.actions
    assert_same_keys(before, snapshot(users_action))
    assert not keyframes.remove_dance(rig)  # nothing of ours left: nothing happens
    assert anim.action == users_action


def test_rig_without_animation_is_left_without(metarig, dance):
    assert metarig.animation_data is None or metarig.animation_data.action is None
    had = metarig.animation_data is not None
    moving, _, frames = scene_dance(dance)
    keyframes.apply_dance(metarig, retarget(moving, armature.armature_rest(metarig)), frames)
    assert keyframes.remove_dance(metarig)
    assert (metarig.animation_data is not None) == had


def test_hand_made_pose_is_put_at_rest_while_dancing_and_given_back(dance):
    rig = new_metarig("Posed rig")
    bones = rig.pose.bones
    bones["spine"].location = (0.1, 0.2, 0.0)  # the root: keyed
    bones["upper_arm.L"].scale = (1.2, 1.2, 1.2)  # keyed, but not its scale
    bones["shoulder.L"].rotation_euler = (0.3, 0.0, 0.2)  # keyed, in Euler
    bones["f_index.01.L"].rotation_quaternion = (0.9, 0.3, 0.0, 0.0)  # not the dance's
    posed = {(b, c): tuple(getattr(bones[b], c)) for b, c in (
        ("spine", "location"), ("upper_arm.L", "scale"), ("shoulder.L", "rotation_euler"),
        ("f_index.01.L", "rotation_quaternion"))}
    moving, _, frames = scene_dance(dance)
    keyframes.apply_dance(rig, retarget(moving, armature.armature_rest(rig)), frames)
    assert tuple(bones["upper_arm.L"].scale) == (1.0, 1.0, 1.0)
    assert tuple(bones["f_index.01.L"].rotation_quaternion) == posed[
        ("f_index.01.L", "rotation_quaternion")]
    bpy.context.scene.frame_set(int(frames[40]))
    assert keyframes.remove_dance(rig)
    assert {key: tuple(getattr(bones[key[0]], key[1])) for key in posed} == posed


SAVED_FILE_CHECK = """
import json, sys
sys.path.insert(0, sys.argv[2])
import bpy
from addon import keyframes
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
rig = bpy.data.objects["Saved rig"]
dance = rig.animation_data.action.name
kept = "Saved rig's own" in bpy.data.actions
removed = keyframes.remove_dance(rig)
print(json.dumps({"dance": dance, "kept": kept, "removed": removed,
                  "action": rig.animation_data.action.name,
                  "slot": getattr(rig.animation_data.action_slot, "identifier", "")
                          if hasattr(rig.animation_data, "action_slot") else ""}))
"""


def test_users_action_survives_saving_and_reloading(dance, tmp_path):
    rig = new_metarig("Saved rig")
    rig.pose.bones["spine"].keyframe_insert("rotation_quaternion", frame=1)
    own = rig.animation_data.action
    own.name = "Saved rig's own"
    slot = getattr(action_slot(rig.animation_data), "identifier", "")
    moving, _, frames = scene_dance(dance)
    keyframes.apply_dance(rig, retarget(moving, armature.armature_rest(rig)), frames,
                          name="DanceRev saved v1")
    assert own.users == 1  # only the dance's reference holds it now
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    keyframes.remove_dance(rig)
    run = subprocess.run([sys.executable, "-c", SAVED_FILE_CHECK, str(path), str(REPO_ROOT)],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"dance": "DanceRev saved v1", "kept": True, "removed": True,
                      "action": "Saved rig's own", "slot": slot}


MODES = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX", "AXIS_ANGLE")


def test_euler_and_axis_angle_bones_keep_their_modes(dance):
    rig = new_metarig("Euler rig")
    rest = armature.armature_rest(rig)
    moving, positions, frames = scene_dance(dance)
    result = retarget(moving, rest)
    names = [result.bone_names[b] for b in np.flatnonzero(result.keyed)]
    modes = {name: MODES[i % len(MODES)] for i, name in enumerate(names)}
    for name, mode in modes.items():
        rig.pose.bones[name].rotation_mode = mode
    action = keyframes.apply_dance(rig, result, frames)
    assert {name: rig.pose.bones[name].rotation_mode for name in names} == modes
    paths = {(c.group.name, c.data_path.rsplit(".", 1)[1]) for c in fcurves(action)}
    for name, mode in modes.items():
        prop = {"AXIS_ANGLE": "rotation_axis_angle"}.get(mode, "rotation_euler")
        assert (name, prop) in paths
    samples = np.linspace(0, len(frames) - 1, SAMPLES).astype(int)
    poses = evaluated_poses(rig, frames, samples)
    assert_same_pose(poses, forward_kinematics(rest, result)[samples], rest,
                     np.flatnonzero(result.keyed))
    errors = direction_errors(rest, result, positions, poses, samples)
    assert np.concatenate(list(errors.values())).mean() < 2.0
    for curve in fcurves(action):  # continuous: no jumps of a half or full turn
        if curve.data_path.endswith("rotation_euler"):
            co = np.empty(2 * len(curve.keyframe_points), dtype=np.float32)
            curve.keyframe_points.foreach_get("co", co)
            assert np.abs(np.diff(co[1::2])).max() < np.pi / 2, curve.data_path
    keyframes.remove_dance(rig)


@pytest.mark.parametrize("mode", MODES[:6])
def test_euler_angles_are_blenders_and_continuous(mode):
    """A path whose middle angle goes past 90 degrees and whose outer angles wind past 180:
    the angles come back as that continuous path, and mean what Blender's Euler means."""
    t = np.linspace(0.0, 1.0, 400)
    truth = np.column_stack([0.3 + 7.0 * t, 0.2 + 1.9 * np.sin(np.pi * t), -0.4 - 5.0 * t])
    order = mode[::-1]  # Blender's XYZ: X first, R = Rz Ry Rx
    matrices = euler_to_matrix(truth, order)
    angles = keyframes.euler_angles(matrix_to_quaternion(matrices), mode)
    expected = np.empty_like(truth)
    for position, axis in enumerate(order):
        expected[:, "XYZ".index(axis)] = truth[:, position]
    assert np.abs(angles - expected).max() < 1e-9
    for k in (0, 123, 399):  # mathutils works in float32
        blender = np.array(mathutils.Euler(angles[k].tolist(), mode).to_matrix())
        assert np.abs(blender - matrices[k]).max() < 1e-6


def test_axis_angle_matches_blender():
    rng = np.random.default_rng(1)
    quaternions = rng.normal(size=(50, 4))
    quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
    quaternions[0] = (1, 0, 0, 0)
    values = keyframes.axis_angle(quaternions)
    for q, (angle, *axis) in zip(quaternions, values, strict=True):
        back = mathutils.Quaternion(axis, angle)
        assert abs(abs(back.dot(mathutils.Quaternion(q.tolist()))) - 1.0) < 1e-6
    assert np.allclose(values[0], (0, 0, 1, 0))


@pytest.mark.parametrize("fps, base", [(24, 1.0), (25, 1.0), (30, 1.0), (60, 1.0),
                                       (30, 1.001)])
def test_a_moment_of_the_dance_is_on_its_scene_frame(metarig, dance, fps, base):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, base
    try:
        rate = fps / base
        moving, positions, frames = scene_dance(dance)
        start = 11
        frames = frames - 1 + start
        assert np.array_equal(frames, start + np.arange(moving.num_frames))  # whole frames
        rest = armature.armature_rest(metarig)
        result = retarget(moving, rest)
        action = keyframes.apply_dance(metarig, result, frames)
        root = f'pose.bones["{result.root_bone}"].location'
        curve = next(c for c in fcurves(action) if c.data_path == root)
        co = np.empty(2 * result.num_frames, dtype=np.float32)
        curve.keyframe_points.foreach_get("co", co)
        assert np.array_equal(co[0::2], frames)
        # the dance at t seconds is on frame start + t * fps
        seconds = 2.0 if base == 1.0 else 2.002  # 60 frames at 29.97 fps
        k = round(seconds * rate)
        assert k == pytest.approx(seconds * rate, abs=1e-9)
        if base == 1.0:  # an instant of the 60 fps source: copied exactly
            assert np.array_equal(moving.positions[k], dance.positions[round(seconds * 60)])
        pose = evaluated_poses(metarig, frames, np.array([k]))
        errors = direction_errors(rest, result, positions, pose, np.array([k]))
        assert np.concatenate(list(errors.values())).mean() < 2.0
        ours = forward_kinematics(rest, result)[[k]]
        assert_same_pose(pose, ours, rest, [rest.index[result.root_bone]])
        markers = keyframes.add_beat_markers(scene, [0.25, 1.0, seconds], start_frame=start,
                                             song_start=0.5)
        assert [(m.name, m.frame) for m in markers] == [  # the nearest frame, halves up
            ("beat 1", start + int(np.floor(0.5 * rate + 0.5))),
            ("beat 2", start + int(np.floor((seconds - 0.5) * rate + 0.5)))]
        assert keyframes.remove_beat_markers(scene) == 2
        keyframes.remove_dance(metarig)
    finally:
        scene.render.fps, scene.render.fps_base = 30, 1.0


def test_bad_inputs_are_refused_and_leave_nothing(metarig, mixamo_rig, dance):
    from dancerev_core.errors import DanceRevError

    moving, _, frames = scene_dance(dance)
    result = retarget(moving, armature.armature_rest(metarig))
    actions = len(bpy.data.actions)
    with pytest.raises(DanceRevError, match="scene frames"):
        keyframes.apply_dance(metarig, result, frames[:-1])
    with pytest.raises(DanceRevError, match="increasing"):
        keyframes.apply_dance(metarig, result, frames[::-1])
    with pytest.raises(DanceRevError, match="not on armature"):  # another rig's dance
        keyframes.apply_dance(mixamo_rig, result, frames)
    assert len(bpy.data.actions) == actions
    assert not keyframes.remove_dance(mixamo_rig)


def click_song(path, rate: int = 48000, seconds: float = 4.0, at: float = 1.0) -> None:
    samples = np.zeros(int(rate * seconds), dtype=np.int16)
    samples[int(at * rate):int(at * rate) + 48] = 20000
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


@pytest.mark.parametrize("fps, base, song_start", [(24, 1.0, 0.0), (25, 1.0, 0.5),
                                                  (30, 1.001, 0.517)])
def test_song_strip_plays_in_sync(tmp_path, fps, base, song_start):
    """Mixed down by Blender: a click 1.0 s into the song sounds at start + (1.0 -
    song_start) * fps, to the sample."""
    needs_audio()
    song = tmp_path / "click.wav"
    click_song(song)
    scene = bpy.data.scenes.new("Sync")
    try:
        scene.render.fps, scene.render.fps_base = fps, base
        scene.frame_start, scene.frame_end = 1, 90
        start = 7
        strip = keyframes.add_song_strip(scene, str(song), start_frame=start,
                                         song_start=song_start)
        assert strip.frame_final_start == start
        out = tmp_path / "mix.wav"
        with bpy.context.temp_override(scene=scene):
            bpy.ops.sound.mixdown(filepath=str(out), container="WAV", codec="PCM",
                                  format="S16", mixrate=48000, channels="MONO")
        with wave.open(str(out)) as mixed:
            audio = np.frombuffer(mixed.readframes(mixed.getnframes()), np.int16)
        heard = np.argmax(np.abs(audio) > 5000) / 48000  # seconds after frame_start
        want = (start - 1) / (fps / base) + (1.0 - song_start)
        assert heard == pytest.approx(want, abs=0.0005)
    finally:
        bpy.data.scenes.remove(scene)
