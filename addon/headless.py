"""`dancerev dance`: song + character -> .blend (+ preview .mp4, + .bvh), without Blender's UI.

The same path as the panel (`dance.plan_dance` -> worker -> `dance.apply_dances`), driven
from the bpy module in a plain Python process; generation still runs in a worker process,
so torch never shares this process with Blender. Every output is written to a temporary
name and renamed when complete: an interrupted run never leaves a half-written file, and the
user's own character file is only read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy

from . import character, dance, jobs, keyframes, render
from .core import console, errors, files, signals

DanceRevError = errors.DanceRevError
CHARACTER_SUFFIXES = (".blend", ".glb", ".gltf", ".fbx")


@dataclass
class Timings:
    """Seconds per stage, in order, for the closing summary."""

    stages: dict[str, float] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = now - self._started
        self._started = now


def _mappable(obj: bpy.types.Object) -> bool:
    try:
        dance.plan_bone_map(obj)
    except DanceRevError:
        return False
    return True


def load_character(path: str | Path | None) -> bpy.types.Object:
    """A fresh scene holding the character; returns its armature.

    None gives the default dancer. A .blend is opened as it is (its scene, fps and
    everything else), .glb/.gltf/.fbx are imported into an empty scene. With several
    armatures, the first that maps onto the canonical joints is used.
    """
    if path is None:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        return character.build_default_character(bpy.context.scene)
    path = Path(path)
    if path.suffix.lower() not in CHARACTER_SUFFIXES:
        raise DanceRevError(f"{path}: unsupported character file (use "
                            f"{', '.join(CHARACTER_SUFFIXES)})")
    if not path.is_file():
        raise DanceRevError(f"{path}: character file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".blend":
            bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
        else:
            bpy.ops.wm.read_factory_settings(use_empty=True)
            if suffix == ".fbx":
                bpy.ops.import_scene.fbx(filepath=str(path))
            else:
                bpy.ops.import_scene.gltf(filepath=str(path))
    except RuntimeError as error:
        message = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
        raise DanceRevError(f"{path}: cannot load the character ({message})") from None
    armatures = [obj for obj in bpy.context.scene.objects if obj.type == "ARMATURE"]
    if not armatures:
        raise DanceRevError(f"{path}: no armature in the file")
    if len(armatures) == 1:  # mapped once, by plan_dance, which says what any rig lacks
        return armatures[0]
    return next((obj for obj in armatures if _mappable(obj)), armatures[0])


def save_blend(path: Path) -> Path:
    """Save the open file as a copy at `path` (the caller's partial name)."""
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, check_existing=False)
    return path


def export_bvh(armature: bpy.types.Object, path: Path, frame_start: int, frame_end: int) -> Path:
    """The character's dance as a BVH file (Blender's own exporter, the rig's bones)."""
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(obj == armature)
    view_layer.objects.active = armature
    with bpy.context.temp_override(active_object=armature, object=armature,
                                   selected_objects=[armature]):
        bpy.ops.export_anim.bvh(filepath=str(path), frame_start=frame_start,
                                frame_end=frame_end, rotate_mode="NATIVE",
                                root_transform_only=True)
    return path


