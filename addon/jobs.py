"""Run DanceRev jobs in a worker process and follow them without blocking Blender.

torch and librosa never load into Blender's process: a `WorkerJob` starts
`python -m dancerev_core.worker` with an interpreter that has them, sends the request and
reads the worker's JSON lines (protocol: `dancerev_core/worker/__init__.py`) in daemon
threads. The main thread calls `poll()` from a `bpy.app.timers` callback, gets the new events
and reads `state`. Every way a job can go wrong ends in exactly one `error` event with a
one-line message: no interpreter, a worker that crashed (with its last stderr line), a
worker that broke the protocol or speaks another version of it.

Pure Python (no bpy), so the tests and a headless batch runner use it as it is.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

PROTOCOL_VERSION = 1  # the worker protocol this add-on speaks
WORKER_MODULE = "dancerev_core.worker"
TERMINAL_EVENTS = ("result", "error", "cancelled")
STATES = ("idle", "running", "cancelling", "done", "failed", "cancelled")
CANCEL_TIMEOUT = 1.0  # seconds a worker gets to stop after a cancel before it is killed
KILL_GRACE = 0.5  # seconds between the SIGTERM of that kill and its SIGKILL
STDERR_LINES = 50
RUNTIME_MODULES = ("torch", "librosa")
_PROBE = ("import importlib.util as u, sys; "
          f"sys.exit(0 if all(u.find_spec(m) for m in {RUNTIME_MODULES!r}) else 1)")


# -- where things are ----------------------------------------------------------------------
def core_parent() -> Path:
    """The folder holding the `dancerev_core` package the worker should run.

    Inside the built extension the core sits beside this file; in the repository it is one
    folder up; otherwise wherever the installed package is.
    """
    here = Path(__file__).resolve().parent
    for folder in (here, here.parent):
        if (folder / "dancerev_core" / "__init__.py").is_file():
            return folder
    spec = importlib.util.find_spec("dancerev_core")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent.parent
    raise FileNotFoundError("the dancerev_core package was not found beside the add-on")


def worker_environment(core_path: str | os.PathLike, site_packages: str | os.PathLike | None =
                       None, cache_dir: str | os.PathLike | None = None,
                       device: str | None = None,
                       base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: the core first on PYTHONPATH, then the runtime folder.

    `cache_dir` becomes DANCEREV_CACHE_DIR (the feature cache) and `device` DANCEREV_DEVICE
    (auto, cpu or cuda); unset ones keep whatever `base` (default: this process's
    environment) has.
    """
    env = dict(os.environ if base is None else base)
    paths = [str(core_path)]
    if site_packages:
        paths.append(str(site_packages))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if cache_dir:
        env["DANCEREV_CACHE_DIR"] = str(cache_dir)
    if device:
        env["DANCEREV_DEVICE"] = device
    return env


