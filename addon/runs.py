"""The panel's running jobs (one generation, one training), followed by a timer.

A `bpy.app.timers` callback on the main thread polls each job's worker, shows its progress
on the scene's settings and, when it ends, hands the result to the run (which writes the
keyframes on the main thread, the only place bpy data may change). A scene that disappears
(another file opened) cancels its jobs; so does unregistering the add-on.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import bpy

from . import jobs, settings
from .core import errors

INTERVAL = 0.1  # seconds between polls
_active: dict[str, Run] = {}


def is_running(kind: str) -> bool:
    return kind in _active


def active(kind: str) -> Run | None:
    return _active.get(kind)


def redraw() -> None:
    """Ask the 3D viewports' sidebars to redraw (the progress bar), when there is a window."""
    manager = bpy.context.window_manager
    for window in (manager.windows if manager else ()):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


def worker_job(request: dict[str, Any], context: bpy.types.Context | None = None, *,
               warm: bool = False) -> jobs.WorkerJob:
    """A worker job configured from the add-on's preferences (not started).

    `warm` runs it on the add-on's one warm worker (generation: the model and the songs
    stay loaded between clicks); otherwise it gets a process of its own (training)."""
    prefs = settings.settings(context)
    runtime = settings.runtime_folder()
    site_packages = runtime if runtime.is_dir() else None
    python = jobs.find_python(prefs.python or None, site_packages)
    cache = prefs.cache_dir or str(settings.user_folder() / "cache")
    options = {"site_packages": site_packages, "cache_dir": cache, "device": prefs.device}
    if not warm:
        return jobs.WorkerJob(request, python, **options)
    return warm_worker(python, options).job(request)


_warm: list[jobs.WarmWorker] = []  # at most one; replaced when the preferences change


def warm_worker(python: str | None, options: dict[str, Any]) -> jobs.WarmWorker:
    """The add-on's warm worker for these settings (a new one, the old stopped, if they
    changed)."""
    wanted = jobs.WarmWorker(python, **options)
    if _warm and _warm[0].key == wanted.key:
        return _warm[0]
    stop_warm_worker()
    _warm.append(wanted)
    return wanted


def stop_warm_worker() -> None:
    """End the warm worker (unregistering, quitting, preferences changed)."""
    while _warm:
        _warm.pop().stop()


atexit.register(stop_warm_worker)  # Blender quitting; its closed pipe would end it too


def scratch_folder(kind: str) -> Path:
    """A new folder for a job's output files (the worker writes them atomically)."""
    root = settings.user_folder() / kind
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=root))


class Run:
    """A job and what to do with its events; subclasses say what a result means."""

    kind = "job"

    def __init__(self, scene: bpy.types.Scene, job: jobs.WorkerJob) -> None:
        self.scene_name = scene.name
        self.job = job
        self.message = ""  # the last thing worth telling the user
        self.scratch: Path | None = None  # a folder of the job's own files, removed at the end
        self.updated = False  # the last step brought events (the panel needs a redraw)

    @property
    def scene(self) -> bpy.types.Scene | None:
        return bpy.data.scenes.get(self.scene_name)

    def show(self, status: str, progress: float | None = None) -> None:
        """Put a status line (and progress 0..1) on the panel; subclasses pick the fields."""

    def on_progress(self, event: dict[str, Any]) -> None:
        total = event.get("total") or 0
        fraction = (event.get("done", 0) / total) if total else None
        self.show(event.get("message") or event.get("stage", ""), fraction)

    def on_result(self, event: dict[str, Any]) -> None:
        self.show("Done", 1.0)

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "progress":
            self.on_progress(event)
        elif kind == "log":
            self.show(str(event.get("message", "")))
        elif kind == "result":
            try:
                self.on_result(event)
            except errors.DanceRevError as error:
                self.fail(str(error))
        elif kind == "error":
            self.fail(str(event.get("message", "unknown error")))
        elif kind == "cancelled":
            self.message = "Cancelled"
            self.show("Cancelled", 0.0)

    def fail(self, message: str) -> None:
        self.message = message
        self.show(f"Error: {message}", 0.0)

    def finish(self) -> None:
        """The run has ended (done, failed or cancelled): remove its scratch folder."""
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def step(self) -> bool:
        """Poll once; True while the job is still going."""
        if self.scene is None:  # the scene (or the whole file) went away
            self.job.cancel(wait=False)
        events = self.job.poll()
        for event in events:
            self.handle(event)
        self.updated = bool(events)
        return not self.job.finished


def start(run: Run) -> Run:
    """Start a run's worker and follow it with the timer; one run per kind at a time."""
    if run.kind in _active:
        raise errors.DanceRevError(f"a {run.kind} job is already running: cancel it first")
    _active[run.kind] = run
    run.job.start()
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=INTERVAL)
    return run


def tick() -> float | None:
    """The timer: step every run, drop the finished ones; stop when none is left."""
    changed = False
    for kind, run in list(_active.items()):
        try:
            going = run.step()
        except Exception as error:  # never let a timer die with a job left running
            run.job.cancel(wait=False)
            run.fail(f"{type(error).__name__}: {error}")
            going = False
        changed = changed or run.updated or not going
        if not going:
            del _active[kind]
            run.finish()
    if changed:  # a training run can go quiet for minutes: no redraw while nothing changes
        redraw()
    return INTERVAL if _active else None


def finish_all(timeout: float = 60.0) -> None:
    """Block until every run has ended (tests and headless use; the UI never blocks)."""
    import time

    end = time.monotonic() + timeout
    while _active and time.monotonic() < end:
        tick()
        time.sleep(0.02)
    if _active:
        raise TimeoutError(f"jobs still running after {timeout} s: {sorted(_active)}")


def cancel(kind: str) -> bool:
    run = _active.get(kind)
    if run is None:
        return False
    run.job.cancel(wait=False)
    return True


def cancel_all() -> None:
    """Stop every worker now (unregistering, quitting): nothing may outlive the add-on."""
    for run in list(_active.values()):
        run.job.cancel(wait=True)
        for event in run.job.poll():
            run.handle(event)
        run.finish()
    _active.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
