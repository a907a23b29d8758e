"""The default dancer: built by our code in an empty scene, recognised, and dancing rigidly."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_data

bpy = pytest.importorskip("bpy")

from addon import armature, character, keyframes  # noqa: E402
from dancerev_core.formats.reading import read_motion  # noqa: E402
from dancerev_core.retarget import detect_bone_map, retarget  # noqa: E402


@pytest.fixture(scope="module")
def dancer():
    """The dancer in a factory-fresh empty file (Rigify not enabled: the builder does it)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert not bpy.context.scene.objects
    return character.build_default_character()


def rest_vertices(body) -> np.ndarray:
    co = np.empty(3 * len(body.data.vertices), dtype=np.float64)
    body.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def groups_of(body) -> np.ndarray:
    """The one vertex group of each vertex (asserting there is exactly one, weight 1)."""
    found = np.full(len(body.data.vertices), -1)
    for vertex in body.data.vertices:
        assert len(vertex.groups) == 1 and vertex.groups[0].weight == 1.0
        found[vertex.index] = vertex.groups[0].group
    return found


def test_builds_in_an_empty_scene_and_is_recognised(dancer):
    scene = bpy.context.scene
    (body,) = dancer.children
    assert dancer.name == "DanceRev Dancer" and dancer.type == "ARMATURE"
    assert body.name == "DanceRev Dancer Body" and body.type == "MESH"
    assert set(scene.objects) == {dancer, body}
    assert bpy.context.view_layer.objects.active == dancer and dancer.select_get()
    assert bpy.context.mode == "OBJECT"
    bone_map = detect_bone_map(armature.armature_rest(dancer))
    assert bone_map.chosen == "rigify" and not bone_map.missing()
    (modifier,) = body.modifiers
    assert modifier.type == "ARMATURE" and modifier.object == dancer
    assert body.data.materials[0].name == "DanceRev Dancer"
    names = {group.name for group in body.vertex_groups}
    assert names == set(character.SEGMENTS) and names <= set(dancer.data.bones.keys())
    groups_of(body)  # rigid: one bone per vertex
    points = rest_vertices(body)
    assert -0.03 < points[:, 2].min() < 0.01  # standing on the floor
    assert 1.9 < points[:, 2].max() < 2.05
    left_hand = points[groups_of(body) == body.vertex_groups["hand.L"].index]
    assert left_hand[:, 0].min() > 0.5  # its left at +X: facing -Y, Blender's front view


def test_body_dances_rigidly_with_its_bones(dancer):
    dance = read_motion(shared_data("mocap", "cmu", "05", "005_01.bvh"), joints="canonical")
    scene = bpy.context.scene
    moving = keyframes.resample_for_scene(dance, scene)
    rest = armature.armature_rest(dancer)
    result = retarget(moving, rest)
    frames = keyframes.scene_frames(moving.times(), scene)
    keyframes.apply_dance(dancer, result, frames, name="DanceRev dancer test")
    (body,) = dancer.children
    points, groups = rest_vertices(body), groups_of(body)
    names = [group.name for group in body.vertex_groups]
    for k in (10, len(frames) // 2):
        scene.frame_set(int(frames[k]))
        depsgraph = bpy.context.evaluated_depsgraph_get()
        evaluated = body.evaluated_get(depsgraph)
        co = np.empty(3 * len(evaluated.data.vertices))
        evaluated.data.vertices.foreach_get("co", co)
        world = co.reshape(-1, 3) @ np.array(body.matrix_world)[:3, :3].T + np.array(
            body.matrix_world)[:3, 3]
        poses = armature.pose_matrices(dancer, depsgraph)
        for index, name in enumerate(names):
            b = rest.index[name]
            moved = poses[b] @ np.linalg.inv(np.vstack([np.column_stack(
                [rest.matrices[b], rest.heads[b]]), [0, 0, 0, 1]]))
            part = points[groups == index]
            expected = part @ moved[:3, :3].T + moved[:3, 3]
            assert np.abs(world[groups == index] - expected).max() < 1e-4, name
    assert keyframes.remove_dance(dancer)


def test_builds_from_edit_mode_and_again(dancer):
    mesh = bpy.data.objects.new("Block", bpy.data.meshes.new("Block"))
    bpy.context.scene.collection.objects.link(mesh)
    bpy.context.view_layer.objects.active = mesh
    bpy.ops.object.mode_set(mode="EDIT")
    second = character.build_default_character()
    assert bpy.context.mode == "OBJECT" and mesh.mode == "OBJECT"
    assert second != dancer and second.name.startswith("DanceRev Dancer")
    assert detect_bone_map(armature.armature_rest(second)).chosen == "rigify"
    assert len(second.children) == 1


def test_builds_into_another_scene(dancer):
    other = bpy.data.scenes.new("Other")
    try:
        rig = character.build_default_character(other)
        assert set(other.objects) == {rig, *rig.children}
        assert rig.name not in bpy.context.scene.objects and rig.mode == "OBJECT"
    finally:
        bpy.data.scenes.remove(other)
