"""The preferences' runtime: whether the worker has one, and installing it in the background."""

from __future__ import annotations

import sys

import bpy

from . import jobs, runtime, settings
from .core import errors

_install: runtime.RuntimeInstall | None = None
_last_install: dict[str, str] = {}  # how the last installation ended: state, message
_probe_cache: dict[tuple[str, str], bool] = {}


def runtime_summary() -> str:
    """One line for the preferences: which interpreter the worker uses, or what is missing."""
    if _install is not None and not _install.finished:
        return f"Installing: {_install.message[:60]}"
    if _last_install.get("state") == "failed":
        return f"Install failed: {_last_install['message'][:80]}"
    prefs = settings.settings()
    folder = settings.runtime_folder()
    key = (prefs.python, str(folder))
    if key not in _probe_cache:
        _probe_cache[key] = jobs.find_python(prefs.python or None,
                                             folder if folder.is_dir() else None) is not None
    if _probe_cache[key]:
        return f"Worker runtime ready ({prefs.python or 'Blender Python'})"
    return "No worker runtime: install it or choose a Python with torch and librosa"


def _tick() -> float | None:
    global _install
    if _install is None:
        return None
    _install.poll()
    if not _install.finished:
        return 0.5
    _last_install.update(state=_install.state, message=_install.message)
    _probe_cache.clear()
    _install = None
    return None


def start() -> None:
    """Run pip in the background into the extension's runtime folder."""
    global _install
    if _install is not None and not _install.finished:
        raise errors.DanceRevError("the runtime is already being installed")
    folder = settings.runtime_folder()
    folder.mkdir(parents=True, exist_ok=True)
    _install = runtime.RuntimeInstall(runtime.pip_command(sys.executable, folder))
    bpy.app.timers.register(_tick, first_interval=0.5)


def stop() -> None:
    """Cancel an installation in progress (unregistering the add-on)."""
    global _install
    if _install is not None and not _install.finished:
        _install.cancel()
    _install = None
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
