"""Render a dance: a Workbench preview (our camera and floor), or the user's own scene.

The preview: Workbench is the only engine that renders in seconds on a CPU (about 0.1 s a
frame at 480 x 270 here; EEVEE takes ~25 s a frame). The camera looks at the character from the
front (the canonical frame faces -Y) and frames every pose of the dance, so nothing leaves
the picture. The scene's sound strips are muxed into the video by Blender's own FFmpeg.
The user's scene (`render_scene`): everything as their .blend sets it up, over the dance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from . import compat
from .core import errors

PREVIEW_NAME = "DanceRev Preview"
FLOOR_NAME = "DanceRev Floor"


def posed_points(armature: bpy.types.Object, frames: np.ndarray) -> np.ndarray:
    """World-space heads and tails of every pose bone at each frame (F x 2B x 3)."""
    scene = bpy.context.scene
    current = scene.frame_current
    samples = []
    try:
        for frame in frames:
            scene.frame_set(int(frame))
            world = np.array(armature.matrix_world, dtype=np.float64)
            local = np.array([point for bone in armature.pose.bones
                              for point in (bone.head, bone.tail)], dtype=np.float64)
            samples.append(local @ world[:3, :3].T + world[:3, 3])
    finally:
        scene.frame_set(current)
    return np.stack(samples)


def posed_bounds(armature: bpy.types.Object, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-space (min, max) corners of the pose bones' heads and tails over `frames`."""
    points = posed_points(armature, frames).reshape(-1, 3)
    return points.min(axis=0), points.max(axis=0)


def follow_path(points: np.ndarray) -> np.ndarray:
    """Where the camera aims at each sample: the body's horizontal centre, smoothed over a few
    samples so the camera glides instead of shaking; height fixed (F x 3)."""
    centre = (points.min(axis=1) + points.max(axis=1)) / 2
    if len(centre) >= 3:
        kernel = np.array([0.25, 0.5, 0.25])
        padded = np.concatenate([centre[:1], centre, centre[-1:]])
        centre = sum(w * padded[k:k + len(centre)] for k, w in enumerate(kernel))
    centre[:, 2] = centre[:, 2].mean()
    return centre


def _linked(scene: bpy.types.Scene, obj: bpy.types.Object) -> bpy.types.Object:
    if obj.name not in scene.collection.objects:
        scene.collection.objects.link(obj)
    return obj


def add_floor(scene: bpy.types.Scene, centre: np.ndarray, size: float) -> bpy.types.Object:
    """A square floor at z = 0 under the dance (reused when it exists)."""
    obj = bpy.data.objects.get(FLOOR_NAME)
    if obj is None or obj.type != "MESH":
        half = 0.5
        mesh = bpy.data.meshes.new(FLOOR_NAME)
        mesh.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)],
                         [], [(0, 1, 2, 3)])
        obj = bpy.data.objects.new(FLOOR_NAME, mesh)
        material = bpy.data.materials.new(FLOOR_NAME)
        material.diffuse_color = (0.55, 0.57, 0.6, 1.0)
        mesh.materials.append(material)
    obj.location = (float(centre[0]), float(centre[1]), 0.0)
    obj.scale = (size, size, 1.0)
    return _linked(scene, obj)


def frame_camera(scene: bpy.types.Scene, low: np.ndarray, high: np.ndarray,
                 aspect: float, lens: float = 50.0) -> bpy.types.Object:
    """A camera in front of the box (low, high), slightly above, that sees all of it."""
    obj = bpy.data.objects.get(PREVIEW_NAME)
    if obj is None or obj.type != "CAMERA":
        obj = bpy.data.objects.new(PREVIEW_NAME, bpy.data.cameras.new(PREVIEW_NAME))
    camera = obj.data
    camera.lens = lens
    camera.sensor_fit = "HORIZONTAL"
    half_width = math.atan(camera.sensor_width / (2 * lens))  # horizontal half field of view
    half_height = math.atan(math.tan(half_width) / aspect)
    centre = (low + high) / 2
    margin = 1.15
    width = (high[0] - low[0]) / 2 * margin
    height = (high[2] - low[2]) / 2 * margin
    distance = max(width / math.tan(half_width), height / math.tan(half_height), 1.0)
    distance += (high[1] - low[1]) / 2  # from the front face of the box, not its centre
    tilt = math.radians(8.0)  # a little from above, so the floor reads as a floor
    target = Vector((float(centre[0]), float(centre[1]), float(centre[2])))
    offset = Vector((0.0, -math.cos(tilt), math.sin(tilt))) * distance
    obj.location = target + offset
    obj.rotation_euler = (-offset).to_track_quat("-Z", "Y").to_euler()
    scene.camera = _linked(scene, obj)
    return obj


def follow_camera(scene: bpy.types.Scene, points: np.ndarray, frames: np.ndarray,
                  aspect: float) -> bpy.types.Object:
    """A camera that travels with the dancer: framed on the largest pose around the body's
    centre, keyed at the sampled frames along the (smoothed) path of that centre."""
    centres = follow_path(points)
    relative = points - centres[:, None]
    low, high = relative.reshape(-1, 3).min(axis=0), relative.reshape(-1, 3).max(axis=0)
    low[2] = min(low[2], -centres[0, 2])  # keep the floor in the picture
    camera = frame_camera(scene, low, high, aspect)
    offset = np.array(camera.location)
    if camera.animation_data is not None:
        camera.animation_data_clear()
    for frame, centre in zip(frames, centres, strict=True):
        camera.location = tuple(offset + centre)
        camera.keyframe_insert("location", frame=int(frame))
    return camera


