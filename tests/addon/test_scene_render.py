"""`dance --render-with scene`: the user's own .blend renders the dance, as it is set up.

The test builds that .blend itself: the default dancer, a camera, a light, Cycles at 1 sample
and 64 x 48 pixels at 4 frames a second, so a 0.4-s dance is 2 frames.
"""

from __future__ import annotations

import hashlib
import math

import bpy
import pytest

from dancerev_core.cli import main
from tests.addon.conftest import video_streams
from tests.conftest import shared_data

SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
SIZE = (64, 48)

pytestmark = [pytest.mark.timeout(300, method="signal"),
              pytest.mark.usefixtures("stops_its_workers")]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def users_scene(path, *, movie: bool, camera: bool = True) -> str:
    """A .blend as a user might hand it over: a character, a light, a camera, their output."""
    from addon import character

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    character.build_default_character(scene)
    light = bpy.data.objects.new("Key", bpy.data.lights.new("Key", "SUN"))
    light.rotation_euler = (math.radians(50), 0, math.radians(30))
    scene.collection.objects.link(light)
    if camera:
        cam = bpy.data.objects.new("Shot", bpy.data.cameras.new("Shot"))
        cam.location = (0.0, -7.0, 1.2)
        cam.rotation_euler = (math.radians(90), 0, 0)
        scene.collection.objects.link(cam)
        scene.camera = cam
    render = scene.render
    render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.cycles.device = "CPU"
    render.resolution_x, render.resolution_y = SIZE
    render.resolution_percentage = 100
    render.fps, render.fps_base = 4, 1.0
    scene.view_settings.view_transform = "Standard"
    settings = render.image_settings
    if movie:
        from addon import compat

        compat.set_movie_output(settings)
        render.ffmpeg.format = "MPEG4"
        render.ffmpeg.codec = "H264"
        render.ffmpeg.audio_codec = "NONE"  # the song is muxed in all the same
    else:
        settings.file_format = "PNG"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return str(path)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dance(model, tmp_path, user_blend, render_to, *extra) -> int:
    return main(["dance", str(shared_data("music", SONG)), "--model", str(model), "--seconds",
                 "0.4", "--character", user_blend, "-o", str(tmp_path / "out" / "shot.blend"),
                 "--render", str(render_to), "--render-with", "scene", *extra])


def test_a_movie_scene_renders_with_its_own_camera_engine_size_and_the_song(model, tmp_path,
                                                                            capsys):
    import av

    user = tmp_path / "user.blend"
    users_scene(user, movie=True)
    before = digest(user)
    movie = tmp_path / "out" / "shot.mp4"
    assert dance(model, tmp_path, str(user), movie) == 0, capsys.readouterr()
    assert digest(user) == before  # only read
    with av.open(str(movie)) as container:
        assert {stream.type for stream in container.streams} == video_streams()
        video = container.streams.video[0]
        frames = list(container.decode(video=0))
    assert (video.codec_context.width, video.codec_context.height) == SIZE
    assert sorted(p.name for p in movie.parent.iterdir()) == ["shot.blend", "shot.mp4"]
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "shot.blend"))
    scene = bpy.context.scene  # the user's settings, saved as they were
    assert len(frames) == scene.frame_end - scene.frame_start + 1 == 2  # the dance's frames
    assert scene.camera.name == "Shot" and scene.render.engine == "CYCLES"
    assert (scene.render.resolution_x, scene.render.resolution_y) == SIZE
    assert scene.view_settings.view_transform == "Standard"
    assert not any(obj.name.startswith("DanceRev Preview") for obj in bpy.data.objects)


def test_an_image_format_scene_writes_a_folder_of_frames_and_replaces_an_earlier_one(
        model, tmp_path, capsys):
    import numpy as np

    user = tmp_path / "user.blend"
    users_scene(user, movie=False)
    frames = tmp_path / "out" / "frames"
    frames.mkdir(parents=True)
    (frames / "old_0001.png").write_bytes(b"earlier render")
    assert dance(model, tmp_path, str(user), frames) == 0, capsys.readouterr()
    assert sorted(p.name for p in frames.iterdir()) == ["frame_0001.png", "frame_0002.png"]
    image = bpy.data.images.load(str(frames / "frame_0002.png"))
    assert tuple(image.size) == SIZE
    pixels = np.array(image.pixels[:]).reshape(SIZE[1], SIZE[0], -1)[..., :3]
    assert pixels.std() > 0.01  # lit and seen: not a blank frame
    leftovers = [p.name for p in frames.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_scene_without_a_camera_is_one_line_before_any_dance(model, tmp_path, capsys):
    user = tmp_path / "user.blend"
    users_scene(user, movie=True, camera=False)
    assert dance(model, tmp_path, str(user), tmp_path / "out" / "shot.mp4") == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "user.blend: the scene has no active camera" in error
    assert not (tmp_path / "out" / "shot.blend").exists()


@pytest.mark.parametrize("extra, message", [
    (["--size", "64x48"], "--size sets the preview's size"),
])
def test_scene_render_options_that_do_not_fit_are_one_line(model, tmp_path, capsys, extra,
                                                           message):
    assert dance(model, tmp_path, "any.blend", tmp_path / "a.mp4", *extra) == 2
    assert message in capsys.readouterr().err
    assert main(["dance", "song.ogg", "-o", str(tmp_path / "a.blend"), "--render-with",
                 "scene"]) == 2
    assert "--render-with scene needs --render" in capsys.readouterr().err


def test_a_frames_folder_that_holds_the_character_is_refused(model, tmp_path, capsys):
    user = tmp_path / "user.blend"
    users_scene(user, movie=False)
    assert main(["dance", str(shared_data("music", SONG)), "--model", str(model),
                 "--character", str(user), "-o", str(tmp_path / "elsewhere" / "a.blend"),
                 "--render", str(tmp_path), "--render-with", "scene"]) == 2
    assert "which replacing the folder would remove" in capsys.readouterr().err
    assert user.is_file()
