"""Blender tests run against the bpy module with a throw-away user configuration."""

import os
import tempfile

# Must happen before bpy is first imported, so the user's own Blender settings, add-ons
# and extensions are never read or written by the tests.
_USER_RESOURCES = tempfile.mkdtemp(prefix="dancerev-blender-user-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES
