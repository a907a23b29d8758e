"""The add-on's job runner and runtime installer, without bpy.

Fake workers (a `dancerev_core.worker` package written into a temp folder) act out each way
a job can go; a few tests run the real worker to check the two ends agree. Some loops here
poll until a worker has spoken: each test has a deadline (pytest-timeout), so a worker that
never does fails the test instead of hanging the run.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

ADDON = REPO_ROOT / "addon"


def load_addon(folder: Path, name: str):
    """The add-on's plain-Python modules, imported as a package without its bpy __init__."""
    package = types.ModuleType(name)
    package.__path__ = [str(folder)]
    sys.modules[name] = package
    return (importlib.import_module(f"{name}.jobs"), importlib.import_module(f"{name}.runtime"))


jobs, runtime = load_addon(ADDON, "dancerev_addon_under_test")

pytestmark = pytest.mark.timeout(60, method="signal")  # the slowest test takes about 1.5 s
# Room on top of the runner's own deadlines (jobs.CANCEL_TIMEOUT, jobs.KILL_GRACE) for a
# shared, noisy machine: measured latencies are a small fraction of those deadlines.
NOISE_MARGIN = 1.0

FAKE_WORKER = '''
import json, os, sys, threading, time

def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\\n")
    sys.stdout.flush()

request = json.loads(sys.stdin.readline())
job = request["job"]
emit("hello", protocol=99 if job == "old" else 1, dancerev="fake")
if job == "ok":
    for done in range(3):
        emit("progress", stage="work", done=done, total=3, message=f"step {done}")
    emit("log", message="a note")
    emit("result", files=["a.npz"])
elif job == "crash":
    emit("progress", stage="work", done=0, total=3, message="")
    print("Traceback (most recent call last):", file=sys.stderr)
    print("MemoryError: out of memory in the fake worker", file=sys.stderr)
    sys.stderr.flush()
    os._exit(3)
elif job == "noise":
    print("Loading weights... 50%")
    sys.stdout.flush()
    time.sleep(30)
elif job in ("slow", "stubborn"):
    cancelled = threading.Event()

    def listen():
        for line in sys.stdin:
            if json.loads(line).get("cancel"):
                cancelled.set()
        cancelled.set()  # EOF

    threading.Thread(target=listen, daemon=True).start()
    done = 0
    while job == "stubborn" or not cancelled.is_set():
        emit("progress", stage="work", done=done, total=1000, message="")
        done += 1
        time.sleep(0.02)
    emit("cancelled", message="slow cancelled (cancel requested)")
    sys.exit(130)
elif job == "old":
    time.sleep(30)
'''


