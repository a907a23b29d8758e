"""The Dance tab in the 3D viewport's sidebar: song, character, model, variations, training."""

from __future__ import annotations

import os
from typing import Any

import bpy

from . import compat, keyframes, runs
from .armature import armature_rest
from .core import dancerev_core, errors, retarget

_rig_cache: dict[tuple[str, int, str, int], str] = {}


def target_armature(context: bpy.types.Context) -> bpy.types.Object | None:
    """The armature to animate: the one picked in the panel, else the active object."""
    settings = context.scene.dancerev
    obj = settings.armature or context.active_object
    return obj if obj is not None and obj.type == "ARMATURE" else None


def rig_summary(obj: bpy.types.Object | None, bone_map_path: str = "") -> str:
    """One line naming the rig map chosen for the armature, or why there is none.

    Cached per armature, bone names and map file (path and modification time): detection
    reads every bone's rest pose, and panels redraw often; a renamed bone or an edited map
    file is seen on the next redraw.
    """
    if obj is None:
        return "No armature: select one or add the default dancer"
    key = (obj.name, hash(tuple(bone.name for bone in obj.data.bones)), bone_map_path,
           _modified(bone_map_path))
    if key not in _rig_cache:
        rest = armature_rest(obj)
        if rest is None:
            _rig_cache[key] = f"{obj.name} has no bones"
        else:
            try:
                chosen = retarget.resolve_bone_map(
                    rest, bpy.path.abspath(bone_map_path) if bone_map_path else None).chosen
                _rig_cache[key] = f"Rig: {chosen}"
            except errors.DanceRevError as error:
                _rig_cache[key] = f"Not a mappable humanoid: {error}"
    return _rig_cache[key]


def _modified(path: str) -> int:
    """The file's modification time in ns, or -1 when there is no such file."""
    if not path:
        return -1
    try:
        return os.stat(bpy.path.abspath(path)).st_mtime_ns
    except OSError:
        return -1


def draw_job(layout: bpy.types.UILayout, kind: str, progress: float, status: str) -> bool:
    """A running job's progress bar and Cancel, else its last status; True when it ended."""
    if runs.is_running(kind):
        layout.progress(factor=progress, text=status or "Working...")
        layout.operator("dancerev.cancel", icon="CANCEL").job = kind
        return False
    if status:
        layout.label(text=status)
    return bool(status)


class DanceRevPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Dance"

    def property_layout(self, context: bpy.types.Context) -> tuple[Any, Any]:
        """(layout with labels split from values, the scene's DanceRev settings)."""
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        return layout, context.scene.dancerev


class DANCEREV_PT_main(DanceRevPanel, bpy.types.Panel):
    bl_label = "DanceRev"
    bl_idname = "DANCEREV_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.property_layout(context)
        layout.prop(settings, "song_source", expand=True)
        if settings.song_source == "FILE":
            layout.prop(settings, "song_path")
        else:
            editor = context.scene.sequence_editor
            if editor is not None:
                layout.prop_search(settings, "song_strip", editor, compat.ALL_STRIPS_PROPERTY)
            else:
                layout.label(text="The scene has no sound strips", icon="INFO")
        layout.prop(settings, "armature")
        armature = target_armature(context)
        row = layout.row()
        row.label(text=rig_summary(armature, settings.bone_map_path), icon="ARMATURE_DATA")
        if armature is None:
            layout.operator("dancerev.add_default_character", icon="OUTLINER_OB_ARMATURE")
        layout.prop(settings, "bone_map_path")
        layout.prop(settings, "checkpoint_path")


class DANCEREV_PT_generate(DanceRevPanel, bpy.types.Panel):
    bl_label = "Generate"
    bl_idname = "DANCEREV_PT_generate"
    bl_parent_id = "DANCEREV_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.property_layout(context)
        column = layout.column(align=True)
        column.prop(settings, "start")
        column.prop(settings, "length")
        column.prop(settings, "frame_start")
        column = layout.column(align=True)
        column.prop(settings, "seed")
        column.prop(settings, "variations")
        column = layout.column(align=True)
        column.prop(settings, "beat_sync")
        column.prop(settings, "beat_markers")
        column = layout.column(align=True)
        column.prop(settings, "in_place")
        row = column.row()
        row.enabled = settings.in_place
        row.prop(settings, "keep_turning")
        column.prop(settings, "loop")
        layout.prop(settings, "apply_as")
        row = layout.row(align=True)
        row.enabled = not runs.is_running("generate")
        row.operator("dancerev.generate", icon="PLAY")
        draw_job(layout, "generate", settings.progress, settings.status)


class DANCEREV_UL_variations(bpy.types.UIList):
    def draw_item(self, _context, layout, _data, item, _icon, _active_data, _active_property,
                  _index=0, _flt_flag=0) -> None:
        action = item.action
        playing = item.armature is not None and keyframes.is_playing(item.armature, action)
        name = action.name if action else "(removed)"
        layout.label(text=f"{name}  seed {item.seed}", icon="PLAY" if playing else "ACTION")


class DANCEREV_PT_variations(DanceRevPanel, bpy.types.Panel):
    bl_label = "Variations"
    bl_idname = "DANCEREV_PT_variations"
    bl_parent_id = "DANCEREV_PT_main"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return len(context.scene.dancerev.results) > 0

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.dancerev
        layout.template_list("DANCEREV_UL_variations", "", settings, "results", settings,
                             "active_result", rows=3)
        row = layout.row(align=True)
        row.operator("dancerev.apply_variation", icon="CHECKMARK")
        row.operator("dancerev.remove", icon="TRASH")
        box = layout.box()
        box.label(text="Dance a section anew (with the Seed above)")
        scene = context.scene
        box.prop(settings, "section_from_preview")
        if settings.section_from_preview and scene.use_preview_range:
            box.label(text=f"frames {scene.frame_preview_start} to {scene.frame_preview_end}")
        else:
            row = box.row(align=True)
            row.prop(settings, "section_start")
            row.prop(settings, "section_end")
        row = box.row()
        row.enabled = not runs.is_running("generate")
        row.operator("dancerev.regenerate_section", icon="FILE_REFRESH")


class DANCEREV_PT_train(DanceRevPanel, bpy.types.Panel):
    bl_label = "Train"
    bl_idname = "DANCEREV_PT_train"
    bl_parent_id = "DANCEREV_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.property_layout(context)
        layout.prop(settings, "train_dataset")
        layout.prop(settings, "train_format")
        layout.prop(settings, "train_schedule")
        layout.prop(settings, "train_epochs")
        layout.prop(settings, "train_output")
        layout.prop(settings, "train_config")
        row = layout.row(align=True)
        row.enabled = not runs.is_running("train")
        row.operator("dancerev.train", icon="PLAY").resume = False
        row.operator("dancerev.train", text="Resume", icon="FILE_REFRESH").resume = True
        if draw_job(layout, "train", settings.train_progress, settings.train_status):
            layout.operator("dancerev.use_trained_model", icon="IMPORT")
        if settings.train_health:
            freezes = settings.train_health_freezes
            column = layout.column(align=True)
            column.label(text="Dances freeze" if freezes else "Free-running dances",
                         icon="ERROR" if freezes else "INFO")
            column.label(text=settings.train_health)
        layout.label(text=f"DanceRev {dancerev_core.__version__}")


classes = (DANCEREV_PT_main, DANCEREV_PT_generate, DANCEREV_UL_variations,
           DANCEREV_PT_variations, DANCEREV_PT_train)
