"""The preview video: the camera sees every pose, the mp4 has the picture and the song."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from addon import compat, render
from tests.addon.conftest import needs_audio
from tests.conftest import shared_data


@pytest.fixture
def walking_armature():
    """An empty scene with a two-bone armature that walks 3 m along +X over 24 frames."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    data = bpy.data.armatures.new("rig")
    obj = bpy.data.objects.new("rig", data)
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    hips = data.edit_bones.new("hips")
    hips.head, hips.tail = (0, 0, 0.9), (0, 0, 1.2)
    head = data.edit_bones.new("head")
    head.head, head.tail, head.parent = (0, 0, 1.2), (0, 0, 1.7), hips
    bpy.ops.object.mode_set(mode="OBJECT")
    for frame, x in ((1, 0.0), (24, 3.0)):
        obj.location = (x, 0.0, 0.0)
        obj.keyframe_insert("location", frame=frame)
    return obj


def test_the_camera_follows_and_frames_every_pose(walking_armature):
    scene = bpy.context.scene
    low, high = render.posed_bounds(walking_armature, np.arange(1, 25))
    assert low[0] == pytest.approx(0.0, abs=1e-6) and high[0] == pytest.approx(3.0, abs=1e-6)
    frames = np.arange(1, 25, 3)
    points = render.posed_points(walking_armature, frames)
    camera = render.follow_camera(scene, points, frames, aspect=16 / 9)
    scene.render.resolution_x, scene.render.resolution_y = 1600, 900
    distances = []
    for frame, pose in zip(frames, points, strict=True):
        scene.frame_set(int(frame))
        for corner in np.array(np.meshgrid(*zip(pose.min(0), pose.max(0), strict=True))
                               ).T.reshape(-1, 3):
            x, y, depth = world_to_camera_view(scene, camera, Vector(corner))
            assert 0 <= x <= 1 and 0 <= y <= 1 and depth > 0, (frame, corner)
        distances.append(camera.matrix_world.translation.x)
    assert distances[-1] - distances[0] == pytest.approx(3.0 * 21 / 23, abs=0.3)  # it travels


def test_the_preview_has_video_and_the_song(walking_armature, tmp_path):
    import av

    needs_audio()
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    song = shared_data("music", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg")
    compat.add_sound_strip(editor, "song", str(song), 1, 1)
    bpy.ops.mesh.primitive_cube_add(size=0.4, location=(0, 0, 1.2))
    bpy.context.object.parent = walking_armature
    path = render.render_preview(walking_armature, tmp_path / "out" / "preview.mp4", 1, 12,
                                 size=(160, 90))
    assert path.exists() and not list(path.parent.glob(".*partial*"))
    with av.open(str(path)) as container:
        kinds = {stream.type: stream for stream in container.streams}
        assert set(kinds) == {"video", "audio"}
        frames = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (90, 160)
    assert np.std(frames[0]) > 5  # a picture (cube on a floor), not a blank frame


def test_no_sound_gives_a_silent_video(walking_armature, tmp_path):
    import av

    path = render.render_preview(walking_armature, tmp_path / "silent.mp4", 1, 3, size=(64, 36))
    with av.open(str(path)) as container:
        assert [stream.type for stream in container.streams] == ["video"]