def run_worker(request: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Run one worker job to its end, printing its progress; the result or an error."""
    python = jobs.find_python(os.environ.get("DANCEREV_WORKER_PYTHON") or None)
    job = jobs.job_for(request, python).start()
    if isinstance(job, jobs.SocketJob) and job.state == "failed":  # that worker is gone
        log(f"  {job.error}; starting a worker of its own")
        job = jobs.WorkerJob(request, python).start()
    lines = console.ProgressLines(log)

    def show_progress(event: dict[str, Any]) -> None:
        if event.get("event") == "progress":
            lines.update(event.get("stage", ""), event.get("done", 0), event.get("total") or 0,
                         event.get("message") or event.get("stage", ""))

    try:
        job.wait(on_event=show_progress)
    except KeyboardInterrupt:
        job.cancel(wait=True)
        raise
    if job.state != "done":
        raise DanceRevError(job.error or f"{request['job']} was cancelled")
    if isinstance(job, jobs.SocketJob) and job.hello:
        log(f"  made by the batch's warm worker (pid {job.hello.get('pid')})")
    return job.result


def dance_song(song: str | Path, output: str | Path, character_file: str | Path | None = None,
               *, render_path: str | Path | None = None, bvh_path: str | Path | None = None,
               model: str = "", bone_map: str = "", start: float = 0.0,
               seconds: float | None = None, seed: int = 0, num: int = 1,
               beat_sync: bool = True, nla: bool = False, shaping: Any = None,
               fps: float | None = None, size: tuple[int, int] = (480, 270),
               render_with: str = "preview",
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole main job; returns {"outputs": {...}, "timings": {...}, "armature": name}.

    `render_with` "preview" renders our Workbench preview at `size`; "scene" renders the
    character .blend's own scene (camera, engine, resolution, output format), checked
    before any dance is made."""
    # Blender's writers get absolute paths: bpy 4.5 resolves a relative one elsewhere than
    # the working folder
    output = Path(output).absolute()
    render_path = None if render_path is None else Path(render_path).absolute()
    bvh_path = None if bvh_path is None else Path(bvh_path).absolute()
    if output.suffix.lower() != ".blend":
        raise DanceRevError(f"{output}: the output must be a .blend file")
    if character_file is not None and Path(character_file).resolve() == output.resolve():
        raise DanceRevError(f"{output}: the output would overwrite the character file")
    timings = Timings()
    armature = load_character(character_file)
    scene = bpy.context.scene
    if fps is not None or character_file is None:
        scene.render.fps, scene.render.fps_base = int(round(fps or 30)), 1.0
    log(f"character: {armature.name} ({len(armature.data.bones)} bones)")
    if render_path is not None and render_with == "scene":
        problem = render.scene_render_problem(scene)
        if problem:
            raise DanceRevError(f"{character_file or 'the default dancer'}: {problem}")
    plan = dance.plan_dance(armature, song, model, bone_map, start=start, seconds=seconds,
                            seed=seed, num=num, frame_start=1.0, beat_sync=beat_sync,
                            nla=nla, **shaping_options(shaping))
    log(f"rig map: {plan.bone_map.chosen}; model: {plan.checkpoint.name}")
    timings.lap("character")
    scratch = files.scratch_folder(output)
    files.remove_scratch(scratch)  # what a killed run left
    wanted = {"blend": output, "bvh": bvh_path, "video": render_path}
    targets = {kind: path for kind, path in wanted.items() if path is not None}
    try:
        result = run_worker(dance.generate_request(plan, scratch), log)
        timings.lap("generate")
        actions = dance.apply_dances(scene, plan, result)
        for notice in (dance.skipped_song_notice(plan),
                       keyframes.nla_notice(armature) if nla else ""):
            if notice:
                log(f"notice: {notice}")
        log(f"  keyframes: {len(actions)} Action{'s' if len(actions) > 1 else ''} on "
            f"{armature.name}, frames {scene.frame_start}-{scene.frame_end}")
        timings.lap("keyframes")
        # Every output under its partial name first; they replace the user's files together,
        # once the last one is complete (an interrupted render leaves the old .blend too).
        with files.staged_outputs(targets.values()) as partials:
            save_blend(partials[output])
            timings.lap("save")
            if "bvh" in targets:
                export_bvh(armature, partials[targets["bvh"]], scene.frame_start,
                           scene.frame_end)
                timings.lap("bvh")
            if "video" in targets:
                frames = renderer(render_with, armature, partials[targets["video"]], size)
                render_stoppable(frames, scene.frame_end - scene.frame_start + 1,
                                 leftovers=(*partials.values(), scratch), log=log)
                timings.lap("render")
    finally:
        files.remove_scratch(scratch)
    return {"outputs": targets, "timings": timings.stages, "armature": armature.name,
            "actions": [action.name for action in actions], "seconds": result.get("seconds"),
            "beats": len(result.get("beat_times", []))}


def renderer(render_with: str, armature: bpy.types.Object, path: Path, size: tuple[int, int]
             ) -> Callable[[Callable[[], None]], Path]:
    """The render of the scene's frame range to `path`: the preview or the user's scene."""
    scene = bpy.context.scene
    first, last = scene.frame_start, scene.frame_end
    if render_with == "scene":
        return lambda after_frame: render.render_scene(path, first, last, after_frame)
    return lambda after_frame: render.render_preview(armature, path, first, last, size,
                                                     between_frames=after_frame)


def render_stoppable(render_frames: Callable[[Callable[[], None]], Path], total: int,
                     leftovers: tuple[Path, ...], log: Callable[[str], None] = print) -> None:
    """`render_frames(after_each_frame)`, a render of `total` frames, which Ctrl-C or
    SIGTERM stops within a frame, leaving nothing; its progress (frames and their rate) in
    `log` lines.

    While Blender renders, a signal's KeyboardInterrupt would surface inside one of its
    Python callbacks, be printed and dropped, and the render go on to the end (seen under
    load: exit 0, outputs written after a Ctrl-C). So the signals are only recorded, and
    after the frame that follows one, the job's partial files, its scratch folder and
    Blender's temp folder are removed and the process ends with the signal's status: a
    render cannot be cancelled from Python, and nothing of the user's has been replaced yet.
    """
    lines = console.ProgressLines(log)
    began = time.perf_counter()
    rendered = 0
    lines.update("render", 0, total, f"rendering {total} frames")
    with signals.recorded() as received:
        def after_frame() -> None:
            nonlocal rendered
            if received:
                log(f"dancerev dance: {signals.STOPPED[received[0]]}")
                signals.exit_now(128 + received[0], remove=(*leftovers, bpy.app.tempdir))
            rendered += 1
            rate = rendered / max(time.perf_counter() - began, 1e-9)
            lines.update("render", rendered, total,
                         f"rendered {rendered} of {total} frames, {rate:.1f} frames/s")

        render_frames(after_frame)
    if received:  # it came with the last frame
        signals.raise_stop(received[0])


def shaping_options(shaping: Any) -> dict[str, bool]:
    """A generation.shaping.Shaping (or None) as DancePlan options."""
    if shaping is None:
        return {}
    return {"in_place": shaping.in_place, "keep_turning": shaping.keep_turning,
            "loop": shaping.loop}


def print_summary(summary: dict[str, Any], started: float, log_path: Path | None = None
                  ) -> None:
    """Where the outputs are, how long each stage took, and where Blender's output went."""
    actions = summary["actions"]
    print(f"danced {summary['seconds']:.1f} s on {summary['armature']} "
          f"({len(actions)} variation{'s' if len(actions) > 1 else ''}, "
          f"{summary['beats']} beats)")
    for kind, path in summary["outputs"].items():
        print(f"{kind:>6}: {path}")
    if log_path is not None:
        print(f"   log: {log_path} (Blender's own output)")
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds
                       in summary["timings"].items())
    print(f"  time: {stages}; total {time.perf_counter() - started:.1f} s")


def quietly(name: str, job: Callable[[Callable[[str], None]], dict[str, Any]]
            ) -> tuple[dict[str, Any], Path]:
    """Run `job(log)` with Blender's own output in a log file (`console.output_to_log`) and
    `log` printing our lines on the terminal; the job's summary and the log's path."""
    path = console.log_file(name)
    with console.output_to_log(path) as terminal:
        def log(text: str) -> None:
            print(text, file=terminal, flush=True)

        return job(log), path


def main(args: Any) -> int:
    """`dancerev dance` (arguments parsed by dancerev_core/commands/dance.py)."""
    started = time.perf_counter()
    summary, log_path = quietly("dance", lambda log: dance_song(
        args.audio, args.output, args.character, render_path=args.render, bvh_path=args.bvh,
        model=args.model or "", bone_map=args.map or "", start=args.start,
        seconds=args.seconds, seed=args.seed, num=args.num,
        beat_sync=not args.no_beat_sync, nla=args.nla, shaping=args.shaping, fps=args.fps,
        size=args.size, render_with=args.render_with, log=log))
    print_summary(summary, started, log_path)
    return 0
