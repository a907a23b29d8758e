"""The worker process, run for real: the protocol, every job, cancel, bad input.

Each test starts `python -m dancerev_core.worker` with the venv's Python and speaks to it as
the add-on does (stdin kept open, since EOF means "the add-on went away"). Reading its lines
blocks, so a worker that hangs would hang the run: every test here has a deadline
(pytest-timeout), after which it fails and its workers are killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dancerev_core.formats.motion_npz import load_motion
from dancerev_core.worker import (
    EXIT_CANCELLED,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    PROTOCOL_VERSION,
)
from dancerev_core.worker.control import GRACE_SECONDS, HARD_SECONDS
from tests.conftest import shared_data, song_excerpt

# The slowest test here takes about 5 s; the signal method interrupts a blocking pipe read.
pytestmark = pytest.mark.timeout(120, method="signal")

SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"  # 61 s
LONG_SONG = "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"  # 133 s
TINY_MODEL = dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32, window=4,
                  decoder_hidden=32)
# Seconds from the cancel line to the worker's exit. The design promises a second (control.py;
# also how long the add-on waits before it escalates: addon/jobs.py CANCEL_TIMEOUT); measured
# 0.05-0.2 s here. The limit adds a second of room for a shared, noisy machine and stays well
# below GRACE_SECONDS + HARD_SECONDS, when a job that ignored the cancel is abandoned.
CANCEL_PROMISE = 1.0
NOISE_MARGIN = 1.0
CANCEL_LATENCY = CANCEL_PROMISE + NOISE_MARGIN
TERMINAL = ("result", "error", "cancelled")


class Worker:
    """A running worker: send lines, read events, time things."""

    def __init__(self, request, env, stderr_path, command=None):
        with open(stderr_path, "wb") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                command or [sys.executable, "-m", "dancerev_core.worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
        self.stderr_path = stderr_path
        self.lines: list[bytes] = []
        if request is not None:
            self.send(request if isinstance(request, str) else json.dumps(request))

    def send(self, line: str) -> None:
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def next_event(self) -> dict | None:
        raw = self.process.stdout.readline()
        if not raw:
            return None
        self.lines.append(raw)
        return json.loads(raw)  # stdout holds JSON lines only

    def until(self, predicate) -> list[dict]:
        events = []
        while (event := self.next_event()) is not None:
            events.append(event)
            if predicate(event):
                return events
        raise AssertionError(f"the worker ended first: {events[-3:]}\n{self.stderr()}")

    def finish(self, timeout: float = 120) -> tuple[list[dict], int]:
        events = []
        while (event := self.next_event()) is not None:
            events.append(event)
        return events, self.process.wait(timeout)

    def cancel(self, close: bool = False) -> tuple[list[dict], int, float]:
        started = time.perf_counter()
        if close:
            self.process.stdin.close()
        else:
            self.send('{"cancel": true}')
        events, code = self.finish()
        return events, code, time.perf_counter() - started

    def stderr(self) -> str:
        return Path(self.stderr_path).read_text(errors="replace")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("worker-cache")


@pytest.fixture
def start(tmp_path, cache):
    workers = []

    def start(request, command=None, **env):
        # One torch thread: the machine is shared, and oversubscribed threads crawl.
        environ = {**os.environ, "DANCEREV_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1",
                   **env}
        worker = Worker(request, environ, tmp_path / f"stderr{len(workers)}.txt", command)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def run(start, request, **env) -> tuple[list[dict], int, Worker]:
    """Run one request to its end; checks the framing every run must have."""
    worker = start(request, **env)
    events, code = worker.finish()
    assert events[0]["event"] == "hello" and events[0]["protocol"] == PROTOCOL_VERSION
    assert sum(e["event"] in TERMINAL for e in events) == 1
    assert events[-1]["event"] in TERMINAL, events[-1]
    return events, code, worker


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory):
    """8 s of a real song (from 20 s) as a wav."""
    return song_excerpt(SONG, tmp_path_factory.mktemp("song") / "excerpt.wav", 20, 28)


def checkpoint(folder: Path, **changes) -> Path:
    import torch

    from dancerev_core.model import ModelConfig, Seq2Seq, save_checkpoint

    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(**{**TINY_MODEL, "joint_set": "canonical24", **changes}))
    return save_checkpoint(folder / "model", model, training={"epoch": 0})


def assert_stopped_promptly(what: str, events: list[dict], code: int, seconds: float) -> None:
    """The job stopped at its own check or at the interrupt, not at the give-up."""
    print(f"{what} cancel latency {seconds:.3f} s")
    cancelled = events[-1]
    assert code == EXIT_CANCELLED and cancelled["event"] == "cancelled", cancelled
    assert "abandoned" not in cancelled["message"], cancelled
    assert seconds < CANCEL_LATENCY < GRACE_SECONDS + HARD_SECONDS


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# -- hello, check, the framing ---------------------------------------------------------------
def test_hello_then_check_reports_the_runtime(start, cache):
    events, code, _ = run(start, {"job": "check"})
    hello, result = events[0], events[-1]
    assert hello["torch"] is True and hello["librosa"] is True and hello["dancerev"]
    assert code == EXIT_OK and result["event"] == "result" and result["ok"], result
    assert result["torch"].startswith("2.13") and result["librosa"]
    assert result["modules"]["numpy"] and result["problems"] == []
    assert result["cache_dir"] == str(cache)
    assert any(e["event"] == "progress" and e["stage"] == "check" for e in events)


@pytest.mark.parametrize("line, message", [
    ("not json", "not a JSON line"),
    ('["check"]', "must be a JSON object"),
    ('{"job": "dance"}', "unknown job 'dance'"),
    ('{"job": "analyse", "song": "a.ogg", "colour": 1}', "unknown field(s) colour"),
    ('{"job": "analyse"}', "'song' is required"),
    ('{"job": "analyse", "song": 3}', "'song' must be a path"),
    ('{"job": "generate", "song": "a", "checkpoint": "b", "output": "c", "num": 1.5}',
     "'num' must be a whole number"),
])
def test_bad_requests_are_one_error_line(start, line, message):
    events, code, _ = run(start, line)
    assert code == EXIT_INPUT and [e["event"] for e in events] == ["hello", "error"]
    assert events[-1]["kind"] == "request" and message in events[-1]["message"], events[-1]


def test_no_request_at_all(start):
    worker = start(None)
    worker.process.stdin.close()
    events, code = worker.finish()
    assert code == EXIT_INPUT and "no request" in events[-1]["message"]


def test_input_errors_name_the_file(start, tmp_path):
    events, code, _ = run(start, {"job": "analyse", "song": str(tmp_path / "missing.ogg")})
    assert code == EXIT_INPUT and events[-1] == {
        "event": "error", "kind": "input", "message": f"{tmp_path / 'missing.ogg'}: no such "
                                                      "audio file"}
    bad = tmp_path / "model.json"
    bad.write_text("{}")
    events, code, _ = run(start, {"job": "generate", "song": str(tmp_path / "a.ogg"),
                                  "checkpoint": str(bad), "output": str(tmp_path / "out")})
    assert code == EXIT_INPUT and events[-1]["kind"] == "input"
    assert events[-1]["message"].startswith(str(bad)) and "\n" not in events[-1]["message"]
    assert leftovers(tmp_path / "out") == []


def test_internal_errors_and_stray_output_stay_off_the_protocol(start):
    # A job that prints to stdout (Python and C level) and then fails with a bug.
    code_text = (
        "import os, sys\n"
        "from dancerev_core.worker import jobs, run\n"
        "def broken(request, ctx):\n"
        "    print('noise from print')\n"
        "    os.write(1, b'noise from C\\n')\n"
        "    return 1 / 0\n"
        "jobs.JOBS['check'] = run.JOBS['check'] = broken\n"
        "run.serve()\n")
    worker = start({"job": "check"}, command=[sys.executable, "-c", code_text])
    events, code = worker.finish()
    assert code == EXIT_INTERNAL and [e["event"] for e in events] == ["hello", "error"]
    error = events[-1]
    assert error["kind"] == "internal" and "ZeroDivisionError" in error["message"]
    assert "details on stderr" in error["message"]
    stderr = worker.stderr()
    assert "noise from print" in stderr and "noise from C" in stderr
    assert "Traceback" in stderr and "ZeroDivisionError: division by zero" in stderr


def test_a_python_without_the_runtime_says_so(start, tmp_path):
    """`check` lists what is missing; a job that needs it is one `runtime` error."""
    without_torch = [sys.executable, "-c", "import sys; sys.modules['torch'] = None\n"
                     "from dancerev_core.worker.run import serve; serve()"]
    events, code = start({"job": "check"}, command=without_torch).finish()
    hello, result = events[0], events[-1]
    assert code == EXIT_OK and hello["torch"] is False and result["ok"] is False
    assert result["torch"] is None and result["modules"]["numpy"]
    assert [p.split(" (")[0] for p in result["problems"]] == ["torch cannot be imported"]
    events, code = start({"job": "generate", "song": "a.ogg", "checkpoint": "m.json",
                          "output": str(tmp_path)}, command=without_torch).finish()
    assert code == EXIT_INPUT and events[-1]["kind"] == "runtime"
    assert events[-1]["message"].startswith("generate needs torch, which this Python")
    assert "install the runtime" in events[-1]["message"]


# -- analyse ---------------------------------------------------------------------------------
def test_analyse_a_real_song_excerpt(start, excerpt):
    events, code, _ = run(start, {"job": "analyse", "song": str(excerpt)})
    result = events[-1]
    assert code == EXIT_OK and result["event"] == "result", result
    assert result["song"] == str(excerpt) and result["duration"] == pytest.approx(8.0, abs=0.01)
    assert 60 < result["tempo"] < 200 and result["fps"] == 15.0
    assert abs(result["frames"] - 120) <= 1
    beats = np.array(result["beat_times"])
    assert len(beats) >= 8 and (np.diff(beats) > 0).all() and beats[0] >= 0 and beats[-1] < 8


def test_a_second_request_while_a_job_runs_is_answered_and_the_job_goes_on(start):
    worker = start({"job": "analyse", "song": str(shared_data("music", LONG_SONG)),
                    "use_cache": False})
    worker.until(lambda e: e["event"] == "progress" and e["stage"] == "analyse")
    worker.send('{"job": "check"}')  # the analysis takes seconds: the listener reads it first
    events, code = worker.finish()
    busy = [e for e in events if e["event"] == "log" and e.get("kind") == "busy"]
    assert len(busy) == 1 and busy[0]["level"] == "error" and "one request" in busy[0]["message"]
    assert code == EXIT_OK and events[-1]["event"] == "result"
    assert events.index(busy[0]) < len(events) - 1


@pytest.fixture(scope="module")
def six_long_songs(tmp_path_factory):
    """LONG_SONG six times over (13 min) as a wav: its analysis takes several times the cancel
    limit (7 s here), so a cancel that waited for the analysis to end would fail."""
    import soundfile

    from dancerev_core.music.audio import load_audio

    rate = 22050
    waveform = load_audio(shared_data("music", LONG_SONG), rate)
    path = tmp_path_factory.mktemp("long-song") / "six-times.wav"
    soundfile.write(path, np.tile(waveform, 6), rate)
    return path


def test_cancel_interrupts_an_analysis_in_native_code(start, six_long_songs):
    """No progress callback runs inside the analysis: the interrupt fallback stops it."""
    worker = start({"job": "analyse", "song": str(six_long_songs), "use_cache": False})
    worker.until(lambda e: e["event"] == "progress" and e["stage"] == "analyse")
    time.sleep(0.2)  # well inside the decoding and feature extraction
    events, code, seconds = worker.cancel()
    assert_stopped_promptly("analysis", events, code, seconds)


# -- generate --------------------------------------------------------------------------------
def test_generate_writes_motion_files_with_the_beats(start, excerpt, tmp_path):
    model = checkpoint(tmp_path)
    out = tmp_path / "out"
    events, code, _ = run(start, {"job": "generate", "song": str(excerpt),
                                  "checkpoint": str(model), "output": str(out), "name": "take",
                                  "start": 1.0, "seconds": 5.0, "seed": 3, "num": 2,
                                  "device": "cpu"})
    result = events[-1]
    assert code == EXIT_OK and result["event"] == "result", result
    stages = [e["stage"] for e in events if e["event"] == "progress"]
    assert stages[:3] == ["load", "analyse", "generate"] and stages[-1] == "write"
    assert result["files"] == [str(out / "take_1.npz"), str(out / "take_2.npz")]
    assert leftovers(out) == ["take_1.npz", "take_2.npz"]
    assert result["song"] == str(excerpt) and result["checkpoint"] == str(model)
    assert (result["frames"], result["fps"], result["skeleton"]) == (75, 15.0, "canonical24")
    assert result["audio_start"] == 1.0 and result["seed"] == 3 and result["num"] == 2
    first, second = (load_motion(path) for path in result["files"])
    assert first.num_frames == 75 and first.meta["beat_times"] == result["beat_times"]
    assert first.meta["music"] == "excerpt.wav" and first.meta["variation"] == 1
    assert result["beat_times"] and all(0 <= t < 5.0 for t in result["beat_times"])
    assert not np.allclose(first.positions, second.positions)
    assert set(result["beat_sync"]) >= {"on_beat_after", "kinematic_beats", "musical_beats"}
    assert first.meta["beat_sync"] == result["beat_sync"]


def test_generate_keeps_the_models_own_timing_when_asked(start, excerpt, tmp_path):
    model = checkpoint(tmp_path)
    request = {"job": "generate", "song": str(excerpt), "checkpoint": str(model),
               "output": str(tmp_path / "out"), "seconds": 5.0, "device": "cpu"}
    synced, own = (run(start, {**request, "name": name, "beat_sync": sync})[0][-1]
                   for name, sync in (("synced", True), ("own", False)))
    assert synced["event"] == own["event"] == "result" and own["beat_sync"] is None
    assert "beat_sync" not in load_motion(own["files"][0]).meta
    assert synced["beat_sync"]["musical_beats"] > 0


@pytest.mark.parametrize("how", ["cancel line", "stdin closed"])
def test_cancel_a_long_generation_leaves_nothing(start, tmp_path, how):
    model = checkpoint(tmp_path, decoder_hidden=768)
    out = tmp_path / "out"
    worker = start({"job": "generate", "song": str(shared_data("music", SONG)),
                    "checkpoint": str(model), "output": str(out), "num": 32})
    worker.until(lambda e: e["event"] == "progress" and e["stage"] == "generate"
                 and e["done"] > 0)
    events, code, seconds = worker.cancel(close=how == "stdin closed")
    assert_stopped_promptly(f"generation ({how})", events, code, seconds)
    reason = "cancel requested" if how == "cancel line" else "stdin closed"
    assert reason in events[-1]["message"]
    assert leftovers(out) == []


def test_generate_lifts_a_2d_models_dances_to_3d(start, excerpt, tmp_path):
    model = checkpoint(tmp_path, joint_set="body25")
    events, code, _ = run(start, {"job": "generate", "song": str(excerpt),
                                  "checkpoint": str(model), "output": str(tmp_path / "out"),
                                  "seconds": 2, "lift": True})
    result = events[-1]
    assert code == EXIT_OK and result["event"] == "result", result
    dance = load_motion(result["files"][0])
    assert dance.skeleton == "canonical24" and dance.dims == 3 and dance.fps == 15
    assert dance.num_frames == 30 and dance.meta["beat_times"] == result["beat_times"]
    assert any(e.get("stage") == "lift" for e in events)


# -- train -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paper_dataset(tmp_path_factory):
    """Three 6 s clips in the paper's JSON format (random music, smooth random 2D dances)."""
    from dancerev_core.formats.paper_json import PaperClip, write_paper_json
    from dancerev_core.motion import Motion
    from dancerev_core.skeletons import BODY_25

    root = tmp_path_factory.mktemp("paper")
    rng = np.random.default_rng(0)
    for index in range(3):
        frames = 90
        music = rng.standard_normal((frames, 438)).astype(np.float32)
        steps = rng.normal(0, 0.01, (frames, BODY_25.num_joints, 2)).cumsum(axis=0)
        positions = (0.3 * rng.standard_normal((1, BODY_25.num_joints, 2)) + steps)
        motion = Motion(positions=positions.astype(np.float32), fps=15.0, skeleton="body25",
                        joint_names=BODY_25.joint_names)
        write_paper_json(PaperClip(f"clip{index}", music, motion.to_root_relative()),
                         root / "hiphop" / f"clip{index}.json")
    return root


