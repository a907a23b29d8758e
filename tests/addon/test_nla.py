"""Apply as NLA strips: each variation on its own track, the user's animation untouched.

Through the panel's operators with a real worker and a tiny model, on the default dancer and
on a glTF character that comes with its own animation; and `dancerev dance --nla`.
"""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import keyframes, runs
from dancerev_core.cli import main
from tests.addon.test_operators import generate, gltf_rig, snapshot, users_own_action

pytestmark = pytest.mark.timeout(180, method="signal")  # each test takes about 5 s


def nla_state(obj) -> dict:
    """What the user had: the active Action, its keys, and every track with its strips."""
    anim = obj.animation_data
    if anim is None:
        return {"animation_data": False}
    return {"action": anim.action.name if anim.action else None,
            "keys": snapshot(anim.action) if anim.action else None,
            "slot": getattr(getattr(anim, "action_slot", None), "identifier", None),
            "tracks": [(track.name, track.mute, [(strip.name, strip.action.name,
                                                  strip.frame_start, strip.frame_end)
                                                 for strip in track.strips])
                       for track in anim.nla_tracks]}


def users_track(rig) -> None:
    """A track of the user's own: a pushed-down Action."""
    action = bpy.data.actions.new("My Pushed Down")
    anim = rig.animation_data or rig.animation_data_create()
    keep = anim.action
    anim.action = action
    rig.pose.bones[0].keyframe_insert("location", frame=5)
    anim.action = keep
    track = anim.nla_tracks.new()
    track.name = "My Track"
    track.strips.new("mine", 5, action)


def dance_tracks(obj):
    return [track for track in obj.animation_data.nla_tracks if keyframes.is_dance_track(track)]


@pytest.mark.parametrize("character", ["default dancer", "CesiumMan.glb"])
def test_nla_strips_leave_the_users_animation_untouched_and_remove_gives_it_back(
        scene, song, model, character, request):
    if character == "default dancer":
        rig = request.getfixturevalue("dancer")
        users_own_action(rig)
    else:
        rig = gltf_rig(character)  # with its own animation, as imported
        scene.dancerev.armature = rig
    users_track(rig)
    before = nla_state(rig)
    generate(scene, song, model, variations=2, apply_as="NLA", frame_start=12)
    runs.finish_all(timeout=120)
    settings = scene.dancerev
    assert "Error" not in settings.status, settings.status
    assert "plays over the dance's NLA strips" in settings.status  # the active Action wins

    after = nla_state(rig)
    assert {key: after[key] for key in ("action", "keys", "slot")} == {
        key: before[key] for key in ("action", "keys", "slot")}
    assert after["tracks"][:len(before["tracks"])] == before["tracks"]
    ours = dance_tracks(rig)
    first, second = (item.action for item in settings.results)
    assert [track.name for track in ours] == [first.name, second.name]
    assert [track.mute for track in ours] == [False, True]  # the first plays
    for track, action in zip(ours, (first, second), strict=True):
        (strip,) = track.strips
        assert strip.action == action and strip.extrapolation == "NOTHING"
        assert strip.frame_start == pytest.approx(12.0)  # the start frame asked for
        assert strip.frame_start == pytest.approx(action.frame_range[0])  # strip time = keys

    # with the user's Action out of the way, the strip is what the rig does
    anim = rig.animation_data
    users_action, anim.action = anim.action, None
    frame = int(first.frame_range[0]) + 10
    scene.frame_set(frame)
    bone = rig.pose.bones[keyframes.action_fcurves(first)[0].group.name]
    curve = next(fc for fc in keyframes.action_fcurves(first)
                 if fc.data_path.endswith("rotation_quaternion") and fc.array_index == 1
                 and fc.group.name == bone.name)
    assert bone.rotation_quaternion[1] == pytest.approx(curve.evaluate(frame), abs=1e-5)
    anim.action = users_action
    if hasattr(anim, "action_slot"):
        anim.action_slot = next(s for s in users_action.slots
                                if s.identifier == before["slot"])

    settings.active_result = 1
    assert bpy.ops.dancerev.apply_variation() == {"FINISHED"}
    assert [track.mute for track in dance_tracks(rig)] == [True, False]
    assert keyframes.is_playing(rig, second) and not keyframes.is_playing(rig, first)

    assert bpy.ops.dancerev.remove() == {"FINISHED"}
    assert nla_state(rig) == before
    assert not any(keyframes.is_dance_action(action) for action in bpy.data.actions)


def test_nla_on_a_rig_without_animation_leaves_it_without(dancer, scene, song, model):
    assert dancer.animation_data is None
    generate(scene, song, model, length=1.0, apply_as="NLA")
    runs.finish_all(timeout=120)
    assert "plays over" not in scene.dancerev.status  # nothing of the user's plays over it
    assert len(dance_tracks(dancer)) == 1 and dancer.animation_data.action is None
    assert bpy.ops.dancerev.remove() == {"FINISHED"}
    assert dancer.animation_data is None


def test_one_undo_step_undoes_the_nla_strips(dancer, scene, song, model):
    name = dancer.name
    users_own_action(dancer)
    users_track(dancer)
    before = nla_state(dancer)
    generate(scene, song, model, length=1.0, variations=2, apply_as="NLA")
    runs.finish_all(timeout=120)
    assert len(dance_tracks(bpy.data.objects[name])) == 2
    bpy.ops.ed.undo()
    rig = bpy.data.objects[name]  # undo reloads the data: fetch it again
    assert nla_state(rig) == before
    assert not any(keyframes.is_dance_action(action) for action in bpy.data.actions)


def test_dance_command_with_nla(model, tmp_path, monkeypatch, capsys, song):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "nla.blend"
    assert main(["dance", str(song), "--model", str(model), "--seconds", "1", "--num", "2",
                 "--nla", "-o", str(out)]) == 0, capsys.readouterr().err
    bpy.ops.wm.open_mainfile(filepath=str(out))
    rig = bpy.data.objects["DanceRev Dancer"]
    assert rig.animation_data.action is None
    assert [track.mute for track in dance_tracks(rig)] == [False, True]
    assert np.isclose(dance_tracks(rig)[0].strips[0].frame_start, 1.0)
