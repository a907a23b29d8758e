"""In place and loops through the panel, with a real worker and a tiny model: what the
character does on the timeline, measured on its evaluated bones."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import dance, keyframes, runs
from tests.addon.test_operators import generate, gltf_rig

pytestmark = pytest.mark.timeout(180, method="signal")


def character(kind: str, scene, request):
    if kind == "default dancer":
        return request.getfixturevalue("dancer")
    rig = gltf_rig(kind)
    scene.dancerev.armature = rig
    return rig


def bone_heads(rig, frames) -> np.ndarray:
    """World positions of every bone's head at each scene frame (frames x bones x 3)."""
    scene = bpy.context.scene
    heads = []
    for frame in frames:
        scene.frame_set(int(np.floor(frame)), subframe=float(frame - np.floor(frame)))
        world = np.array(rig.matrix_world)
        heads.append([(world @ np.append(np.array(bone.head), 1.0))[:3]
                      for bone in rig.pose.bones])
    return np.array(heads)


def root_bone(rig) -> int:
    _rest, mapping = dance.plan_bone_map(rig)
    return list(rig.pose.bones.keys()).index(mapping.drivers["pelvis"])


def dance_frames(action) -> np.ndarray:
    first, last = action.frame_range
    return np.arange(int(np.ceil(first)), int(np.floor(last)) + 1)


@pytest.mark.parametrize("kind", ["default dancer", "CesiumMan.glb"])
def test_in_place_keeps_the_root_on_the_spot(scene, song, model, kind, request):
    rig = character(kind, scene, request)
    generate(scene, song, model, in_place=True)
    runs.finish_all(timeout=120)
    assert "Error" not in scene.dancerev.status, scene.dancerev.status
    frames = dance_frames(rig.animation_data.action)
    root = bone_heads(rig, frames)[:, root_bone(rig), :2]
    travel = np.linalg.norm(root - root[0], axis=1)
    assert travel.max() < 0.01, f"the root travels {travel.max():.3f} m"  # the 1 cm

    scene.dancerev.in_place = False  # the same dance travelling, for contrast
    assert bpy.ops.dancerev.remove() == {"FINISHED"}
    generate(scene, song, model)
    runs.finish_all(timeout=120)
    root = bone_heads(rig, dance_frames(rig.animation_data.action))[:, root_bone(rig), :2]
    assert np.linalg.norm(root - root[0], axis=1).max() > 0.01  # the untrained model drifts


@pytest.mark.parametrize("kind", ["default dancer", "CesiumMan.glb"])
def test_a_loop_cycles_seamlessly(scene, song, model, kind, request):
    rig = character(kind, scene, request)
    generate(scene, song, model, loop=True, length=4.0, beat_sync=False)
    runs.finish_all(timeout=120)
    assert "Error" not in scene.dancerev.status, scene.dancerev.status
    action = rig.animation_data.action
    curves = keyframes.action_fcurves(action)
    assert curves and all(any(m.type == "CYCLES" for m in fc.modifiers) for fc in curves)
    first, end = action.frame_range  # the last key: the first pose one period on
    period = end - first
    frames = np.arange(first, first + period + 3)  # one pass and the start of the next
    heads = bone_heads(rig, frames)
    np.testing.assert_allclose(bone_heads(rig, [end])[0], heads[0], atol=1e-4)
    np.testing.assert_allclose(bone_heads(rig, [end + 1])[0], heads[1], atol=1e-4)
    steps = np.linalg.norm(np.diff(heads, axis=0), axis=2).max(axis=1)  # largest bone step
    seam = int(np.floor(period))  # the step from the last frame of a pass into the next
    within = np.delete(steps, seam)[:seam]
    assert steps[seam] <= np.percentile(within, 99), (steps[seam], np.percentile(within, 99))
    # it starts on a beat and is a whole number of beats long, so each pass is on the beat
    markers = np.array(sorted(m.frame for m in scene.timeline_markers
                              if m.name.startswith("beat")), dtype=float)
    assert len(markers) >= 2 and abs(markers[0] - first) <= 1
    beats = period / np.median(np.diff(markers))
    assert abs(beats - round(beats)) * np.median(np.diff(markers)) <= 1.5, beats