TRAIN = {"job": "train", "format": "paper", "seq_len": 30, "batch_size": 2, "lr": 3e-3,
         "val_fraction": 0.34, "device": "cpu", "precision": "fp32"}


def test_train_reports_steps_and_epochs_and_resumes(start, paper_dataset, tmp_path):
    from dancerev_core.training import load_run

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {**TINY_MODEL, "schedule": "linear", "lam": 0.5}}))
    out = tmp_path / "run"
    request = {**TRAIN, "dataset": str(paper_dataset), "output": str(out),
               "config": str(config), "epochs": 2}
    events, code, _ = run(start, request)
    result = events[-1]
    assert code == EXIT_OK and result["event"] == "result", result
    assert result["epoch"] == 2 and result["last"] == str(out / "last.json")
    assert result["best"] == str(out / "best.json") and result["val_loss"] > 0
    steps = [e for e in events if e["event"] == "progress" and e["stage"] == "train"]
    epochs = [e for e in events if e["event"] == "progress" and e["stage"] == "epoch"]
    assert steps and all(e["epochs"] == 2 and e["loss"] > 0 for e in steps)
    assert steps[-1]["done"] == steps[-1]["total"] == 2 * steps[-1]["steps"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(e["val_loss"] > 0 and e["train_loss"] > 0 for e in epochs)
    assert any(e["event"] == "log" and "data: 3 clips" in e["message"] for e in events)

    events, code, _ = run(start, {"job": "train", "dataset": str(paper_dataset),
                                  "output": str(out), "resume": True, "epochs": 3})
    assert code == EXIT_OK and events[-1]["epoch"] == 3, events[-1]
    assert any(e["event"] == "log" and "resuming" in e["message"] for e in events)
    assert [e["epoch"] for e in events if e.get("stage") == "epoch"] == [3]
    assert load_run(out).training["epoch"] == 3


def test_cancel_training_keeps_the_last_checkpoint_to_resume(start, paper_dataset, tmp_path):
    from dancerev_core.training import load_run

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {**TINY_MODEL, "decoder_hidden": 256}}))
    out = tmp_path / "run"
    worker = start({**TRAIN, "dataset": str(paper_dataset), "output": str(out),
                    "config": str(config), "epochs": 1000})
    worker.until(lambda e: e.get("stage") == "epoch" and e["epoch"] == 2)
    worker.until(lambda e: e.get("stage") == "train")  # into epoch 3
    events, code, seconds = worker.cancel()
    assert_stopped_promptly("training", events, code, seconds)
    cancelled = events[-1]
    assert cancelled["last_checkpoint"] == str(out / "last.json")
    epoch = load_run(out).training["epoch"]
    assert epoch >= 2 and cancelled["epoch"] == epoch
    assert not [name for name in leftovers(out) if name.endswith(".tmp")]
    history = (out / "history.jsonl").read_text().splitlines()
    assert len(history) >= epoch

    events, code, _ = run(start, {"job": "train", "dataset": str(paper_dataset),
                                  "output": str(out), "resume": True, "epochs": epoch + 1})
    assert code == EXIT_OK and events[-1]["epoch"] == epoch + 1
