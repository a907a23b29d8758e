"""Interrupted `dance` and `batch`: real signals to real processes, outputs checked by bytes.

A job that writes several outputs replaces none of them until all are complete. Ctrl-C and
SIGTERM leave no partial file; SIGKILL cannot be caught, so what it leaves (hidden partial
names) is removed by the next run of the same job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dancerev_core.commands.batch import STOP_GRACE
from tests.conftest import REPO_ROOT, shared_data

SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
DEADLINE = 240  # seconds any one process here may take before the test fails instead of hangs
# The moments a kill lands at, each told by what the run has put on disk or said so far.
MOMENTS = {
    "generating": lambda out, lines: any("rig map:" in line for line in lines),
    "saving": lambda out, lines: (out / ".a.partial.blend").exists(),
    "rendering": lambda out, lines: (out / ".a.partial.mp4").exists(),
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def dance_command(model: Path, out: Path, seed: int, seconds: float = 6) -> list[str]:
    return [sys.executable, "-m", "dancerev_core", "dance", str(shared_data("music", SONG)),
            "--model", str(model), "--seconds", str(seconds), "--fps", "24", "--seed",
            str(seed), "-o", str(out / "a.blend"), "--render", str(out / "a.mp4"), "--bvh",
            str(out / "a.bvh"), "--size", "96x54"]


def outputs_of(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("a.blend", "a.bvh", "a.mp4")}


def leftovers(folder: Path) -> list[str]:
    """Hidden files and folders a job made on its way (partial outputs, its scratch)."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


class Running:
    """A process whose stderr is collected by a thread, so that waiting on it never blocks."""

    def __init__(self, command: list[str], **options) -> None:
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, **options)
        self.lines: list[str] = []
        self.stdout = ""
        self._readers = [threading.Thread(target=self._read_err, daemon=True),
                         threading.Thread(target=self._read_out, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_err(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def _read_out(self) -> None:
        self.stdout = self.process.stdout.read()

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"the run ended before {what}:\n{''.join(self.lines)}")
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"no {what} within {DEADLINE} s")
            time.sleep(0.01)

    def finish(self, timeout: float = DEADLINE) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            pytest.fail(f"the process did not end within {timeout} s")
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    @property
    def text(self) -> str:
        return self.stdout + "".join(self.lines)


@pytest.fixture(scope="module")
def earlier(model, tmp_path_factory):
    """A finished dance's three outputs: what every interrupted rerun must leave as it was."""
    out = tmp_path_factory.mktemp("earlier")
    done = subprocess.run(dance_command(model, out, seed=0, seconds=2), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=DEADLINE,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    return outputs_of(out)


def earlier_outputs_in(tmp_path: Path, earlier: dict[str, bytes]) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    for name, data in earlier.items():
        (out / name).write_bytes(data)
    return out


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_dance_killed_at_any_moment_replaces_no_output_and_the_rerun_cleans_up(
        model, earlier, tmp_path, moment):
    out = earlier_outputs_in(tmp_path, earlier)
    run = Running(dance_command(model, out, seed=1), start_new_session=True)
    run.wait_for(lambda: MOMENTS[moment](out, run.lines), f"the {moment} stage")
    os.killpg(run.process.pid, signal.SIGKILL)  # the dance and its worker, as a crash would
    assert run.finish() == -signal.SIGKILL
    assert outputs_of(out) == earlier, "an output was replaced before the job was complete"

    again = subprocess.run(dance_command(model, out, seed=1, seconds=2), cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=DEADLINE)
    assert again.returncode == 0, again.stderr
    assert leftovers(out) == [], "the rerun left what the killed run had started"
    assert outputs_of(out)["a.blend"] != earlier["a.blend"]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_dance_interrupted_while_rendering_leaves_no_partial_files(
        model, earlier, tmp_path, signum, code):
    out = earlier_outputs_in(tmp_path, earlier)
    run = Running(dance_command(model, out, seed=1), start_new_session=True)
    run.wait_for(lambda: MOMENTS["rendering"](out, run.lines), "the render")
    os.killpg(run.process.pid, signum)  # as a terminal's Ctrl-C or a scheduler's stop
    assert run.finish() == code, run.text
    assert outputs_of(out) == earlier
    assert leftovers(out) == []
    assert run.lines[-1].startswith("dancerev dance: "), run.text  # one line, no traceback
    # the render stops at the frame after the signal, not at its end (6 s at 24 fps);
    # Blender's own line per frame is in the run's log, not on the terminal
    assert "append frame" not in run.text.lower()
    (log,) = (tmp_path / "cache" / "logs").glob("dance-*.log")
    assert log.read_text().lower().count("append frame") < 6 * 24 - 1, run.text


def test_batch_stops_on_the_first_ctrl_c_keeping_finished_jobs(model, tmp_path):
    song = shared_data("music", SONG)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps({
        "defaults": {"model": str(model), "song": str(song), "fps": 24, "size": "96x54"},
        "jobs": [{"output": "out/first.blend", "seconds": 1},
                 {"output": "out/second.blend", "seconds": 20, "render": "out/second.mp4",
                  "bvh": "out/second.bvh"},
                 {"output": "out/third.blend", "seconds": 1}]}))
    run = Running([sys.executable, "-m", "dancerev_core", "batch", str(manifest), "--jobs",
                   "1"], start_new_session=True)
    out = tmp_path / "out"
    run.wait_for(lambda: (out / "first.blend").exists()
                 and (out / ".second.partial.mp4").exists(), "the second job's render")
    first = (out / "first.blend").read_bytes()
    os.killpg(run.process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    stopped = time.monotonic()
    # The design: every job gets STOP_GRACE seconds, then SIGKILL; the rest is process exit.
    assert run.finish(timeout=STOP_GRACE + 10) == 130, run.text
    print(f"batch stopped {time.monotonic() - stopped:.2f} s after Ctrl-C")
    assert (out / "first.blend").read_bytes() == first
    assert sorted(path.name for path in out.iterdir()) == ["first.blend", "first.log",
                                                          "second.log"]
    table = {line.split()[1]: line for line in run.stdout.splitlines()[1:4]}
    assert " done " in table["first"], run.stdout
    assert " stopped " in table["second"] and " not run " in table["third"], run.stdout
    assert "interrupted: 1 of 3 jobs finished and kept" in run.stdout
