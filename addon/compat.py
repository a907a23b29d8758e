"""Every difference between the Blender versions the extension supports, in one place.

Tested with the bpy module at 4.2 LTS (4.2.23), 4.5 LTS (4.5.15) and 5.0 (5.0.1); the rest
of the add-on calls these functions and never asks which Blender it runs in (mmd_tools keeps
its `compat/` the same way). What differs:
- Actions: slotted from 4.4 (`Action.slots`, F-curves in a slot's channelbag, the object's
  `AnimData.action_slot`); 4.2 keeps the F-curves on the Action. 4.5's
  `channelbag.fcurves.new()` takes no group (5.0's takes `group_name`).
- The sequencer's strips: `strips` / `strips_all` in 5.0, `sequences` / `sequences_all`
  before.
- Movie output: 5.0 chooses `media_type = "VIDEO"` before the file format; 4.x sets the file
  format to FFMPEG directly.
- Audio: the PyPI wheel of bpy 4.2 is built without Audaspace, so a sound strip cannot be
  added there (`add_sound_strip` returns None, the caller says so).
"""

from __future__ import annotations

from collections.abc import Callable

import bpy

SLOTTED_ACTIONS = "action_slot" in bpy.types.AnimData.bl_rna.properties  # Blender 4.4+
SLOT_NAME = "Dance"  # the slot every DanceRev Action keys

NewCurve = Callable[[str, int, str], "bpy.types.FCurve"]


# --------------------------------------------------------------------------- Actions
def curve_factory(action: bpy.types.Action) -> NewCurve:
    """A function new(data_path, index, group) making the Action's F-curves: a slotted
    Action gets one slot and its channelbag; an older Action holds its F-curves itself."""
    if not SLOTTED_ACTIONS:
        def new_on_action(path: str, index: int, group: str) -> bpy.types.FCurve:
            return action.fcurves.new(path, index=index, action_group=group)
        return new_on_action
    slot = action.slots.new(id_type="OBJECT", name=SLOT_NAME)
    try:
        from bpy_extras.anim_utils import action_ensure_channelbag_for_slot
        channelbag = action_ensure_channelbag_for_slot(action, slot)
    except ImportError:  # 4.4 before the helper existed
        layer = action.layers.new("Layer")
        channelbag = layer.strips.new(type="KEYFRAME").channelbag(slot, ensure=True)
    groups: dict[str, bpy.types.ActionGroup] = {}

    def new_in_channelbag(path: str, index: int, group: str) -> bpy.types.FCurve:
        try:
            return channelbag.fcurves.new(path, index=index, group_name=group)
        except TypeError:  # 4.4/4.5: no group_name; the group is set on the curve
            fcurve = channelbag.fcurves.new(path, index=index)
            if group not in groups:
                groups[group] = (channelbag.groups.get(group)
                                 or channelbag.groups.new(group))
            fcurve.group = groups[group]
            return fcurve
    return new_in_channelbag


def action_fcurves(action: bpy.types.Action) -> list[bpy.types.FCurve]:
    """The F-curves of an Action's first slot (4.4+) or of the Action itself (4.2/4.3)."""
    if not SLOTTED_ACTIONS:
        return list(action.fcurves)
    if not len(action.slots):
        return []
    from bpy_extras.anim_utils import action_get_channelbag_for_slot

    bag = action_get_channelbag_for_slot(action, action.slots[0])
    return list(bag.fcurves) if bag else []


def slot_state(anim: bpy.types.AnimData) -> dict:
    """What must be restored of the object's slot choice (nothing before slots)."""
    if not SLOTTED_ACTIONS:
        return {}
    slot = anim.action_slot
    return {"slot_handle": slot.handle if slot else None,
            "last_slot_identifier": anim.last_slot_identifier}


def restore_slot(anim: bpy.types.AnimData, action: bpy.types.Action | None,
                 state: dict) -> None:
    """Give back the slot choice `slot_state` recorded (after `anim.action = action`)."""
    if not SLOTTED_ACTIONS or "slot_handle" not in state:
        return
    if action is not None:
        handle = state["slot_handle"]
        anim.action_slot = None if handle is None else next(
            (slot for slot in action.slots if slot.handle == handle), None)
    anim.last_slot_identifier = state["last_slot_identifier"]


def use_first_slot(anim: bpy.types.AnimData, action: bpy.types.Action | None) -> None:
    """Blender 4.4+ does not pick a slot on assigning an Action: take its first."""
    if SLOTTED_ACTIONS and action is not None and len(action.slots):
        anim.action_slot = action.slots[0]


# ------------------------------------------------------------------------- sequencer
def strips(editor: bpy.types.SequenceEditor):
    """The editor's top-level strips collection (the one `new_sound` is called on)."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def all_strips(editor: bpy.types.SequenceEditor | None) -> list:
    """Every strip of the editor, inside meta strips too (none without an editor)."""
    if editor is None:
        return []
    return list(editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all)


# the same collection's property name, for UILayout.prop_search
ALL_STRIPS_PROPERTY = ("strips_all" if "strips_all" in bpy.types.SequenceEditor.bl_rna.properties
                       else "sequences_all")


def add_sound_strip(editor: bpy.types.SequenceEditor, name: str, path: str, channel: int,
                    frame: int) -> bpy.types.Strip | None:
    """A sound strip, or None where this Blender has no audio (the bpy 4.2 wheel)."""
    if not has_audio():
        return None
    return strips(editor).new_sound(name, path, channel, frame)


def has_audio() -> bool:
    """Whether this Blender can hold sound (bpy 4.2's PyPI wheel cannot)."""
    return bool(getattr(bpy.app.build_options, "audaspace", True))


# -------------------------------------------------------------------------- rendering
def set_movie_output(settings: bpy.types.ImageFormatSettings) -> None:
    """Image settings that write an FFmpeg movie."""
    if hasattr(settings, "media_type"):  # 5.0: the media type comes first
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
