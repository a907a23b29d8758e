"""Readers and writers for motion files; numpy only, never bpy, torch or librosa."""
