"""The add-on's settings as plain values, and its folders: what the rest of the add-on reads.

The worker runs torch and librosa in its own process; these settings say which Python runs
it and where the runtime (installed on request into the extension's user folder) lives. The
preferences UI that edits them is `preferences.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy

ADDON_PACKAGE = __package__
DEVICES = (("auto", "Auto", "CUDA with mixed precision when present, else the CPU"),
           ("cpu", "CPU", "Always the CPU"),
           ("cuda", "CUDA", "An NVIDIA GPU (fails clearly when there is none)"))


@dataclass(frozen=True)
class Settings:
    """The preferences as plain values (defaults when the add-on is not registered by name)."""

    python: str = ""
    device: str = "auto"
    cache_dir: str = ""


def user_folder() -> Path:
    """The extension's writable per-user folder (runtime, scratch files)."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, create=True))
    except (ValueError, TypeError):  # not installed as an extension (tests, development)
        return Path(bpy.utils.user_resource("SCRIPTS", path="dancerev", create=True))


def runtime_folder() -> Path:
    """Where the install button puts torch, librosa and the rest of the worker's runtime."""
    return user_folder() / "runtime"


def settings(context: bpy.types.Context | None = None) -> Settings:
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    if addon is None or addon.preferences is None:
        return Settings()
    prefs = addon.preferences
    return Settings(python=bpy.path.abspath(prefs.python) if prefs.python else "",
                    device=prefs.device,
                    cache_dir=bpy.path.abspath(prefs.cache_dir) if prefs.cache_dir else "")
