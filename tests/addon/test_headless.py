"""`dancerev dance` and `dancerev batch`: the main job headless, outputs checked by reading them.

`dance` waits for its worker without a deadline of its own, so each test has one
(pytest-timeout): a worker that hangs fails the test instead of hanging the run, and is
stopped when the test ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import bpy
import pytest

from dancerev_core.cli import main
from dancerev_core.commands.batch import read_manifest
from tests.addon.conftest import song_strip_types, video_streams
from tests.conftest import REPO_ROOT, shared_data

SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"

pytestmark = [pytest.mark.timeout(180, method="signal"),  # the slowest test takes about 5 s
              pytest.mark.usefixtures("stops_its_workers")]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_dance_writes_blend_video_and_bvh(model, tmp_path, capsys):
    import av

    from dancerev_core.formats.bvh import read_bvh

    out = tmp_path / "out"
    song = shared_data("music", SONG)
    code = main(["dance", str(song), "--model", str(model), "--seconds", "2", "--fps", "24",
                 "-o", str(out / "a.blend"), "--render", str(out / "a.mp4"), "--bvh",
                 str(out / "a.bvh"), "--size", "96x54", "--num", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "blend: " in printed and "time: " in printed and "render" in printed
    assert sorted(path.name for path in out.iterdir()) == ["a.blend", "a.bvh", "a.mp4"]

    bpy.ops.wm.open_mainfile(filepath=str(out / "a.blend"))
    scene = bpy.context.scene
    rig = bpy.data.objects["DanceRev Dancer"]
    assert rig.animation_data.action.name.startswith("DanceRev Kevin_MacLeod")
    assert len([a for a in bpy.data.actions if a.name.startswith("DanceRev ")]) == 2
    assert scene.render.fps == 24 and scene.frame_start == 1
    assert scene.frame_end == pytest.approx(1 + 29 / 15 * 24, abs=1)  # 30 frames at 15 fps
    have, want = song_strip_types(scene)
    assert have == want
    with av.open(str(out / "a.mp4")) as container:
        assert {stream.type for stream in container.streams} == video_streams()
    bvh = read_bvh(out / "a.bvh")
    assert bvh.num_frames == scene.frame_end - scene.frame_start + 1


@pytest.mark.parametrize("args, message", [
    (["--character", "nowhere.glb"], "character file not found"),
    (["--character", "song.txt"], "unsupported character file"),
    (["--size", "97x54"], "--size must be even"),
    (["-o", "out.mp4"], "the output must be a .blend file"),
])
def test_dance_bad_inputs_are_one_line(model, tmp_path, capsys, args, message):
    command = ["dance", str(shared_data("music", SONG)), "--model", str(model), "-o",
               str(tmp_path / "x.blend")]
    assert main(command + args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error and error.startswith("dancerev dance: error: ")


def test_dance_on_a_shared_gltf_character(model, tmp_path, capfd):
    robot = shared_data("characters", "RobotExpressive.glb")
    assert main(["dance", str(shared_data("music", SONG)), "--model", str(model),
                 "--character", str(robot), "--seconds", "1", "-o",
                 str(tmp_path / "robot.blend")]) == 0
    # our lines reach the terminal's descriptor (Blender's go to the run's log: test_demo.py)
    assert "character: " in capfd.readouterr().err
    assert robot.stat().st_size > 0 and (tmp_path / "robot.blend").is_file()


def test_batch_runs_jobs_apart_skips_done_ones_and_survives_a_failure(model, tmp_path):
    song = shared_data("music", SONG)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps({
        "defaults": {"model": str(model), "seconds": 1},
        "jobs": [{"song": str(song), "output": "out/good.blend", "seed": 3},
                 {"song": "missing.ogg", "output": "out/bad.blend"}]}))
    assert [job.settings["seed"] for job in read_manifest(manifest)[:1]] == [3]
    command = [sys.executable, "-m", "dancerev_core", "batch", str(manifest), "--jobs", "2"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert first.returncode == 1, first.stdout + first.stderr
    assert (tmp_path / "out" / "good.blend").is_file()
    assert not (tmp_path / "out" / "bad.blend").exists()
    lines = first.stdout.splitlines()
    assert any("good" in line and " done " in line for line in lines), first.stdout
    assert any("bad" in line and "failed" in line and "song file not found" in line
               for line in lines), first.stdout
    assert "1 of 2 jobs succeeded" in first.stdout

    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert any("good" in line and "skipped" in line for line in again.stdout.splitlines())


def test_a_bad_manifest_is_one_line(tmp_path, capsys):
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps([{"song": "a.ogg", "output": "a.blend", "speed": 2}]))
    assert main(["batch", str(manifest)]) == 2
    assert "job 1: unknown setting(s) speed" in capsys.readouterr().err


def test_a_manifest_can_turn_beat_sync_off_and_nla_on(tmp_path, capsys):
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps({"defaults": {"beat_sync": False}, "jobs": [
        {"song": "a.ogg", "output": "a.blend", "nla": True},
        {"song": "b.ogg", "output": "b.blend", "beat_sync": True}]}))
    own, synced = read_manifest(manifest)
    assert "--no-beat-sync" in own.command() and "--no-beat-sync" not in synced.command()
    assert "--nla" in own.command() and "--nla" not in synced.command()
    manifest.write_text(json.dumps([{"song": "a.ogg", "output": "a.blend", "beat_sync": "no"}]))
    assert main(["batch", str(manifest)]) == 2
    assert "job 1: beat_sync must be true or false, got 'no'" in capsys.readouterr().err


def test_batch_jobs_share_a_warm_worker_and_it_ends_with_the_batch(model, tmp_path):
    song = shared_data("music", SONG)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps({
        "defaults": {"model": str(model), "seconds": 1, "song": str(song)},
        "jobs": [{"output": "out/one.blend", "seed": 1}, {"output": "out/two.blend", "seed": 2},
                 {"output": "out/three.blend", "seed": 3}]}))
    command = [sys.executable, "-m", "dancerev_core", "batch", str(manifest), "--jobs", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    pids = set()
    for name in ("one", "two", "three"):
        lines = (tmp_path / "out" / f"{name}.log").read_text().splitlines()
        (line,) = [line for line in lines if "batch's warm worker" in line]
        pids.add(int(line.split("pid ")[1].rstrip(")")))
    assert len(pids) == 1  # one worker made every job's dances
    (pid,) = pids
    time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
        f"/proc/{pid}/status").read_text().lower()  # it ended with the batch


def test_a_dead_warm_worker_is_started_again_for_the_next_job(tmp_path):
    from dancerev_core.commands.batch import WarmWorkers

    workers = WarmWorkers(1, threads=1)
    try:
        with workers.slot() as path:
            first = workers._processes[0]
            assert Path(path).exists() and first.poll() is None
        first.kill()
        first.wait()
        with workers.slot() as path:
            second = workers._processes[0]
            assert second is not first and second.poll() is None and Path(path).exists()
    finally:
        workers.close()
    assert second.poll() is not None and not workers.folder.exists()