def configure_output(scene: bpy.types.Scene, path: str | Path, size: tuple[int, int],
                     with_audio: bool = True) -> None:
    """Workbench, H.264 MP4 (AAC audio when the scene has sound) at `size` pixels."""
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    render.resolution_x, render.resolution_y = size
    render.resolution_percentage = 100
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_shadows = True
    shading.show_cavity = False
    scene.display.render_aa = "FXAA"  # one sample instead of 8: ~4x faster, fine at preview size
    if scene.world is None:  # Workbench renders the world's colour behind everything
        scene.world = bpy.data.worlds.new(PREVIEW_NAME)
        scene.world.color = (0.32, 0.35, 0.4)
    settings = render.image_settings
    compat.set_movie_output(settings)
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.constant_rate_factor = "MEDIUM"
    render.ffmpeg.audio_codec = "AAC" if with_audio else "NONE"
    render.ffmpeg.audio_channels = "STEREO"
    render.use_file_extension = False
    render.filepath = str(path)


def render_preview(armature: bpy.types.Object, path: str | Path, frame_start: int,
                   frame_end: int, size: tuple[int, int] = (480, 270),
                   between_frames: Callable[[], None] | None = None) -> Path:
    """Render frames frame_start..frame_end of the scene to `path` (an .mp4) and return it.

    The scene keeps the camera, floor and output settings, so the user can re-render or
    adjust them; the dance itself is not touched. `path` is written as it goes: callers
    render to a partial name (`files.staged_outputs`). `between_frames` runs after each
    frame: a render cannot be cancelled from Python, so that is where a caller stops it.
    """
    scene = bpy.context.scene
    frames = np.unique(np.round(np.linspace(frame_start, frame_end,
                                            num=max(2, (frame_end - frame_start) // 6 + 1))))
    points = posed_points(armature, frames)
    low, high = points.reshape(-1, 3).min(axis=0), points.reshape(-1, 3).max(axis=0)
    footprint = max(high[0] - low[0], high[1] - low[1], 2.0) * 3
    add_floor(scene, (low + high) / 2, footprint)
    follow_camera(scene, points, frames, size[0] / size[1])
    has_sound = any(strip.type == "SOUND" for strip in compat.all_strips(scene.sequence_editor))
    scene.frame_start, scene.frame_end = int(frame_start), int(frame_end)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    configure_output(scene, path, size, with_audio=has_sound)
    with after_each_frame(between_frames):
        bpy.ops.render.render(animation=True, scene=scene.name)
    return path


MOVIE_AUDIO = {"MPEG4": "AAC", "MKV": "AAC", "QUICKTIME": "AAC", "WEBM": "OPUS",
               "OGG": "VORBIS", "AVI": "PCM", "FLASH": "MP3"}  # a codec each container takes


def scene_render_problem(scene: bpy.types.Scene) -> str:
    """Why the scene cannot render itself as it is set up ("" when it can)."""
    camera = scene.camera
    if camera is None:
        return ("the scene has no active camera (--render-with scene renders with the "
                ".blend's own camera; set one, or use --render-with preview)")
    if camera.type != "CAMERA":
        return f"the scene's active camera {camera.name!r} is a {camera.type.lower()}, not a camera"
    if scene.render.resolution_x < 1 or scene.render.resolution_y < 1:
        return "the scene's output resolution is zero"
    return ""


def scene_writes_movie(scene: bpy.types.Scene) -> bool:
    """True for an FFmpeg movie, False for an image sequence (one file per frame)."""
    return scene.render.image_settings.file_format == "FFMPEG"


def render_scene(path: str | Path, frame_start: int, frame_end: int,
                 between_frames: Callable[[], None] | None = None) -> Path:
    """Render the scene as its .blend sets it up: its camera, engine, resolution, frame rate,
    colour management and output format, over frame_start..frame_end.

    A movie goes to `path` with the scene's sound strips (the song) muxed in: a movie set up
    without audio gets its container's usual codec. An image format writes `path` as a
    folder of frames (frame_0001.png, ...), without sound. Only the output path, the frame
    range and that audio codec change, and not in the saved .blend (written before).
    """
    scene = bpy.context.scene
    problem = scene_render_problem(scene)
    if problem:
        raise errors.DanceRevError(problem)
    render = scene.render
    scene.frame_start, scene.frame_end = int(frame_start), int(frame_end)
    path = Path(path)
    if scene_writes_movie(scene):
        has_sound = any(strip.type == "SOUND"
                        for strip in compat.all_strips(scene.sequence_editor))
        if has_sound and render.ffmpeg.audio_codec == "NONE":
            render.ffmpeg.audio_codec = MOVIE_AUDIO.get(render.ffmpeg.format, "AAC")
        path.parent.mkdir(parents=True, exist_ok=True)
        render.use_file_extension = False
        render.filepath = str(path)
    else:
        path.mkdir(parents=True, exist_ok=True)
        render.use_file_extension = True
        render.filepath = str(path / "frame_")
    with after_each_frame(between_frames):
        bpy.ops.render.render(animation=True, scene=scene.name)
    return path


@contextmanager
def after_each_frame(callback: Callable[[], None] | None) -> Iterator[None]:
    """`callback` as a render_post handler while the block runs."""
    if callback is None:
        yield
        return

    def handler(*_: object) -> None:
        callback()

    bpy.app.handlers.render_post.append(handler)
    try:
        yield
    finally:
        bpy.app.handlers.render_post.remove(handler)
