"""The Dance panel's operators, run headless with the bpy module and a real worker process.

The same tests run inside a Blender executable through pytest-blender (see the README). Some
tests tick the runs until the worker reports a stage: each test has a deadline
(pytest-timeout), so a worker that never does fails the test instead of hanging the run.
"""

from __future__ import annotations

import sys
import time

import bpy
import numpy as np
import pytest

import addon
from addon import keyframes, runs
from tests.addon.conftest import TINY_MODEL, song_strip_types
from tests.conftest import shared_data
from tests.core.test_worker import paper_dataset  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(180, method="signal")  # the slowest test takes about 7 s


def users_own_action(rig):
    """Give the rig an Action of its own (a wave of one arm) to check nothing touches it."""
    action = bpy.data.actions.new("My Animation")
    rig.animation_data_create().action = action
    bone = rig.pose.bones["upper_arm.L"]
    bone.rotation_mode = "QUATERNION"
    for frame, w in ((1, 1.0), (10, 0.7)):
        bone.rotation_quaternion = (w, 0.0, 0.0, np.sqrt(1 - w * w))
        bone.keyframe_insert("rotation_quaternion", frame=frame)
    return action


def snapshot(action):
    """Every key of an Action (slotted or not) as plain numbers."""
    curves = keyframes.action_fcurves(action)
    return sorted((fc.data_path, fc.array_index, tuple(tuple(kp.co) for kp in fc.keyframe_points))
                  for fc in curves)


def generate(scene, song, model, **settings):
    values = dict(song_path=str(song), checkpoint_path=str(model), length=3.0, seed=1)
    values.update(settings)
    for name, value in values.items():
        setattr(scene.dancerev, name, value)
    assert bpy.ops.dancerev.generate() == {"FINISHED"}
    assert runs.is_running("generate")


def test_register_and_unregister_twice():
    """From whatever state the module's other tests left (the `registered` fixture may
    hold the add-on registered), and back to it: the test runs in any order."""
    was_registered = hasattr(bpy.types, "DANCEREV_PT_main")
    if was_registered:
        addon.unregister()
    try:
        for _ in range(2):
            addon.register()
            assert hasattr(bpy.types, "DANCEREV_PT_main")
            assert hasattr(bpy.types.Scene, "dancerev")
            addon.unregister()
            assert not hasattr(bpy.types, "DANCEREV_PT_main")
            assert not hasattr(bpy.types.Scene, "dancerev")
    finally:
        if was_registered:
            addon.register()


def test_generate_variations_apply_and_remove(dancer, scene, song, model):
    mine = users_own_action(dancer)
    before = snapshot(mine)
    generate(scene, song, model, variations=2)
    runs.finish_all(timeout=120)
    settings = scene.dancerev
    assert "Error" not in settings.status, settings.status
    # the worker's motion files are read into Actions and then removed
    assert not list((addon.settings.user_folder() / "dances").iterdir())
    assert [item.name for item in settings.results] == ["v1", "v2"]
    first, second = (item.action for item in settings.results)
    assert dancer.animation_data.action == first and keyframes.is_dance_action(first)
    fps = keyframes.scene_fps(scene)
    frames = [kp.co[0] for kp in keyframes.action_fcurves(first)[0].keyframe_points]
    last_second = (3.0 * 15 - 1) / 15  # 45 frames at the model's 15 fps
    assert frames[0] == 1 and frames[-1] == pytest.approx(1 + last_second * fps, abs=1.0)
    assert scene.frame_end == int(np.ceil(frames[-1]))
    have, want = song_strip_types(scene)
    assert have == want
    assert any(marker.name.startswith("beat") for marker in scene.timeline_markers)
    assert snapshot(first) != snapshot(second)  # two different dances

    settings.active_result = 1
    assert bpy.ops.dancerev.apply_variation() == {"FINISHED"}
    assert dancer.animation_data.action == second

    assert bpy.ops.dancerev.remove() == {"FINISHED"}
    assert dancer.animation_data.action == mine and snapshot(mine) == before
    assert not any(keyframes.is_dance_action(action) for action in bpy.data.actions)
    assert len(settings.results) == 0


