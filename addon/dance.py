"""The Blender half of "song in, dancing character out", shared by the panel and `dance`.

    plan = plan_dance(scene, armature, song, ...)     # checks everything before any work
    request = generate_request(plan, folder)          # what the worker is asked to do
    actions = apply_dances(scene, plan, result)       # the worker's dances -> Actions

Checks come first so that a bad input is a one-line message before a worker starts, and
the scene is touched only when every dance has been read and retargeted: a failure on the
way leaves it as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from . import compat, keyframes
from .armature import armature_rest
from .core import dancerev_core, errors, feet, motion, motion_npz, retarget, skeletons

DanceRevError = errors.DanceRevError
DEFAULT_MODEL = Path(dancerev_core.__file__).parent / "pretrained" / "dance-default.json"


@dataclass(frozen=True)
class DancePlan:
    """Everything a generation needs, checked."""

    armature: str  # object name
    rest: Any  # retarget.RigRest
    bone_map: Any  # retarget.BoneMap
    song: Path
    checkpoint: Path
    start: float = 0.0  # second of the song where the dance begins
    seconds: float | None = None  # None: to the end of the song
    seed: int = 0
    num: int = 1
    frame_start: float = 1.0  # scene frame of the dance's first frame
    add_song: bool = True  # a sound strip for the song (False: the scene already has it)
    beat_markers: bool = True
    beat_sync: bool = True  # accents re-timed onto the beats (generation/beat_sync.py)
    nla: bool = False  # each variation on its own NLA track instead of the active Action
    in_place: bool = False  # no travel across the floor, no turning (generation/shaping.py)
    keep_turning: bool = False  # with in_place: the turning kept
    loop: bool = False  # whole beats, the end blended into the start; the Action cycles


def song_from_strip(scene: bpy.types.Scene, name: str) -> tuple[Path, float]:
    """(song file, scene frame where its second 0 plays) of a sound strip."""
    editor = scene.sequence_editor
    strip = next((s for s in compat.all_strips(editor) if s.name == name), None) if name else None
    if strip is None or strip.type != "SOUND" or strip.sound is None:
        raise DanceRevError(f"no sound strip named {name!r} in scene {scene.name!r}")
    path = Path(bpy.path.abspath(strip.sound.filepath, library=strip.sound.library))
    return path, strip.frame_start + strip.sound_offset * keyframes.scene_fps(scene)


def resolve_checkpoint(path: str) -> Path:
    """The checkpoint's JSON file: the one given, else the built-in default model."""
    if not path:
        if not DEFAULT_MODEL.is_file():
            raise DanceRevError("no model: choose a checkpoint (.json) in the Model field (this "
                                "build has no built-in default model)")
        return DEFAULT_MODEL
    checkpoint = Path(bpy.path.abspath(path))
    if checkpoint.suffix != ".json":
        checkpoint = checkpoint.with_suffix(".json")
    if not checkpoint.is_file():
        raise DanceRevError(f"{checkpoint}: model checkpoint not found")
    return checkpoint


def plan_bone_map(armature: bpy.types.Object | None, bone_map: str = "") -> tuple[Any, Any]:
    """(rest pose, bone map) of a character, or a one-line DanceRevError saying why not."""
    if armature is None:
        raise DanceRevError("no character: select an armature (or add the default dancer)")
    if armature.type != "ARMATURE":
        raise DanceRevError(f"{armature.name!r} is a {armature.type.lower()}, not an armature")
    rest = armature_rest(armature)
    if rest is None:
        raise DanceRevError(f"{armature.name!r} has no bones")
    return rest, retarget.resolve_bone_map(rest, bpy.path.abspath(bone_map) if bone_map
                                           else None)


def plan_dance(armature: bpy.types.Object | None, song: str | Path, checkpoint: str = "",
               bone_map: str = "", **options: Any) -> DancePlan:
    """Check the character, song and model; raise a one-line DanceRevError if any is wrong."""
    rest, mapping = plan_bone_map(armature, bone_map)
    song = Path(song) if song else None
    if song is None or not str(song):
        raise DanceRevError("no song: choose a song file or a sound strip")
    song = Path(bpy.path.abspath(str(song)))
    if not song.is_file():
        raise DanceRevError(f"{song}: song file not found")
    return DancePlan(armature=armature.name, rest=rest, bone_map=mapping, song=song,
                     checkpoint=resolve_checkpoint(checkpoint), **options)


def generate_request(plan: DancePlan, output: str | Path) -> dict[str, Any]:
    """The worker's `generate` request for a plan (protocol: dancerev_core/worker)."""
    return {"job": "generate", "song": str(plan.song.resolve()),
            "checkpoint": str(plan.checkpoint.resolve()), "output": str(Path(output).resolve()),
            "start": plan.start, "seconds": plan.seconds,
            "seed": plan.seed, "num": plan.num, "lift": True, "beat_sync": plan.beat_sync,
            "in_place": plan.in_place, "keep_turning": plan.keep_turning, "loop": plan.loop}


