"""DanceRev for Blender: the Dance tab in the 3D viewport's sidebar.

Blender-facing code only (properties, operators, panels, the job runner, keyframe writing);
every computation lives in `dancerev_core`, which this package carries inside the extension.
torch and librosa never load into Blender's process: generation and training run in a
worker process (`jobs`, `runs`).
"""

import bpy

from . import operators, panels, preferences, properties, runs, runtime_install

_register, _unregister = bpy.utils.register_classes_factory(
    preferences.classes + properties.classes + operators.classes + panels.classes)


def register() -> None:
    _register()
    properties.register()


def unregister() -> None:
    runs.cancel_all()
    runs.stop_warm_worker()
    runtime_install.stop()
    properties.unregister()
    _unregister()