def test_sync_to_beats_off_keeps_the_models_own_timing(dancer, scene, song, model):
    assert scene.dancerev.beat_sync is True  # on by default
    generate(scene, song, model, beat_sync=False)
    assert runs.active("generate").plan.beat_sync is False
    runs.finish_all(timeout=120)
    assert "Error" not in scene.dancerev.status, scene.dancerev.status
    assert "on the beat" not in scene.dancerev.status
    action = scene.dancerev.results[0].action
    generate(scene, song, model, beat_sync=True)  # the default
    assert runs.active("generate").plan.beat_sync is True
    runs.finish_all(timeout=120)
    assert "accents on the beat" in scene.dancerev.status, scene.dancerev.status
    synced = scene.dancerev.results[0].action
    assert snapshot(action) != snapshot(synced)


def test_generate_again_reuses_the_warm_worker_and_unregister_stops_it(dancer, scene, song,
                                                                       model):
    generate(scene, song, model, seed=1)
    first = runs.active("generate").job
    runs.finish_all(timeout=120)
    worker = first.worker
    process = worker.process
    generate(scene, song, model, seed=2)  # what an animator does: another seed, again
    second = runs.active("generate").job
    runs.finish_all(timeout=120)
    assert "Error" not in scene.dancerev.status, scene.dancerev.status
    assert first.state == second.state == "done" and not first.reused and second.reused
    assert second.worker is worker and worker.starts == 1 and worker.process is process
    assert process.poll() is None  # kept between jobs
    addon.unregister()
    try:
        assert process.poll() is not None  # nothing may outlive the add-on
    finally:
        addon.register()


def test_cancel_leaves_the_scene_untouched(dancer, scene, model):
    long_song = shared_data("music", "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg")
    actions = set(bpy.data.actions)
    generate(scene, long_song, model, length=0.0)  # the whole 133 s song
    while runs.is_running("generate") and not scene.dancerev.status.startswith(
            ("analys", "Analys", "decod", "Decod", "generat", "Generat")):
        runs.tick()
    assert bpy.ops.dancerev.cancel(job="generate") == {"FINISHED"}
    runs.finish_all(timeout=5)
    assert scene.dancerev.status == "Cancelled"
    assert set(bpy.data.actions) == actions and dancer.animation_data is None


@pytest.mark.parametrize("problem, message", [
    ("no armature", "no character"),
    ("not humanoid", "cannot map a rig of 4 bones .* Bone Map field"),
    ("missing song", "song file not found"),
    ("missing model", "model checkpoint not found"),
])
def test_bad_inputs_are_ui_errors(scene, song, model, tmp_path, problem, message):
    settings = scene.dancerev
    settings.song_path, settings.checkpoint_path = str(song), str(model)
    if problem != "no armature":
        assert bpy.ops.dancerev.add_default_character() == {"FINISHED"}
    if problem == "not humanoid":
        data = bpy.data.armatures.new("Crane")
        crane = bpy.data.objects.new("Crane", data)
        scene.collection.objects.link(crane)
        bpy.context.view_layer.objects.active = crane
        bpy.ops.object.mode_set(mode="EDIT")
        for index in range(4):
            bone = data.edit_bones.new(f"arm{index}")
            bone.head, bone.tail = (0, 0, index), (0, 0, index + 1)
        bpy.ops.object.mode_set(mode="OBJECT")
        settings.armature = crane
    if problem == "missing song":
        settings.song_path = str(tmp_path / "nowhere.mp3")
    if problem == "missing model":
        settings.checkpoint_path = str(tmp_path / "nomodel.json")
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.dancerev.generate()
    assert not runs.is_running("generate")


def test_a_corrupt_song_is_reported_and_nothing_changes(dancer, scene, model, tmp_path):
    corrupt = tmp_path / "broken.mp3"
    corrupt.write_bytes(b"ID3" + bytes(range(256)) * 20)
    generate(scene, corrupt, model)
    runs.finish_all(timeout=60)
    assert scene.dancerev.status.startswith("Error: ") and "broken.mp3" in scene.dancerev.status
    assert dancer.animation_data is None and len(scene.dancerev.results) == 0


def test_a_missing_worker_is_a_clear_message(dancer, scene, song, model, monkeypatch):
    monkeypatch.setattr(addon.runs.jobs, "find_python", lambda *args: None)
    generate(scene, song, model)
    runs.finish_all(timeout=10)
    assert "no Python interpreter with torch and librosa" in scene.dancerev.status
    assert dancer.animation_data is None


def test_train_from_the_panel_cancel_resume_and_use(scene, paper_dataset, tmp_path):  # noqa: F811
    import json

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {**TINY_MODEL, "lam": 0.5},
                                  "training": {"seq_len": 30, "batch_size": 2,
                                               "val_fraction": 0.34, "precision": "fp32",
                                               "health_every": 1}}))
    settings = scene.dancerev
    settings.train_dataset, settings.train_output = str(paper_dataset), str(tmp_path / "run")
    settings.train_format, settings.train_config = "paper", str(config)
    settings.train_epochs = 2
    assert bpy.ops.dancerev.train() == {"FINISHED"}
    runs.finish_all(timeout=120)
    assert settings.train_status.startswith("trained to epoch 2"), settings.train_status
    assert settings.train_progress == 1.0
    # the latest free-running check on the validation songs, as the Train section shows it
    assert settings.train_health.startswith("epoch 2: joints at "), settings.train_health

    settings.train_epochs = 1000  # long enough to cancel in the middle
    assert bpy.ops.dancerev.train(resume=True) == {"FINISHED"}
    while runs.is_running("train") and not settings.train_status.startswith("epoch 3"):
        runs.tick()
    assert bpy.ops.dancerev.cancel(job="train") == {"FINISHED"}
    runs.finish_all(timeout=10)
    assert settings.train_status == "Cancelled"

    assert bpy.ops.dancerev.use_trained_model() == {"FINISHED"}
    assert settings.checkpoint_path == str(tmp_path / "run" / "best.json")

    settings.train_output = str(tmp_path / "empty")
    with pytest.raises(RuntimeError, match="nothing to resume"):
        bpy.ops.dancerev.train(resume=True)


def test_one_undo_step_undoes_an_apply(dancer, scene, song, model):
    name = dancer.name
    before = snapshot(users_own_action(dancer))
    generate(scene, song, model)
    runs.finish_all(timeout=120)
    assert keyframes.is_dance_action(bpy.data.objects[name].animation_data.action)
    bpy.ops.ed.undo()
    rig = bpy.data.objects[name]  # undo reloads the data: fetch it again
    assert rig.animation_data.action.name == "My Animation"
    assert snapshot(rig.animation_data.action) == before
    assert not any(keyframes.is_dance_action(action) for action in bpy.data.actions)


def mixamo_named_rig():
    from dancerev_core.retarget import similarity_matrix
    from tests.addon.test_keyframes import armature_from_rows
    from tests.core.test_retarget import canonical_spec, human
    from tests.core.test_retarget_rigs import MIXAMO, renamed, with_extras

    rows = renamed(with_extras(canonical_spec(MIXAMO), MIXAMO), "mixamorig:")
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    return armature_from_rows("Mixamo rig", rows, human("T"), similarity_matrix(tilt, 0.01))


def gltf_rig(name):
    bpy.ops.import_scene.gltf(filepath=str(shared_data("characters", name)))
    return next(obj for obj in bpy.context.scene.objects if obj.type == "ARMATURE")


@pytest.mark.parametrize("rig, family", [
    (mixamo_named_rig, "mixamo"),
    (lambda: gltf_rig("RobotExpressive.glb"), "structure"),
    (lambda: gltf_rig("CesiumMan.glb"), "structure"),
], ids=["mixamo", "robot-expressive", "cesium-man"])
def test_every_operator_on_other_rigs(scene, song, model, rig, family):
    obj = rig()
    had = obj.animation_data.action if obj.animation_data else None
    scene.dancerev.armature = obj
    generate(scene, song, model, length=1.0, variations=2)
    runs.finish_all(timeout=120)
    assert "Error" not in scene.dancerev.status, scene.dancerev.status
    action = obj.animation_data.action
    assert keyframes.is_dance_action(action)
    assert len({fc.data_path for fc in keyframes.action_fcurves(action)}) >= 12
    scene.dancerev.active_result = 1
    assert bpy.ops.dancerev.apply_variation() == {"FINISHED"}
    assert bpy.ops.dancerev.remove() == {"FINISHED"}
    assert (obj.animation_data.action if obj.animation_data else None) == had
    from addon.panels import rig_summary
    assert family in rig_summary(obj)


def test_a_failed_runtime_install_says_why(registered, tmp_path, monkeypatch):
    from addon import runtime, runtime_install

    monkeypatch.setattr(addon.settings, "runtime_folder", lambda: tmp_path / "runtime")
    monkeypatch.setattr(runtime, "pip_command", lambda python, folder: [
        sys.executable, "-c", "print('ERROR: no space left'); raise SystemExit(1)"])
    runtime_install.start()
    try:
        deadline = time.monotonic() + 30
        while runtime_install._tick() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runtime_install.stop()
    summary = runtime_install.runtime_summary()
    runtime_install._last_install.clear()
    assert summary.startswith("Install failed") and "no space left" in summary, summary
