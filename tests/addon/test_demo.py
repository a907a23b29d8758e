"""The README's first command, `dancerev demo`, and `dance` without --model: the built-in model.

Everything here runs what a new user runs: the shipped default model in
dancerev_core/pretrained, DanceRev's own dancer and a groove DanceRev synthesises, so no
shared data is needed and nothing is skipped. Each output is opened and read back (the
.blend with bpy, the video with av, the BVH with our reader), because a file that merely
exists can be empty, cut short or hold a dancer who never moves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

from addon import dance, headless, keyframes
from dancerev_core.cli import main
from dancerev_core.commands.demo import DEMO_FPS, DEMO_SONG
from tests.addon.conftest import song_strip_types, video_streams
from tests.conftest import REPO_ROOT

# The demo test takes about 10 s here, the dance test 3 s; `dance` waits for its worker
# without a deadline of its own, so this one fails a hang instead of waiting forever.
pytestmark = pytest.mark.timeout(300, method="signal")

SHIPPED = REPO_ROOT / "dancerev_core" / "pretrained" / "dance-default.json"
MODEL_FPS = json.loads(SHIPPED.read_text())["motion"]["fps"]  # 15
SECONDS = 3  # of the demo groove: enough for a real dance, short enough to render quickly
DEADLINE = 240  # seconds the demo may take before the test fails instead of hanging


def scene_frames(seconds: float, fps: float) -> int:
    """Frames of a dance of `seconds` in a scene at `fps`: the model makes seconds * 15
    frames, frame k at k / 15 s, and the scene keys every one of its frames in that span."""
    return int((seconds * MODEL_FPS - 1) * fps / MODEL_FPS) + 1


DEMO_FRAMES = scene_frames(SECONDS, DEMO_FPS)  # 71 at 24 fps


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("DANCEREV_SCRATCH", raising=False)  # scratch beside the outputs


def dancerev() -> list[str]:
    """The `dancerev` program the README runs (the venv's entry point), else the same main."""
    script = Path(sys.executable).with_name("dancerev")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "dancerev_core"]


def hidden_leftovers(folder: Path) -> list[str]:
    """What an unfinished job leaves: `.NAME.partial.SUFFIX` files, its `.NAME.dances/`."""
    return sorted(path.name for path in folder.iterdir()
                  if path.name.startswith(".") and ("partial" in path.name
                                                    or path.name.endswith(".dances")))


def the_dance_action(armature: bpy.types.Object) -> bpy.types.Action:
    """The Action playing on the character, checked to be one of DanceRev's."""
    action = armature.animation_data.action if armature.animation_data else None
    assert keyframes.is_dance_action(action), action
    return action


def test_demo_writes_a_dancing_blend_a_video_with_sound_and_a_bvh(tmp_path):
    import av

    from dancerev_core.formats.bvh import read_bvh

    # The README's command as it stands (default output folder out/), only shorter.
    done = subprocess.run([*dancerev(), "demo", "--seconds", str(SECONDS)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    assert f"danced {SECONDS:.1f} s on DanceRev Dancer" in done.stdout, done.stdout
    assert "time: " in done.stdout and "render" in done.stdout, done.stdout
    assert "model: dance-default.json" in done.stderr, done.stderr
    # readable: our lines only (issue 17: at most 40), Blender's own in the log it names
    printed = done.stdout + done.stderr
    assert len(printed.splitlines()) <= 40, printed
    assert "append frame" not in printed.lower() and "EGL" not in printed, printed
    (log,) = [Path(line.split("log: ", 1)[1].split(" (")[0]) for line in done.stdout.splitlines()
              if line.strip().startswith("log: ")]
    assert "append frame" in log.read_text().lower()
    assert hidden_leftovers(out) == []
    assert sorted(path.name for path in out.iterdir()) == sorted([
        DEMO_SONG, "demo.blend", "demo.bvh", "demo.mp4"])

    bpy.ops.wm.open_mainfile(filepath=str(out / "demo.blend"))
    scene = bpy.context.scene
    action = the_dance_action(bpy.data.objects["DanceRev Dancer"])
    assert action.name == f"DanceRev {Path(DEMO_SONG).stem} v1"  # named after the song
    assert (scene.render.fps, scene.frame_start, scene.frame_end) == (DEMO_FPS, 1, DEMO_FRAMES)
    curves = keyframes.action_fcurves(action)
    assert len(curves) > 10, [curve.data_path for curve in curves]
    moving = 0
    for curve in curves:  # every channel is keyed on every frame of the dance
        keys = np.array([tuple(point.co) for point in curve.keyframe_points])
        assert keys[:, 0].tolist() == list(range(1, DEMO_FRAMES + 1)), curve.data_path
        moving += np.ptp(keys[:, 1]) > 1e-3
    assert moving > len(curves) / 2, f"only {moving} of {len(curves)} channels move"
    have, want = song_strip_types(scene)
    assert have == want

    with av.open(str(out / "demo.mp4")) as container:
        assert {stream.type for stream in container.streams} == video_streams()
        video = container.streams.video[0]
        assert sum(1 for _ in container.decode(video)) == DEMO_FRAMES

    bvh = read_bvh(out / "demo.bvh")
    assert bvh.num_frames == DEMO_FRAMES
    assert bvh.fps == pytest.approx(DEMO_FPS)


@pytest.mark.usefixtures("stops_its_workers")
def test_dance_without_a_model_uses_the_shipped_default(tmp_path, capfd, monkeypatch):
    from dancerev_core.recipe.synth import write_demo_track

    song = tmp_path / "groove.wav"
    write_demo_track(song, seconds=4)
    run_worker = headless.run_worker
    asked = []  # what the worker was asked and answered: the proof of the model it used

    def recording(request, log):
        result = run_worker(request, log)
        asked.append((request, result))
        return result

    monkeypatch.setattr(headless, "run_worker", recording)
    out = tmp_path / "out"
    assert main(["dance", str(song), "--seconds", "2", "-o", str(out / "groove.blend")]) == 0
    printed = capfd.readouterr()
    assert "model: dance-default.json" in printed.err, printed.err
    assert "blend: " in printed.out and "danced 2.0 s" in printed.out, printed.out

    assert dance.DEFAULT_MODEL.resolve() == SHIPPED.resolve()
    ((request, result),) = asked
    assert Path(request["checkpoint"]) == Path(result["checkpoint"]) == SHIPPED.resolve()

    assert sorted(path.name for path in out.iterdir()) == ["groove.blend"]
    bpy.ops.wm.open_mainfile(filepath=str(out / "groove.blend"))
    action = the_dance_action(bpy.data.objects["DanceRev Dancer"])
    assert action.name == "DanceRev groove v1"
    scene = bpy.context.scene  # the default dancer's scene runs at 30 fps
    assert (scene.render.fps, scene.frame_end) == (30, scene_frames(2, 30))
