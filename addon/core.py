"""Import `dancerev_core` the same way inside the built extension and in the repository.

In the extension zip the core sits inside the add-on package (`<addon>.dancerev_core`); in
the repository, for development, it is the installed top-level package. Only its numpy-only
modules are imported here.
"""

import importlib

try:
    dancerev_core = importlib.import_module(".dancerev_core", __package__)
except ImportError:  # running from the repository
    dancerev_core = importlib.import_module("dancerev_core")

console = importlib.import_module(".console", dancerev_core.__name__)
errors = importlib.import_module(".errors", dancerev_core.__name__)
files = importlib.import_module(".files", dancerev_core.__name__)
motion = importlib.import_module(".motion", dancerev_core.__name__)
motion_npz = importlib.import_module(".formats.motion_npz", dancerev_core.__name__)
retarget = importlib.import_module(".retarget", dancerev_core.__name__)
signals = importlib.import_module(".signals", dancerev_core.__name__)
skeletons = importlib.import_module(".skeletons", dancerev_core.__name__)
feet = importlib.import_module(".generation.feet", dancerev_core.__name__)

__all__ = ["console", "dancerev_core", "errors", "feet", "files", "motion", "motion_npz",
           "retarget", "signals", "skeletons"]
