"""DanceRev core: music to dance, with no Blender dependency.

Modules that need torch or librosa import them lazily, so the data model, file formats and
retargeting load inside Blender's own Python with numpy alone.
"""

__version__ = "0.1.0"
