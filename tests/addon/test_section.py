"""Regenerate a section through the panel, with a real worker and a tiny model: a new
variation, the same as the old one to the key outside the section, different inside."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import keyframes, runs
from tests.addon.test_operators import generate
from tests.addon.test_shapes import bone_heads, character

pytestmark = pytest.mark.timeout(180, method="signal")


def keys(action) -> dict:
    found = {}
    for curve in keyframes.action_fcurves(action):
        co = np.empty(2 * len(curve.keyframe_points))
        curve.keyframe_points.foreach_get("co", co)
        found[(curve.data_path, curve.array_index)] = co.reshape(-1, 2)
    return found


@pytest.mark.parametrize("kind", ["default dancer", "CesiumMan.glb"])
def test_a_section_danced_anew_leaves_the_rest_to_the_key(scene, song, model, kind, request):
    rig = character(kind, scene, request)
    generate(scene, song, model, length=5.0, seed=1)
    runs.finish_all(timeout=120)
    settings = scene.dancerev
    assert "Error" not in settings.status, settings.status
    source = settings.results[0].action
    first, last = source.frame_range
    a, b = int(first) + 30, int(first) + 70  # scene frames danced anew
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = a, b
    settings.seed = 7
    assert bpy.ops.dancerev.regenerate_section() == {"FINISHED"}
    runs.finish_all(timeout=120)
    assert "Error" not in settings.status, settings.status
    assert len(settings.results) == 2 and settings.active_result == 1
    new = settings.results[1].action
    assert rig.animation_data.action == new and new.name != source.name
    assert new.frame_range[:] == source.frame_range[:]

    old_keys, new_keys = keys(source), keys(new)
    assert old_keys.keys() == new_keys.keys()
    frames = next(iter(old_keys.values()))[:, 0]
    outside = (frames < a) | (frames > b)
    for key, co in old_keys.items():
        np.testing.assert_array_equal(new_keys[key][outside], co[outside], err_msg=str(key))
    changed = max(np.abs(new_keys[key][~outside, 1] - co[~outside, 1]).max()
                  for key, co in old_keys.items())
    assert changed > 1e-3  # the section is another dance

    # the seams: no step of the new dance is larger than the two dances' largest
    heads_new = bone_heads(rig, frames)
    keyframes.switch_dance(rig, source)
    heads_old = bone_heads(rig, frames)
    steps = {name: np.linalg.norm(np.diff(h, axis=0), axis=2).max(axis=1)
             for name, h in (("new", heads_new), ("old", heads_old))}
    seam_steps = steps["new"][[a - int(first) - 1, b - int(first)]]
    assert seam_steps.max() <= max(steps["old"].max(), steps["new"][~outside[1:]].max())

    assert bpy.ops.dancerev.remove() == {"FINISHED"}
    assert not any(keyframes.is_dance_action(action) for action in bpy.data.actions)


def test_a_section_outside_the_dance_is_a_ui_error(scene, song, model, dancer):
    generate(scene, song, model, length=1.0)
    runs.finish_all(timeout=120)
    scene.dancerev.section_from_preview = False
    scene.dancerev.section_start, scene.dancerev.section_end = 500, 520
    with pytest.raises(RuntimeError, match="the dance plays from frame 1"):
        bpy.ops.dancerev.regenerate_section()
    assert len(scene.dancerev.results) == 1

