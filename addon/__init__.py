"""DanceRev for Blender: the Dance tab in the 3D viewport's sidebar.

Blender-facing code only (properties, operators, panels); every computation lives in
`dancerev_core`, which this package carries inside the extension and never reaches torch or
librosa from Blender's own process.
"""

import bpy

from . import panels

_register, _unregister = bpy.utils.register_classes_factory(panels.classes)


def register() -> None:
    _register()


def unregister() -> None:
    _unregister()
