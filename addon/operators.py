"""The Dance tab's operators: generate, cancel, apply or remove a variation, train.

Operators check their inputs and start a worker; the timer in `runs` carries the work on.
Every user mistake is reported in the UI as one line (`self.report`), never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from . import character, dance, keyframes, runs
from .core import errors
from .panels import target_armature

DanceRevError = errors.DanceRevError


# ------------------------------------------------------------------------------ runs
class GenerateRun(runs.Run):
    """A generation: progress on the panel, then the dances written as Actions."""

    kind = "generate"

    def __init__(self, scene: bpy.types.Scene, plan: dance.DancePlan, output: Path,
                 context: bpy.types.Context | None = None) -> None:
        super().__init__(scene, runs.worker_job(dance.generate_request(plan, output), context,
                                                warm=True))
        self.plan = plan
        self.scratch = output  # the worker's motion files, read into Actions and then removed

    def show(self, status: str, progress: float | None = None) -> None:
        scene = self.scene
        if scene is not None:
            scene.dancerev.status = status
            if progress is not None:
                scene.dancerev.progress = progress

    def on_result(self, event: dict[str, Any]) -> None:
        scene = self.scene
        if scene is None:
            return
        bpy.ops.ed.undo_push(message="DanceRev: before the dance")
        actions = dance.apply_dances(scene, self.plan, event)
        settings = scene.dancerev
        settings.results.clear()
        armature = bpy.data.objects[self.plan.armature]
        for number, action in enumerate(actions):
            item = settings.results.add()
            item.action, item.armature = action, armature
            item.seed, item.song = self.plan.seed, event.get("song", "")
            item.name = f"v{number + 1}"
        settings.active_result = 0
        bpy.ops.ed.undo_push(message="DanceRev: apply dance")
        synced = event.get("beat_sync") or {}
        on_beat = (f", {synced['on_beat_after']} of {synced['kinematic_beats_after']} accents "
                   "on the beat" if "on_beat_after" in synced else "")
        notice = "; ".join(text for text in (
            dance.skipped_song_notice(self.plan),
            keyframes.nla_notice(armature) if self.plan.nla else "") if text)
        self.message = (f"{len(actions)} dance{'s' if len(actions) > 1 else ''} "
                        f"on {armature.name}, {event.get('seconds', 0):.1f} s{on_beat}"
                        + (f"; {notice}" if notice else ""))
        self.show(self.message, 1.0)


class SectionRun(GenerateRun):
    """A section of a variation danced anew: a new variation, the rest of it unchanged."""

    def __init__(self, scene: bpy.types.Scene, plan: dance.DancePlan, source: bpy.types.Action,
                 request: dict[str, Any], scratch: Path, frames: tuple[int, int],
                 context: bpy.types.Context | None = None) -> None:
        runs.Run.__init__(self, scene, runs.worker_job(request, context, warm=True))
        self.plan, self.scratch, self.source_name = plan, scratch, source.name
        self.frames = frames

    def on_result(self, event: dict[str, Any]) -> None:
        scene = self.scene
        source = bpy.data.actions.get(self.source_name)
        if scene is None or source is None:
            return
        bpy.ops.ed.undo_push(message="DanceRev: before the section")
        action = dance.apply_section(scene, self.plan, source, event, self.frames)
        settings = scene.dancerev
        item = settings.results.add()
        item.action, item.armature = action, bpy.data.objects[self.plan.armature]
        item.seed, item.song = self.plan.seed, event.get("song", "")
        item.name = f"v{len(settings.results)}"
        settings.active_result = len(settings.results) - 1
        bpy.ops.ed.undo_push(message="DanceRev: section danced anew")
        self.message = f"{action.name}: {self.source_name} with a section danced anew"
        self.show(self.message, 1.0)


class TrainRun(runs.Run):
    """A training run: epoch, loss and progress on the panel; the checkpoint at the end."""

    kind = "train"

    def __init__(self, scene: bpy.types.Scene, request: dict[str, Any],
                 context: bpy.types.Context | None = None) -> None:
        super().__init__(scene, runs.worker_job(request, context))

    def show(self, status: str, progress: float | None = None) -> None:
        scene = self.scene
        if scene is not None:
            scene.dancerev.train_status = status
            if progress is not None:
                scene.dancerev.train_progress = progress

    def on_progress(self, event: dict[str, Any]) -> None:
        if event.get("stage") in ("train", "epoch") and event.get("epochs"):
            epoch, epochs = event.get("epoch", 0), event["epochs"]
            steps = event.get("steps") or 1
            done = (epoch - 1 + event.get("step", steps) / steps) if event["stage"] == "train" \
                else epoch
            loss = event.get("loss", event.get("train_loss"))
            text = f"epoch {epoch}/{epochs}" + (f", loss {loss:.4f}" if loss is not None else "")
            if event.get("val_loss") is not None:
                text += f", validation {event['val_loss']:.4f}"
            self.show(text, min(1.0, done / epochs))
            if event.get("health_text") and self.scene is not None:
                self.scene.dancerev.train_health = event["health_text"]
                self.scene.dancerev.train_health_freezes = bool(event.get("health_freezes"))
        else:
            super().on_progress(event)

    def on_result(self, event: dict[str, Any]) -> None:
        self.message = (f"trained to epoch {event.get('epoch')}: loss "
                        f"{event.get('train_loss', float('nan')):.4f}")
        self.show(self.message, 1.0)


# --------------------------------------------------------------------------- helpers
def song_and_start(scene: bpy.types.Scene) -> tuple[str, float, bool]:
    """(song path, scene frame of the dance's start, whether to add a sound strip)."""
    settings = scene.dancerev
    if settings.song_source == "STRIP":
        path, zero = dance.song_from_strip(scene, settings.song_strip)
        return str(path), zero + settings.start * keyframes.scene_fps(scene), False
    return settings.song_path, float(settings.frame_start), True


# ------------------------------------------------------------------------- operators
class DANCEREV_OT_generate(bpy.types.Operator):
    """Generate a dance for the song and put it on the character (in the background)"""

    bl_idname = "dancerev.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        settings = scene.dancerev
        try:
            song, frame_start, add_song = song_and_start(scene)
            plan = dance.plan_dance(
                target_armature(context) or settings.armature or context.active_object,
                song, settings.checkpoint_path, settings.bone_map_path, start=settings.start,
                seconds=settings.length or None, seed=settings.seed, num=settings.variations,
                frame_start=frame_start, add_song=add_song, beat_markers=settings.beat_markers,
                beat_sync=settings.beat_sync, nla=settings.apply_as == "NLA",
                in_place=settings.in_place,
                keep_turning=settings.in_place and settings.keep_turning, loop=settings.loop)
            runs.start(GenerateRun(scene, plan, runs.scratch_folder("dances"), context))
        except DanceRevError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        settings.status, settings.progress = "Starting...", 0.0
        return {"FINISHED"}


class DANCEREV_OT_cancel(bpy.types.Operator):
    """Stop the running job (the scene is left as it was)"""

    bl_idname = "dancerev.cancel"
    bl_label = "Cancel"

    job: bpy.props.EnumProperty(items=(("generate", "Generation", ""),
                                       ("train", "Training", "")))

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not runs.cancel(self.job):
            self.report({"WARNING"}, f"no {self.job} job is running")
            return {"CANCELLED"}
        return {"FINISHED"}


def _selected_variation(context: bpy.types.Context):
    settings = context.scene.dancerev
    if not 0 <= settings.active_result < len(settings.results):
        raise DanceRevError("no variation selected")
    item = settings.results[settings.active_result]
    if item.action is None or item.armature is None:
        raise DanceRevError("that variation's Action or character no longer exists")
    return item


class DANCEREV_OT_apply_variation(bpy.types.Operator):
    """Play the selected variation on its character"""

    bl_idname = "dancerev.apply_variation"
    bl_label = "Apply"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            item = _selected_variation(context)
            keyframes.switch_dance(item.armature, item.action)
        except DanceRevError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return {"FINISHED"}


def section_frames(scene: bpy.types.Scene) -> tuple[int, int]:
    """The scene frames to dance anew: the preview range, or the panel's fields."""
    settings = scene.dancerev
    if settings.section_from_preview and scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    return settings.section_start, settings.section_end


class DANCEREV_OT_regenerate_section(bpy.types.Operator):
    """Dance a section of the selected variation anew with the Seed, blended into the rest
    over half a beat; kept as a new variation (the rest of it unchanged to the key)"""

    bl_idname = "dancerev.regenerate_section"
    bl_label = "Regenerate Section"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        settings = scene.dancerev
        try:
            item = _selected_variation(context)
            source = item.action
            cyclic = any(modifier.type == "CYCLES" for curve in
                         keyframes.action_fcurves(source) for modifier in curve.modifiers)
            plan = dance.plan_dance(item.armature, item.song, settings.checkpoint_path,
                                    settings.bone_map_path, seed=settings.seed,
                                    beat_sync=settings.beat_sync, loop=cyclic,
                                    add_song=False, beat_markers=False)
            first, last = section_frames(scene)
            scratch = runs.scratch_folder("dances")
            request = dance.section_request(plan, source, first, last,
                                            keyframes.scene_fps(scene), scratch)
            runs.start(SectionRun(scene, plan, source, request, scratch, (first, last),
                                  context))
        except DanceRevError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        settings.status, settings.progress = "Starting...", 0.0
        return {"FINISHED"}


class DANCEREV_OT_remove(bpy.types.Operator):
    """Remove every generated variation and give the character back what it had"""

    bl_idname = "dancerev.remove"
    bl_label = "Remove"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.dancerev
        armatures = {item.armature for item in settings.results if item.armature is not None}
        for armature in armatures:
            keyframes.remove_dance_tracks(armature)
            keyframes.remove_dance(armature)
        actions = [item.action for item in settings.results if item.action is not None]
        settings.results.clear()
        for action in actions:  # the other variations: DanceRev's own, nobody else's
            if keyframes.is_dance_action(action):
                bpy.data.actions.remove(action)
        keyframes.remove_beat_markers(context.scene)
        settings.status = "Removed"
        return {"FINISHED"}


class DANCEREV_OT_add_default_character(bpy.types.Operator):
    """Add DanceRev's default dancer (a Rigify metarig with a simple body)"""

    bl_idname = "dancerev.add_default_character"
    bl_label = "Add Default Dancer"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = character.build_default_character(context.scene)
        context.scene.dancerev.armature = rig
        return {"FINISHED"}


class DANCEREV_OT_train(bpy.types.Operator):
    """Train a dance model on a dataset folder in the background"""

    bl_idname = "dancerev.train"
    bl_label = "Train"

    resume: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.dancerev
        try:
            request = train_request(settings, self.resume)
            runs.start(TrainRun(context.scene, request, context))
        except DanceRevError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        settings.train_status, settings.train_progress = "Starting...", 0.0
        settings.train_health, settings.train_health_freezes = "", False
        return {"FINISHED"}


def train_request(settings, resume: bool) -> dict[str, Any]:
    """The worker's `train` request from the panel, with the folders checked."""
    output = bpy.path.abspath(settings.train_output) if settings.train_output else ""
    if not output:
        raise DanceRevError("choose an output folder for the training run")
    request: dict[str, Any] = {"job": "train", "output": output, "resume": resume}
    dataset = bpy.path.abspath(settings.train_dataset) if settings.train_dataset else ""
    if not dataset or not Path(dataset).exists():
        raise DanceRevError(f"dataset folder not found: {dataset or '(none chosen)'}")
    request["dataset"] = dataset
    request["epochs"] = settings.train_epochs
    if not resume:
        request["format"] = settings.train_format
        request["schedule"] = settings.train_schedule
        if settings.train_config:
            request["config"] = bpy.path.abspath(settings.train_config)
    elif not (Path(output) / "last.json").is_file():
        raise DanceRevError(f"nothing to resume in {output} (no last.json)")
    return request


class DANCEREV_OT_use_trained_model(bpy.types.Operator):
    """Generate with the model the last training run wrote"""

    bl_idname = "dancerev.use_trained_model"
    bl_label = "Use This Model"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.dancerev
        output = bpy.path.abspath(settings.train_output) if settings.train_output else ""
        for name in ("best.json", "last.json"):
            path = Path(output) / name if output else None
            if path is not None and path.is_file():
                settings.checkpoint_path = str(path)
                return {"FINISHED"}
        self.report({"ERROR"}, f"no checkpoint in {output or '(no output folder)'}")
        return {"CANCELLED"}


class DANCEREV_OT_install_runtime(bpy.types.Operator):
    """Install torch, librosa and the rest of the worker's runtime into the extension's
    user folder (downloads about 1 GB from PyPI)"""

    bl_idname = "dancerev.install_runtime"
    bl_label = "Install Runtime"

    def execute(self, context: bpy.types.Context) -> set[str]:
        from . import runtime_install

        try:
            runtime_install.start()
        except DanceRevError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, "Installing the runtime in the background")
        return {"FINISHED"}


classes = (DANCEREV_OT_generate, DANCEREV_OT_cancel, DANCEREV_OT_apply_variation,
           DANCEREV_OT_regenerate_section, DANCEREV_OT_remove,
           DANCEREV_OT_add_default_character, DANCEREV_OT_train,
           DANCEREV_OT_use_trained_model, DANCEREV_OT_install_runtime)
