"""The Dance panel's settings, kept on the scene (`scene.dancerev`) so they save with it."""

from __future__ import annotations

import bpy

SCHEDULES = (("linear", "Linear", "p = floor(lambda t): the paper's released choice"),
             ("teacher_forcing", "Teacher forcing", "Never self-fed (freezes in long dances)"),
             ("const", "Constant", "p = condition_step from the start"),
             ("quadratic", "Quadratic", "p = floor(lambda t^2)"),
             ("exponential", "Exponential", "p = floor(lambda e^t)"))
DATASET_FORMATS = (("auto", "Auto", "By what the folder holds"),
                   ("paired", "Paired folder", "Motions and songs matched by file name"),
                   ("paper", "Paper JSON", "The Dance Revolution authors' JSON clips"))


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class DanceRevVariation(bpy.types.PropertyGroup):
    """One generated dance: its Action and what made it."""

    action: bpy.props.PointerProperty(type=bpy.types.Action)
    armature: bpy.props.PointerProperty(type=bpy.types.Object)
    seed: bpy.props.IntProperty()
    song: bpy.props.StringProperty()


class DanceRevSettings(bpy.types.PropertyGroup):
    # --- generation
    song_source: bpy.props.EnumProperty(
        name="Song", items=(("FILE", "File", "A song file on disk"),
                            ("STRIP", "Sound strip", "A sound strip already in the scene")))
    song_path: bpy.props.StringProperty(name="Song File", subtype="FILE_PATH",
                                        description="mp3, m4a, ogg, wav or flac")
    song_strip: bpy.props.StringProperty(name="Sound Strip",
                                         description="Name of the scene's sound strip")
    armature: bpy.props.PointerProperty(
        name="Character", type=bpy.types.Object, poll=_is_armature,
        description="Armature to animate (empty: the active object)")
    bone_map_path: bpy.props.StringProperty(
        name="Bone Map", subtype="FILE_PATH",
        description="Optional rig map file (rigs/*.json format) for rigs with unusual names")
    checkpoint_path: bpy.props.StringProperty(
        name="Model", subtype="FILE_PATH",
        description="Checkpoint (.json) to dance with. Empty: the built-in default model")
    start: bpy.props.FloatProperty(name="Start", min=0.0, unit="TIME_ABSOLUTE",
                                   description="Where in the song the dance starts (seconds)")
    length: bpy.props.FloatProperty(name="Length", min=0.0, unit="TIME_ABSOLUTE",
                                    description="Seconds of dance (0: to the end of the song)")
    seed: bpy.props.IntProperty(name="Seed", min=0, description="Same seed, same dance")
    variations: bpy.props.IntProperty(name="Variations", min=1, max=16, default=1,
                                      description="Different dances for the song, made at once")
    beat_markers: bpy.props.BoolProperty(name="Beat Markers", default=True,
                                         description="Timeline markers on the musical beats")
    beat_sync: bpy.props.BoolProperty(
        name="Sync to Beats", default=True,
        description="Re-time the dance by a little so its accents land on the beats (off: "
                    "the model's own timing)")
    in_place: bpy.props.BoolProperty(
        name="In Place", description="Dance on the spot: no travel across the floor and no "
        "turning of the whole body")
    keep_turning: bpy.props.BoolProperty(
        name="Keep Turning", description="With In Place: the body still turns as it danced")
    loop: bpy.props.BoolProperty(
        name="Loop", description="Cut the dance to whole beats and blend its end into its "
        "start; the Action repeats seamlessly (a Cycles modifier on every curve)")
    apply_as: bpy.props.EnumProperty(
        name="Apply As", items=(
            ("ACTION", "Action", "The dance becomes the character's active Action; Remove "
             "gives back the Action and pose it had"),
            ("NLA", "NLA Strips", "Each variation on its own NLA track as a strip at the "
             "start frame; the character's Action and tracks are left as they are")))
    frame_start: bpy.props.IntProperty(name="Start Frame", default=1,
                                       description="Scene frame where the dance begins")
    # --- results
    results: bpy.props.CollectionProperty(type=DanceRevVariation)
    active_result: bpy.props.IntProperty(name="Variation", min=0)
    section_from_preview: bpy.props.BoolProperty(
        name="Preview Range", default=True,
        description="The section is the timeline's preview range when it is on")
    section_start: bpy.props.IntProperty(name="From", default=1,
                                         description="First scene frame danced anew")
    section_end: bpy.props.IntProperty(name="To", default=48,
                                       description="Last scene frame danced anew")
    # --- training
    train_dataset: bpy.props.StringProperty(name="Dataset", subtype="DIR_PATH")
    train_format: bpy.props.EnumProperty(name="Format", items=DATASET_FORMATS)
    train_schedule: bpy.props.EnumProperty(name="Schedule", items=SCHEDULES)
    train_epochs: bpy.props.IntProperty(name="Epochs", min=1, default=100)
    train_output: bpy.props.StringProperty(name="Output", subtype="DIR_PATH",
                                           description="Folder for checkpoints and history")
    train_config: bpy.props.StringProperty(
        name="Config", subtype="FILE_PATH",
        description='Optional JSON {"model": {...}, "training": {...}} with sizes')
    # --- job display (written by the running job)
    status: bpy.props.StringProperty(name="Status")
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    train_status: bpy.props.StringProperty(name="Training Status")
    train_health: bpy.props.StringProperty(
        name="Training Health", description="The latest free-running check on the "
        "validation songs: how alive and how on the beat the model's own dances are")
    train_health_freezes: bpy.props.BoolProperty(name="Dances Freeze")
    train_progress: bpy.props.FloatProperty(name="Training Progress", min=0.0, max=1.0,
                                            subtype="FACTOR")


classes = (DanceRevVariation, DanceRevSettings)


def register() -> None:
    bpy.types.Scene.dancerev = bpy.props.PointerProperty(type=DanceRevSettings)


def unregister() -> None:
    del bpy.types.Scene.dancerev
