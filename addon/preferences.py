"""Add-on preferences: the worker's interpreter, the device, the cache folder, the runtime.

The values are read through `settings.py`; this module is only the panel that edits them,
with the runtime's state (`runtime_install`) shown beside its install button.
"""

from __future__ import annotations

import bpy

from .runtime_install import runtime_summary
from .settings import ADDON_PACKAGE, DEVICES


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
        layout = self.layout
        layout.prop(self, "python")
        layout.prop(self, "device")
        layout.prop(self, "cache_dir")
        row = layout.row()
        row.label(text=runtime_summary())
        row.operator("dancerev.install_runtime", icon="IMPORT")


classes = (DANCEREV_AP_preferences,)