def _canonical(dance: motion.Motion, path: Path) -> motion.Motion:
    if dance.skeleton != "canonical24" or dance.dims != 3:
        raise DanceRevError(f"{path}: the model made {dance.skeleton} {dance.dims}D keypoints; "
                            "a character needs canonical 3D joints")
    return dance


def retarget_dances(scene: bpy.types.Scene, plan: DancePlan, files: list[str],
                    frame_start: float | None = None
                    ) -> list[tuple[Any, np.ndarray, motion.Motion]]:
    """Read each dance file, bring it to the scene's frame rate and retarget it to the rig.

    Returns (Retargeted, scene frames from `frame_start`, default the plan's, the dance as
    read) per dance; nothing in the scene changes. A loop gets its first pose again one
    period on (a key between frames where the period is not a whole number of scene
    frames), so that its Action cycles seamlessly (`keyframes.make_cyclic`).
    """
    frame_start = plan.frame_start if frame_start is None else frame_start
    armature = bpy.data.objects.get(plan.armature)
    if armature is None:
        raise DanceRevError(f"the character {plan.armature!r} was deleted while dancing was "
                            "generated")
    rest = plan.rest.with_object_matrix(np.array(armature.matrix_world, dtype=np.float64))
    dances = []
    for name in files:
        read = _canonical(motion_npz.load_motion(name), Path(name))
        period = read.num_frames / read.fps  # a loop's length, seconds
        dance = keyframes.resample_for_scene(read, scene)
        # feet planted anew in the character's proportions stay planted on the rig
        positions = feet.plant_feet(retarget.in_rig_proportions(dance, rest, plan.bone_map),
                                    dance.fps)
        frames = frame_start + np.arange(dance.num_frames, dtype=np.float64)
        if plan.loop:  # the first pose again one period on, where that falls (a fraction)
            positions = np.concatenate([positions, positions[:1]])
            frames = np.append(frames, frame_start + period * keyframes.scene_fps(scene))
        result = retarget.retarget(positions, rest, plan.bone_map, fps=dance.fps)
        dances.append((closed_loop(result) if plan.loop else result, frames, read))
    return dances


DANCE = "dancerev_dance"  # ID property on a dance's Action: the canonical dance it was made of


def store_dance(action: bpy.types.Action, dance: motion.Motion, frame_start: float) -> None:
    """Keep the canonical dance (model fps) on its Action, so a section of it can be danced
    anew later (`section_request`): about 4 kB per second, saved with the file."""
    action[DANCE] = {"positions": np.asarray(dance.positions, np.float32).ravel().tolist(),
                     "fps": float(dance.fps), "frame_start": float(frame_start),
                     "meta": json.dumps({key: dance.meta.get(key) for key in (
                         "audio_start", "beat_times", "tempo", "seed")})}


def stored_dance(action: bpy.types.Action) -> tuple[motion.Motion, float]:
    """The canonical dance `store_dance` kept on an Action, and its first scene frame."""
    stored = action.get(DANCE)
    if stored is None:
        raise DanceRevError(f"{action.name!r} holds no DanceRev dance to regenerate a section "
                            "of (made before this version, or not by DanceRev)")
    positions = np.asarray(stored["positions"].to_list(), dtype=np.float32).reshape(-1, 24, 3)
    dance = motion.Motion(positions=positions, fps=float(stored["fps"]),
                          skeleton=skeletons.CANONICAL_24.name,
                          joint_names=skeletons.CANONICAL_24.joint_names,
                          meta=json.loads(stored["meta"]))
    return dance, float(stored["frame_start"])


def section_request(plan: DancePlan, action: bpy.types.Action, first_frame: float,
                    last_frame: float, scene_fps: float, scratch: Path) -> dict[str, Any]:
    """The worker's request to dance the scene frames first..last of a variation anew (with
    the plan's seed); the stored dance goes to `scratch` for the worker to read."""
    dance, frame_start = stored_dance(action)
    if last_frame <= first_frame:
        raise DanceRevError(f"section {first_frame:g}..{last_frame:g}: the end must come after "
                            "the start")
    end = frame_start + (dance.num_frames - 1) / dance.fps * scene_fps
    if first_frame < frame_start or first_frame >= end:
        raise DanceRevError(f"section {first_frame:g}..{last_frame:g}: the dance plays from "
                            f"frame {frame_start:g} to {end:.0f}")
    scratch.mkdir(parents=True, exist_ok=True)
    source = motion_npz.save_motion(dance, scratch / "section-of.npz")
    request = generate_request(plan, scratch)
    request.update(section_of=str(Path(source).resolve()),
                   section_start=(first_frame - frame_start) / scene_fps,
                   section_stop=(last_frame + 1 - frame_start) / scene_fps,
                   name="section")
    for key in ("in_place", "keep_turning", "loop", "start", "seconds", "num"):
        request.pop(key, None)
    return request