def has_runtime(python: str | os.PathLike, site_packages: str | os.PathLike | None = None,
                timeout: float = 30.0) -> bool:
    """Whether `python` (with the runtime folder) finds torch and librosa, without importing."""
    env = dict(os.environ)
    if site_packages:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site_packages),
                                                        env.get("PYTHONPATH")) if p)
    try:
        return subprocess.run([str(python), "-c", _PROBE], env=env, timeout=timeout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_python(configured: str | os.PathLike | None = None,
                site_packages: str | os.PathLike | None = None) -> str | None:
    """The interpreter to run the worker with, or None when there is none yet.

    An interpreter the user configured is used as given (a missing one is reported when the
    job starts, not replaced behind their back). Otherwise this process's own Python
    (Blender's, or the venv's under the bpy module) when it finds torch and librosa, with the
    runtime folder `site_packages` added.
    """
    if configured:
        return str(configured)
    if sys.executable and has_runtime(sys.executable, site_packages):
        return sys.executable
    return None


# -- reading a process's output ------------------------------------------------------------
def read_lines(stream: IO[bytes], sink: queue.Queue, tag: str) -> threading.Thread:
    """A daemon thread putting (tag, line) for each line of `stream`, then (tag, None)."""

    def pump() -> None:
        try:
            for raw in iter(stream.readline, b""):
                sink.put((tag, raw.decode("utf-8", errors="replace").rstrip("\r\n")))
        except (OSError, ValueError):
            pass
        finally:
            sink.put((tag, None))

    thread = threading.Thread(target=pump, name=f"dancerev-{tag}", daemon=True)
    thread.start()
    return thread


# -- the job -------------------------------------------------------------------------------
class WorkerJob:
    """One worker process running one request; poll it from the main thread.

    `state` goes idle -> running -> done | failed | cancelled (cancelling in between when
    cancelled). `poll()` returns the new events in order: the worker's own (hello, progress,
    log, result, error, cancelled) and, when the worker could not say it, one `error`
    (kind "worker") or `cancelled` made here. After a terminal event, `result` or `error`
    hold its payload or message.
    """

    def __init__(self, request: Mapping[str, Any], python: str | os.PathLike | None, *,
                 core_path: str | os.PathLike | None = None,
                 site_packages: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, device: str | None = None,
                 env: Mapping[str, str] | None = None,
                 cancel_timeout: float = CANCEL_TIMEOUT) -> None:
        self.request = dict(request)
        self.python = str(python) if python else None
        self.core_path = Path(core_path) if core_path else None
        self.site_packages = site_packages
        self.cache_dir = cache_dir
        self.device = device
        self.base_env = env
        self.cancel_timeout = cancel_timeout
        self.state = "idle"
        self.hello: dict[str, Any] | None = None
        self.progress: dict[str, Any] | None = None  # the latest progress event
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()
        self._pending: list[dict[str, Any]] = []
        self._stderr_thread: threading.Thread | None = None
        self._stdout_done = False
        self._deadline: float | None = None

    @property
    def job(self) -> str:
        return str(self.request.get("job", "?"))

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    # -- starting ------------------------------------------------------------------------------
    def start(self) -> WorkerJob:
        """Start the worker; problems starting it become an `error` event, never an exception."""
        if self.state != "idle":
            raise RuntimeError(f"the {self.job} job was already started")
        self.state = "running"
        process = self._spawn()
        if isinstance(process, str):
            self._finish_with_error(process)
            return self
        self._process = process
        read_lines(self._process.stdout, self._lines, "stdout")
        self._stderr_thread = read_lines(self._process.stderr, self._lines, "stderr")
        self._send(self.request)
        return self

    def _spawn(self, *arguments: str) -> subprocess.Popen | str:
        """The worker process, or why it could not be started (one line)."""
        problem = self._start_problem()
        if problem is not None:
            return problem
        try:
            return subprocess.Popen(
                [self.python, "-m", WORKER_MODULE, *arguments], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.core_path,
                env=worker_environment(self.core_path, self.site_packages, self.cache_dir,
                                       self.device, self.base_env))
        except OSError as error:
            return f"cannot start the worker with {self.python}: {error.strerror or error}"

    def _start_problem(self) -> str | None:
        if not self.python:
            return ("no Python interpreter with torch and librosa for the worker: install "
                    "the runtime or choose an interpreter in the preferences")
        if not Path(self.python).is_file():
            return (f"the worker's Python interpreter {self.python} was not found (choose the "
                    "python program itself in the preferences)")
        if self.core_path is None:
            try:
                self.core_path = core_parent()
            except FileNotFoundError as error:
                return str(error)
        if not (self.core_path / "dancerev_core" / "__init__.py").is_file():
            return f"no dancerev_core package in {self.core_path}"
        return None

    def _send(self, message: Mapping[str, Any]) -> None:
        try:
            self._process.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self._process.stdin.flush()
        except (OSError, ValueError):  # the worker is gone; its exit is handled by poll
            pass

    # -- following -----------------------------------------------------------------------------
    def poll(self) -> list[dict[str, Any]]:
        """The events since the last call, in order (never blocks)."""
        events, self._pending = self._pending, []
        if not self._started() or self.finished:
            return events
        while not self.finished:
            try:
                tag, line = self._lines.get_nowait()
            except queue.Empty:
                break
            if tag == "stderr":
                if line is not None and line.strip():
                    self.stderr_tail.append(line)
            elif line is None:
                self._stdout_done = True
            elif line.strip():
                events.extend(self._take(line))
        if not self.finished:
            events.extend(self._check_process())
        return events

    def _started(self) -> bool:
        return self._process is not None

    def _take(self, line: str) -> list[dict[str, Any]]:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            shown = line if len(line) <= 120 else line[:117] + "..."
            return [self._fail(f"the worker broke the protocol (it wrote {shown!r} instead of "
                               "a JSON event); see its output on stderr")]
        kind = event["event"]
        if kind == "hello":
            self.hello = event
            if event.get("protocol") != PROTOCOL_VERSION:
                return [event, self._fail(
                    f"the worker ({self.core_path}) speaks protocol {event.get('protocol')}, "
                    f"this add-on speaks {PROTOCOL_VERSION}: reinstall DanceRev")]
        elif kind == "progress":
            self.progress = event
        elif kind == "result":
            self.state, self.result = "done", event
        elif kind == "error":
            self.state, self.error = "failed", str(event.get("message", "unknown error"))
        elif kind == "cancelled":
            self.state = "cancelled"
        return [event]

    def _check_process(self) -> list[dict[str, Any]]:
        """Kill a worker that overran its cancel; explain one that ended without saying."""
        code = self._process.poll()
        if code is None:
            if self._deadline is not None and time.monotonic() > self._deadline:
                self._kill()
            return []
        if not self._stdout_done:
            return []  # the last lines are still on their way
        if self.state == "cancelling":
            self.state = "cancelled"
            return [{"event": "cancelled", "message": f"{self.job} cancelled (the worker was "
                                                      "stopped)"}]
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=0.5)
        while True:  # stdout is done: what is left in the queue is stderr
            try:
                _tag, line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None and line.strip():
                self.stderr_tail.append(line)
        last = self.stderr_tail[-1].strip() if self.stderr_tail else "no error output"
        return [self._fail(f"the worker stopped unexpectedly during {self.job} "
                           f"(exit code {code}): {last}")]

    def _fail(self, message: str) -> dict[str, Any]:
        self.state, self.error = "failed", message
        self._kill()
        return {"event": "error", "message": message, "kind": "worker"}

    def _finish_with_error(self, message: str) -> None:
        self.state, self.error = "failed", message
        self._pending.append({"event": "error", "message": message, "kind": "worker"})

    # -- stopping ------------------------------------------------------------------------------
    def cancel(self, wait: bool = True) -> None:
        """Ask the worker to stop; with `wait`, block up to `cancel_timeout` then kill it.

        Without `wait`, `poll()` kills it once the timeout has passed. The outcome arrives
        through `poll()`: `cancelled`, or the `result` if the job had already finished.
        """
        if self.finished:
            return
        if self._process is None:
            self.state = "cancelled"
            self._pending.append({"event": "cancelled", "message": f"{self.job} cancelled "
                                                                   "before it started"})
            return
        self._ask_to_cancel()
        if wait:
            try:
                self._process.wait(timeout=max(0.0, self._deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill()

    def _kill(self) -> None:
        if self._process is not None:
            end_process(self._process)

    def _ask_to_cancel(self) -> None:
        """Send the cancel once, and start the clock it has to stop by."""
        if self.state == "running":
            self.state = "cancelling"
            self._deadline = time.monotonic() + self.cancel_timeout
            self._send({"cancel": True})

    def _wait_finished(self, end: float) -> None:
        """Poll until the job has ended or `end`, keeping its events for the next `poll()`."""
        while not self.finished and time.monotonic() < end:
            arrived = WorkerJob.poll(self)  # it replaces self._pending: read it first
            self._pending.extend(arrived)
            if not self.finished:
                time.sleep(0.01)

    def wait(self, timeout: float | None = None, interval: float = 0.05,
             on_event: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Block until the job ends (or `timeout`), returning every event and handing each to
        `on_event` as it arrives: for headless use."""
        end = None if timeout is None else time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        while True:
            arrived = self.poll()
            if on_event is not None:
                for event in arrived:
                    on_event(event)
            events.extend(arrived)
            if self.finished or (end is not None and time.monotonic() >= end):
                return events
            time.sleep(interval)


# -- the warm worker -----------------------------------------------------------------------
class WarmWorker:
    """One `--warm` worker process kept between jobs (dancerev_core/worker/warm.py).

    The worker keeps torch imported, the model loaded with its int8 decoder and the songs
    analysed, so only the first job pays for them. `job(request)` makes a `WarmJob` that
    runs on this process, starting it on first use and again whenever it has died (crash,
    a cancel it ignored, a protocol error): a dead worker costs the job it was running
    (one `error` event) and nothing after it. One job at a time; `stop()` ends the process
    (EOF on its stdin, then kill), and so does the end of Blender's process, which closes
    the pipe.
    """

    def __init__(self, python: str | os.PathLike | None, *,
                 core_path: str | os.PathLike | None = None,
                 site_packages: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, device: str | None = None,
                 env: Mapping[str, str] | None = None,
                 cancel_timeout: float = CANCEL_TIMEOUT) -> None:
        self.settings = {"python": python, "core_path": core_path,
                         "site_packages": site_packages, "cache_dir": cache_dir,
                         "device": device, "env": env, "cancel_timeout": cancel_timeout}
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.stderr_thread: threading.Thread | None = None
        self.hello: dict[str, Any] | None = None
        self.starts = 0  # processes started so far (tests and benchmarks read it)
        self.current: WarmJob | None = None

    @property
    def key(self) -> tuple:
        """What a worker is started with: a change of preferences needs a new one."""
        s = self.settings
        return tuple(str(s[k]) if s[k] is not None else None
                     for k in ("python", "core_path", "site_packages", "cache_dir", "device"))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def job(self, request: Mapping[str, Any]) -> WarmJob:
        """A job for this worker (not started)."""
        return WarmJob(request, self)

    def adopt(self, process: subprocess.Popen) -> None:
        """Follow a freshly started worker process: new queue, new readers."""
        self.process, self.lines, self.hello = process, queue.Queue(), None
        read_lines(process.stdout, self.lines, "stdout")
        self.stderr_thread = read_lines(process.stderr, self.lines, "stderr")
        self.starts += 1

    def stop(self, timeout: float = 2.0) -> None:
        """End the worker: its job cancelled, EOF on stdin, then terminate and kill."""
        if self.current is not None and not self.current.finished:
            self.current.cancel(wait=True)
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            end_process(process)


def end_process(process: subprocess.Popen) -> None:
    """SIGTERM (its clean-up), then SIGKILL after KILL_GRACE."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class WarmJob(WorkerJob):
    """A `WorkerJob` run on a `WarmWorker`'s process: its events and states are the same, but
    its end leaves the process running for the next job. A cancel stops the job, not the
    process, unless the job overruns `cancel_timeout`: then the process is killed and the
    next job starts a fresh one."""

    def __init__(self, request: Mapping[str, Any], worker: WarmWorker) -> None:
        settings = worker.settings
        super().__init__(request, settings["python"], core_path=settings["core_path"],
                         site_packages=settings["site_packages"],
                         cache_dir=settings["cache_dir"], device=settings["device"],
                         env=settings["env"], cancel_timeout=settings["cancel_timeout"])
        self.worker = worker
        self.reused = False  # ran on a process an earlier job had started

    def start(self) -> WarmJob:
        if self.state != "idle":
            raise RuntimeError(f"the {self.job} job was already started")
        current = self.worker.current
        if current is not None and not current.finished:
            raise RuntimeError(f"the warm worker is running a {current.job} job")
        self.state = "running"
        self.reused = self.worker.alive()
        if not self.reused:
            process = self._spawn("--warm")
            if isinstance(process, str):
                self._finish_with_error(process)
                return self
            self.worker.adopt(process)
        self.worker.current = self
        self._process, self._lines = self.worker.process, self.worker.lines
        self._stderr_thread = self.worker.stderr_thread
        self.hello = self.worker.hello
        self._send(self.request)
        return self

    def _take(self, line: str) -> list[dict[str, Any]]:
        events = super()._take(line)
        if events and events[0].get("event") == "hello":
            self.worker.hello = self.hello
        return events

    def cancel(self, wait: bool = True) -> None:
        """Ask the job to stop; with `wait`, block until it has (the process stays) or, past
        `cancel_timeout`, kill the process. The outcome arrives through `poll()`."""
        if self.finished:
            return
        if self._process is None:
            super().cancel(wait)
            return
        self._ask_to_cancel()
        if wait:
            self._wait_finished(self._deadline + KILL_GRACE + 1.0)


# -- a warm worker shared over a socket ----------------------------------------------------
SOCKET_ENV = "DANCEREV_WORKER_SOCKET"  # set by `dancerev batch` for its jobs


class SocketJob(WorkerJob):
    """A job sent to a warm worker listening on a Unix socket (`worker --warm --listen`),
    which `dancerev batch` keeps for its jobs. The same events and states as a `WorkerJob`;
    the process is not ours: a cancel that overruns closes the connection (which cancels the
    job there, as EOF does) instead of killing it."""

    def __init__(self, request: Mapping[str, Any], path: str | os.PathLike,
                 cancel_timeout: float = CANCEL_TIMEOUT) -> None:
        super().__init__(request, sys.executable, cancel_timeout=cancel_timeout)
        self.path = str(path)
        self._socket: socket.socket | None = None
        self._connected = False
        self._writer: IO[bytes] | None = None

    def start(self) -> SocketJob:
        if self.state != "idle":
            raise RuntimeError(f"the {self.job} job was already started")
        self.state = "running"
        try:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(self.path)
        except OSError as error:
            self._finish_with_error(f"cannot reach the warm worker at {self.path}: "
                                    f"{error.strerror or error}")
            return self
        self._socket, self._connected = connection, True
        self._writer = connection.makefile("wb", buffering=0)
        read_lines(connection.makefile("rb", buffering=0), self._lines, "stdout")
        self._send(self.request)
        return self

    def _started(self) -> bool:
        return self._connected

    def _take(self, line: str) -> list[dict[str, Any]]:
        events = super()._take(line)
        if self.finished:  # hang up: the worker takes its next client
            self._kill()
        return events

    @property
    def returncode(self) -> int | None:
        return None

    def _send(self, message: Mapping[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):  # gone: poll says so
            self._writer.write((json.dumps(message) + "\n").encode("utf-8"))

    def _check_process(self) -> list[dict[str, Any]]:
        if not self._stdout_done:
            if self._deadline is not None and time.monotonic() > self._deadline:
                self._kill()
            return []
        self._kill()
        if self.state == "cancelling":
            self.state = "cancelled"
            return [{"event": "cancelled", "message": f"{self.job} cancelled (the connection to "
                                                      "the warm worker was closed)"}]
        return [self._fail(f"the warm worker at {self.path} went away during {self.job}")]

    def _kill(self) -> None:
        connection, self._socket = self._socket, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def cancel(self, wait: bool = True) -> None:
        if self.finished:
            return
        if not self._connected:
            super().cancel(wait)
            return
        self._ask_to_cancel()
        if wait:
            self._wait_finished(self._deadline + 1.0)


def job_for(request: Mapping[str, Any], python: str | os.PathLike | None) -> WorkerJob:
    """The job on the warm worker $DANCEREV_WORKER_SOCKET names (a SocketJob, which fails at
    start when nobody listens there), else in a process of its own."""
    path = os.environ.get(SOCKET_ENV)
    if path:
        return SocketJob(request, path)
    return WorkerJob(request, python)