@pytest.fixture(scope="module")
def fake_core(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake-core")
    package = root / "dancerev_core" / "worker"
    package.mkdir(parents=True)
    (root / "dancerev_core" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(textwrap.dedent(FAKE_WORKER))
    return root


@pytest.fixture
def started():
    running = []

    def start(job, **options):
        worker = jobs.WorkerJob(job if isinstance(job, dict) else {"job": job},
                                options.pop("python", sys.executable), **options).start()
        running.append(worker)
        return worker

    yield start
    for worker in running:
        worker.cancel(wait=True)


def events_of(worker, timeout=20.0):
    events = worker.wait(timeout)
    assert worker.finished, (worker.state, events)
    return events


# -- the happy path and its order ----------------------------------------------------------
def test_events_arrive_in_order_through_poll(started, fake_core):
    worker = started("ok", core_path=fake_core)
    assert worker.state == "running"
    events = []
    deadline = time.monotonic() + 20
    while not worker.finished and time.monotonic() < deadline:
        events += worker.poll()  # what a bpy.app.timers callback does
        time.sleep(0.01)
    assert [e["event"] for e in events] == ["hello", "progress", "progress", "progress", "log",
                                            "result"]
    assert [e["done"] for e in events if e["event"] == "progress"] == [0, 1, 2]
    assert worker.state == "done" and worker.result["files"] == ["a.npz"]
    assert worker.progress["done"] == 2 and worker.hello["dancerev"] == "fake"
    assert worker.poll() == [] and worker.error is None


def test_the_real_worker_through_the_runner(started, tmp_path):
    python = jobs.find_python()
    assert python == sys.executable  # the venv has torch and librosa
    worker = started({"job": "analyse", "song": str(tmp_path / "missing.ogg")}, python=python,
                     cache_dir=tmp_path / "cache", device="cpu")
    events = events_of(worker)
    assert [e["event"] for e in events] == ["hello", "progress", "error"]
    assert events[0]["protocol"] == jobs.PROTOCOL_VERSION
    assert worker.state == "failed" and worker.error.endswith("missing.ogg: no such audio file")
    deadline = time.monotonic() + 10  # the error line comes just before the process exits
    while worker.returncode is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.returncode == 2


def test_worker_environment_puts_the_core_first():
    env = jobs.worker_environment("/ext/dancerev", "/user/site-packages", "/cache", "cuda",
                                  base={"PYTHONPATH": "/other", "HOME": "/home/me"})
    assert env["PYTHONPATH"].split(":") == ["/ext/dancerev", "/user/site-packages", "/other"]
    assert env["DANCEREV_CACHE_DIR"] == "/cache" and env["DANCEREV_DEVICE"] == "cuda"
    assert env["HOME"] == "/home/me"
    assert jobs.core_parent() == REPO_ROOT  # the repository's core, for development


def test_pure_python_no_bpy_no_torch():
    # importing this test module loads jobs and runtime (and pytest), nothing else of ours
    code = (f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r})\n"
            "import tests.addon.test_jobs\n"
            "assert 'bpy' not in sys.modules and 'torch' not in sys.modules, "
            "[m for m in ('bpy', 'torch') if m in sys.modules]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr


# -- cancel --------------------------------------------------------------------------------
def test_cancel_stops_a_cooperating_worker(started, fake_core):
    worker = started("slow", core_path=fake_core)
    while worker.progress is None:
        worker.poll()
        time.sleep(0.01)
    began = time.monotonic()
    worker.cancel()  # returns when the worker exits, killing it after CANCEL_TIMEOUT
    assert time.monotonic() - began < jobs.CANCEL_TIMEOUT + NOISE_MARGIN
    events = events_of(worker)
    assert events[-1]["event"] == "cancelled" and "cancel requested" in events[-1]["message"]
    assert worker.state == "cancelled" and worker.returncode == 130  # it stopped, not killed


STUBBORN_TIMEOUT = 0.5  # a short cancel timeout, so that the kill comes quickly


@pytest.mark.parametrize("wait", [True, False])
def test_cancel_kills_a_worker_that_does_not_stop(started, fake_core, wait):
    worker = started("stubborn", core_path=fake_core, cancel_timeout=STUBBORN_TIMEOUT)
    while worker.progress is None:
        worker.poll()
        time.sleep(0.01)
    began = time.monotonic()
    worker.cancel(wait=wait)
    assert worker.state == "cancelling" or wait
    events = events_of(worker)
    # The design's worst case is the timeout, then SIGTERM and KILL_GRACE before SIGKILL.
    assert time.monotonic() - began < STUBBORN_TIMEOUT + jobs.KILL_GRACE + NOISE_MARGIN
    assert events[-1] == {"event": "cancelled", "message": "stubborn cancelled (the worker was "
                                                           "stopped)"}
    assert worker.state == "cancelled" and worker.returncode != 0


def test_cancel_before_start():
    worker = jobs.WorkerJob({"job": "check"}, sys.executable)
    worker.cancel()
    assert worker.state == "cancelled" and worker.poll()[0]["event"] == "cancelled"


# -- failures, one line each ---------------------------------------------------------------
@pytest.mark.parametrize("python, message", [
    (None, "no Python interpreter with torch and librosa for the worker"),
    ("/nowhere/bin/python3", "the worker's Python interpreter /nowhere/bin/python3 was not "
                             "found"),
])
def test_missing_interpreter(started, python, message):
    worker = started("check", python=python)
    events = worker.poll()
    assert worker.state == "failed" and events == [{"event": "error", "message": worker.error,
                                                    "kind": "worker"}]
    assert worker.error.startswith(message)


def test_an_interpreter_that_cannot_run(started, tmp_path):
    not_a_program = tmp_path / "python"
    not_a_program.write_text("just text")
    worker = started("check", python=not_a_program)
    assert worker.state == "failed" and "cannot start the worker" in worker.error


def test_crashed_worker_names_the_last_stderr_line(started, fake_core):
    worker = started("crash", core_path=fake_core)
    events = events_of(worker)
    assert [e["event"] for e in events] == ["hello", "progress", "error"]
    assert worker.error == ("the worker stopped unexpectedly during crash (exit code 3): "
                            "MemoryError: out of memory in the fake worker")
    assert "Traceback (most recent call last):" in worker.stderr_tail


def test_broken_protocol_is_an_error_and_stops_the_worker(started, fake_core):
    worker = started("noise", core_path=fake_core)
    events = events_of(worker)
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "worker"
    assert worker.error.startswith("the worker broke the protocol (it wrote 'Loading weights..."
                                   " 50%' instead of a JSON event)")
    deadline = time.monotonic() + 5
    while worker.returncode is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.returncode is not None  # stopped, not left running


def test_another_protocol_version(started, fake_core):
    worker = started("old", core_path=fake_core)
    events_of(worker)
    assert "speaks protocol 99, this add-on speaks 1" in worker.error


def test_a_folder_without_the_core(started, tmp_path):
    worker = started("check", core_path=tmp_path)
    assert worker.state == "failed" and worker.error == f"no dancerev_core package in {tmp_path}"


# -- the runtime installer -----------------------------------------------------------------
def test_runtime_requirements_come_from_pyproject_and_the_build(tmp_path):
    import tomllib

    pins = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["ml"]
    assert runtime.runtime_requirements() == pins
    assert "torch==2.13.0" in pins and any(pin.startswith("librosa==") for pin in pins)

    spec = importlib.util.spec_from_file_location("dancerev_build", REPO_ROOT / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    staged = build.stage(tmp_path)  # the extension's folder as the zip holds it
    assert not (staged / "pyproject.toml").exists()
    _jobs, staged_runtime = load_addon(staged, "dancerev_staged_under_test")
    assert staged_runtime.runtime_requirements() == pins
    assert _jobs.core_parent() == staged  # the worker runs the extension's own core


def test_pip_command_installs_the_pins_into_the_target():
    command = runtime.pip_command("/py", "/user/site", extra_args=["--index-url", "URL"])
    assert command[:4] == ["/py", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == "/user/site"
    assert command[-len(runtime.runtime_requirements()):] == runtime.runtime_requirements()
    assert command.index("--index-url") < command.index("torch==2.13.0")


def tiny_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel, so pip really installs something without a network."""
    import zipfile

    path = folder / "dancerev_probe-1.0-py3-none-any.whl"
    files = {"dancerev_probe/__init__.py": "VALUE = 42\n",
             "dancerev_probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\n"
                                                      "Name: dancerev-probe\nVersion: 1.0\n",
             "dancerev_probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
                                                   "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    files["dancerev_probe-1.0.dist-info/RECORD"] = "".join(f"{name},,\n" for name in files) + \
        "dancerev_probe-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_runtime_install_streams_its_output(tmp_path):
    lines = []
    target = tmp_path / "site-packages"
    code = runtime.install_runtime(sys.executable, target, lines.append,
                                   requirements=[str(tiny_wheel(tmp_path))],
                                   extra_args=["--no-index"])
    assert code == 0, lines
    assert any("Successfully installed dancerev-probe-1.0" in line for line in lines), lines
    probe = subprocess.run([sys.executable, "-c", "import dancerev_probe; "
                            "print(dancerev_probe.__file__)"], capture_output=True, text=True,
                           env={**jobs.worker_environment(REPO_ROOT, target)}, check=True)
    assert Path(probe.stdout.strip()).is_relative_to(target)
    failing = runtime.RuntimeInstall([sys.executable, "-c",
                                      "print('Collecting torch'); print('ERROR: no space'); "
                                      "raise SystemExit(1)"])
    seen = []
    while not failing.finished:
        seen += failing.poll()
        time.sleep(0.01)
    assert seen == ["Collecting torch", "ERROR: no space"]
    assert failing.state == "failed"
    assert failing.message == "pip failed (exit code 1): ERROR: no space"


# -- the warm worker (the real one: `python -m dancerev_core.worker --warm`) ----------------
@pytest.fixture
def warm(tmp_path):
    worker = jobs.WarmWorker(sys.executable, cache_dir=tmp_path / "cache", device="cpu",
                             env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    yield worker
    worker.stop()
    assert not worker.alive()


def long_generation(tmp_path) -> dict:
    """A generation that takes many seconds (a wide decoder, 32 dances of a 61-s song)."""
    from tests.conftest import shared_data
    from tests.core.test_worker import SONG, checkpoint

    model = checkpoint(tmp_path, decoder_hidden=768)
    return {"job": "generate", "song": str(shared_data("music", SONG)),
            "checkpoint": str(model), "output": str(tmp_path / "long"), "num": 32,
            "device": "cpu"}


def until_generating(job) -> None:
    while not (job.progress and job.progress.get("stage") == "generate"
               and job.progress.get("done", 0) > 0):
        assert not job.finished, (job.state, job.error)
        job.poll()
        time.sleep(0.01)


def test_warm_worker_runs_job_after_job_in_one_process(warm, tmp_path):
    missing = {"job": "analyse", "song": str(tmp_path / "missing.ogg")}
    first = warm.job(missing).start()
    events_of(first)
    assert first.hello["warm"] is True and first.reused is False
    second = warm.job({"job": "check"}).start()
    events = events_of(second)
    assert [e["event"] for e in events][-1] == "result" and second.state == "done"
    assert second.reused is True and warm.starts == 1 and warm.alive()
    assert first.error.endswith("missing.ogg: no such audio file")


def test_warm_cancel_stops_the_job_and_keeps_the_process(warm, tmp_path):
    job = warm.job(long_generation(tmp_path)).start()
    until_generating(job)
    began = time.monotonic()
    job.cancel(wait=True)
    assert time.monotonic() - began < jobs.CANCEL_TIMEOUT + NOISE_MARGIN
    assert job.state == "cancelled" and warm.alive()
    assert events_of(job)[-1]["event"] == "cancelled"
    assert not any((tmp_path / "long").glob("*"))
    after = warm.job({"job": "check"}).start()
    events_of(after)
    assert after.state == "done" and after.reused and warm.starts == 1


def test_a_worker_that_dies_mid_job_fails_that_job_only(warm, tmp_path):
    job = warm.job(long_generation(tmp_path)).start()
    until_generating(job)
    warm.process.kill()  # a crash: out of memory, a segfault in a native library
    events = events_of(job)
    assert events[-1]["event"] == "error" and job.state == "failed"
    assert job.error.startswith("the worker stopped unexpectedly during generate (exit code")
    assert "\n" not in job.error
    after = warm.job({"job": "check"}).start()
    events_of(after)
    assert after.state == "done" and not after.reused and warm.starts == 2


def test_one_job_at_a_time_and_stop_ends_the_process(warm, tmp_path):
    job = warm.job(long_generation(tmp_path)).start()
    with pytest.raises(RuntimeError, match="running a generate job"):
        warm.job({"job": "check"}).start()
    process = warm.process
    warm.stop()  # what unregistering the add-on does: the job cancelled, the process ended
    assert process.poll() is not None and job.finished and not warm.alive()


@pytest.fixture
def listening(tmp_path):
    """A warm worker listening on a socket, as `dancerev batch` starts one per slot."""
    import os

    path = tmp_path / "worker.sock"
    process = subprocess.Popen([sys.executable, "-m", "dancerev_core.worker", "--warm",
                                "--listen", str(path)], stdin=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1",
                                    "DANCEREV_CACHE_DIR": str(tmp_path / "cache")})
    while not path.exists():
        assert process.poll() is None
        time.sleep(0.01)
    yield path, process
    process.stdin.close()  # the batch went away: the worker ends
    assert process.wait(10) == 0


def test_socket_jobs_share_one_worker_through_cancel_and_a_lost_client(listening, tmp_path):
    path, process = listening
    job = jobs.SocketJob(long_generation(tmp_path), path).start()
    until_generating(job)
    job.cancel(wait=True)
    assert job.state == "cancelled" and process.poll() is None
    pid = job.hello["pid"]
    lost = jobs.SocketJob(long_generation(tmp_path / "lost"), path).start()
    until_generating(lost)
    lost._kill()  # the job's process died: its connection closed mid-job
    after = jobs.SocketJob({"job": "check"}, path).start()
    events_of(after)
    assert after.state == "done" and after.hello["pid"] == pid == process.pid
    assert not any((tmp_path / "long").glob("*"))


def test_no_worker_at_the_socket_is_one_error_line(tmp_path):
    job = jobs.SocketJob({"job": "check"}, tmp_path / "none.sock").start()
    assert job.state == "failed" and job.error.startswith("cannot reach the warm worker at")
    assert jobs.job_for({"job": "check"}, sys.executable).__class__ is jobs.WorkerJob