def apply_section(scene: bpy.types.Scene, plan: DancePlan, source: bpy.types.Action,
                  result: dict[str, Any], section_frames: tuple[float, float]
                  ) -> bpy.types.Action:
    """The worker's regenerated dance as a new variation of `source`: same start frame, the
    same record of what the dance replaced, a loop if `plan.loop` (the source cycles);
    every key outside the scene frames `section_frames` (first, last) is the source's; it
    becomes the one playing."""
    _dance, frame_start = stored_dance(source)
    [(retargeted, frames, read)] = retarget_dances(scene, plan, list(result["files"]),
                                                   frame_start)
    armature = bpy.data.objects[plan.armature]
    number = 1 + sum(1 for action in bpy.data.actions if keyframes.is_dance_action(action))
    name = keyframes.dance_action_name(plan.song.name, number)
    action = keyframes.new_dance_action(armature, retargeted, frames, name)
    keyframes.keep_keys_outside(action, source, *section_frames)
    if keyframes.PREVIOUS_STATE in source:
        keyframes.share_record(source, action)
    keep_variation(action, plan, read, frame_start, result)
    if keyframes.NLA_STATE in source:
        keyframes.add_dance_tracks(armature, [action])
        keyframes.play_dance_track(armature, action)
    else:
        keyframes.switch_dance(armature, action)
    return action


def keep_variation(action: bpy.types.Action, plan: DancePlan, read: motion.Motion,
                   frame_start: float, result: dict[str, Any]) -> None:
    """What every variation's Action gets: cycling for a loop, its canonical dance kept
    (`store_dance`), a fake user (it survives saving) and its seed."""
    if plan.loop:
        keyframes.make_cyclic(action)
    store_dance(action, read, frame_start)
    action.use_fake_user = True
    action["dancerev_seed"] = int(result.get("seed", plan.seed))


def closed_loop(result: Any) -> Any:
    """A retargeted loop whose last frame (its first pose again) is exactly the first's.

    The solver picks each bone's twist in step with the frame before, so the appended pose
    can come out twisted otherwise than frame 0 (millimetres at the bone ends), a pop at
    every repeat. Its quaternions keep the sign of the frame before them, for interpolation.
    """
    rotations = result.rotations.copy()
    first = rotations[0]
    same_side = np.sum(first * rotations[-2], axis=-1, keepdims=True) >= 0
    rotations[-1] = np.where(same_side, first, -first)
    locations, root = result.locations.copy(), result.root_translation.copy()
    locations[-1], root[-1] = locations[0], root[0]
    return replace(result, rotations=rotations, locations=locations, root_translation=root)


def skipped_song_notice(plan: DancePlan) -> str:
    """The one line to show when the song strip could not be added (this Blender has no
    audio: the bpy 4.2 wheel); empty otherwise. The dance is applied all the same."""
    if plan.add_song and not compat.has_audio():
        return (f"this Blender has no audio (built without Audaspace): the song strip for "
                f"{plan.song.name} was skipped; the dance is applied")
    return ""


def apply_dances(scene: bpy.types.Scene, plan: DancePlan, result: dict[str, Any]
                 ) -> list[bpy.types.Action]:
    """The worker's dances as Actions on the character: the first plays, all are kept.

    Each variation is its own Action (kept with a fake user so it survives saving): the
    first becomes the active one, or with `plan.nla` each goes on its own NLA track
    (keyframes.add_dance_tracks). The song becomes a sound strip in sync and beat markers
    go on the timeline if asked. A loop starts at a beat a little into the music asked for
    (`loop_start` seconds): the song strip starts that much later into the song, or, with
    the scene's own strip, the dance that much later on the timeline.
    """
    lead = float(result.get("loop_start") or 0.0)
    frame_start = plan.frame_start + (0.0 if plan.add_song else
                                      lead * keyframes.scene_fps(scene))
    dances = retarget_dances(scene, plan, list(result["files"]), frame_start)
    armature = bpy.data.objects[plan.armature]
    song = Path(result.get("song", plan.song)).name
    actions = []
    for number, (retargeted, frames, read) in enumerate(dances, start=1):
        name = keyframes.dance_action_name(song, number)
        if number == 1 and not plan.nla:
            action = keyframes.apply_dance(armature, retargeted, frames, name=name)
        else:
            action = keyframes.new_dance_action(armature, retargeted, frames, name)
            if not plan.nla:
                keyframes.share_record(actions[0], action)
        keep_variation(action, plan, read, frame_start, result)
        actions.append(action)
    if plan.nla:
        keyframes.add_dance_tracks(armature, actions)
    end_frame = int(np.ceil(dances[0][1][-1])) if dances else scene.frame_end
    if plan.add_song:  # None where this Blender has no audio: skipped_song_notice
        keyframes.add_song_strip(scene, str(plan.song), plan.frame_start, plan.start + lead)
    if plan.beat_markers:
        keyframes.add_beat_markers(scene, result.get("beat_times", []), frame_start)
    scene.frame_start, scene.frame_end = int(np.floor(frame_start)), end_frame
    return actions
