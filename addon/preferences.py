"""Add-on preferences: the worker's interpreter, the device, the cache folder, the runtime.

The worker runs torch and librosa in its own process; these settings say which Python runs
it and where the runtime (installed on request into the extension's user folder) lives.
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


class DANCEREV_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    python: bpy.props.StringProperty(
        name="Worker Python", subtype="FILE_PATH",
        description="Python 3.11 interpreter with torch and librosa that runs generation and "
                    "training. Empty: Blender's own Python with the installed runtime")
    device: bpy.props.EnumProperty(name="Device", items=DEVICES, default="auto")
    cache_dir: bpy.props.StringProperty(
        name="Cache Folder", subtype="DIR_PATH",
        description="Where analysed songs and generated dances are kept. Empty: the "
                    "extension's user folder")

    def draw(self, context: bpy.types.Context) -> None:
        from .runtime_install import runtime_summary

        layout = self.layout
        layout.prop(self, "python")
        layout.prop(self, "device")
        layout.prop(self, "cache_dir")
        row = layout.row()
        row.label(text=runtime_summary())
        row.operator("dancerev.install_runtime", icon="IMPORT")


classes = (DANCEREV_AP_preferences,)
