"""Reaching the add-on's headless code (which needs bpy) from the core's command line.

The core never imports bpy itself (docs/architecture.md); the `dance` command loads the
add-on package that sits beside `dancerev_core` in a source checkout, whose modules do.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ..errors import DanceRevError

ADDON_FOLDER = "addon"


def addon_module(name: str) -> ModuleType:
    """`addon.<name>` from the checkout holding this dancerev_core, with bpy importable."""
    if importlib.util.find_spec("bpy") is None:
        raise DanceRevError("this command needs the bpy module (Blender as a Python module): "
                            "pip install 'dancerev[blender]' (bpy 5.0.1, Python 3.11)")
    root = Path(__file__).resolve().parents[2]
    if not (root / ADDON_FOLDER / "__init__.py").is_file():
        raise DanceRevError(f"the Blender add-on folder {root / ADDON_FOLDER} is missing: run "
                            "this command from a DanceRev source checkout")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"{ADDON_FOLDER}.{name}")
