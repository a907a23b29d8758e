"""A retargeted dance written onto an armature as its own Action, in one pass per F-curve.

Each dance (each variation) becomes a new Action with one slot, holding keys only for the
bones the retargeting drives, in each bone's own rotation mode, so the user's rig setup is
left as it was. Keys go in with `keyframe_points.add` and `foreach_set`: one minute of dance
on a Rigify control rig takes milliseconds instead of the seconds `keyframe_insert` needs.

The user's own Action is never touched. While a dance is on, the Action that was assigned
before is kept alive by a reference from the dance's Action (an ID property, which counts
as a user, so it survives saving and reloading) together with its slot and blend settings,
the rig's switch values and the pose channels of the bones the dance relies on (the solver
takes them at rest but for what it keys, so they are put at rest while it plays);
`remove_dance` deletes the dance's Action and puts all of that back. Applying a second
variation carries the same record over, so removal always returns to the user's own state.

As NLA strips instead (`add_dance_tracks`): each variation goes on its own NLA track, above
the user's, as a strip that plays where its keys are; the user's tracks, active Action and
pose are not touched at all, and `remove_dance_tracks` takes DanceRev's tracks away again.

Time: seconds are the truth. `resample_for_scene` brings the canonical motion to the
scene's frame rate so that key k lands on frame start + k, i.e. a beat at t seconds is on
frame start + t * fps; `scene_frames` turns any times into scene frames.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

import bpy
import numpy as np

from . import compat
from .armature import ensure_pose
from .core import errors, motion, retarget

rotations = retarget.rotations

MARK = "dancerev"  # ID property on a DanceRev Action: what it is
PREVIOUS_ACTION = "dancerev_previous_action"  # ID property: the Action assigned before
PREVIOUS_STATE = "dancerev_previous_state"  # ID property: JSON of slot, blend, properties
NLA_STATE = "dancerev_nla_state"  # ID property on a dance put on an NLA track: JSON
MAX_NAME = 63  # ID names before Blender 5.0
BEAT_MARKER = re.compile(r"^beat \d+$")


# ----------------------------------------------------------------------------- time
def scene_fps(scene: bpy.types.Scene) -> float:
    """Frames per second of the scene (29.97 is fps 30 over fps_base 1.001)."""
    return scene.render.fps / scene.render.fps_base


def resample_for_scene(dance: motion.Motion, scene: bpy.types.Scene) -> motion.Motion:
    """The motion at the scene's frame rate, so that its frame k is scene frame start + k."""
    return dance.resample(scene_fps(scene))


def scene_frames(times: np.ndarray, scene: bpy.types.Scene, start_frame: float = 1.0
                 ) -> np.ndarray:
    """Scene frame of each time in seconds: start + t * fps, float noise snapped away."""
    frames = start_frame + np.asarray(times, dtype=np.float64) * scene_fps(scene)
    nearest = np.round(frames)
    return np.where(np.abs(frames - nearest) < 1e-6, nearest, frames)


def dance_action_name(song: str, variation: int) -> str:
    """"DanceRev <song> v<N>", the song shortened so the name fits any Blender version."""
    stem = os.path.splitext(os.path.basename(song))[0] or "dance"
    suffix = f" v{variation}"
    room = MAX_NAME - len("DanceRev ") - len(suffix)
    return f"DanceRev {stem[:room].rstrip()}{suffix}"


# ------------------------------------------------------------------------ rotations
def rotation_channels(quaternions: np.ndarray, mode: str) -> tuple[str, np.ndarray]:
    """The pose-bone property and its T x n values for quaternions (T x 4, w x y z) in a
    bone's rotation mode, continuous over time so interpolation never spins round."""
    q = rotations.continuous_signs(np.asarray(quaternions, dtype=np.float64))
    if mode == "QUATERNION":
        return "rotation_quaternion", q
    if mode == "AXIS_ANGLE":
        return "rotation_axis_angle", axis_angle(q)
    return "rotation_euler", euler_angles(q, mode)


def axis_angle(quaternions: np.ndarray) -> np.ndarray:
    """(angle, x, y, z) per quaternion; at no rotation the axis is Blender's default Y."""
    w = np.clip(quaternions[:, 0], -1.0, 1.0)
    vector = quaternions[:, 1:]
    length = np.linalg.norm(vector, axis=-1)
    angle = 2.0 * np.arctan2(length, w)
    still = length < 1e-9
    axis = np.where(still[:, None], [0.0, 1.0, 0.0], vector / np.where(still, 1.0,
                                                                        length)[:, None])
    return np.column_stack([angle, axis])


def euler_angles(quaternions: np.ndarray, mode: str) -> np.ndarray:
    """Blender Euler angles (x, y, z columns) for a rotation mode such as "XYZ", continuous.

    Mode "XYZ" turns about X first, i.e. R = Rz @ Ry @ Rx. Every rotation has two Euler
    solutions, (a, b, c) and (a + pi, pi - b, c + pi); frame by frame the one nearer the
    previous key is kept (a running parity, like quaternion signs), then each angle is
    unwrapped so it never jumps by a full turn.
    """
    order = mode[::-1]
    primary = rotations.matrix_to_euler(rotations.quaternion_to_matrix(quaternions), order)
    dual = np.column_stack([primary[:, 0] + np.pi, np.pi - primary[:, 1],
                            primary[:, 2] + np.pi])

    def gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sum((np.mod(a - b + np.pi, 2 * np.pi) - np.pi) ** 2, axis=-1)

    switch = gap(dual[1:], primary[:-1]) < gap(primary[1:], primary[:-1])
    parity = np.concatenate([[False], np.cumsum(switch) % 2 == 1])
    chosen = np.unwrap(np.where(parity[:, None], dual, primary), axis=0)
    angles = np.empty_like(chosen)
    for position, axis in enumerate(order):
        angles[:, "XYZ".index(axis)] = chosen[:, position]
    return angles


# ----------------------------------------------------------------------- the Action
def _interpolation_value(name: str) -> int:
    return bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[name].value


def _write_curve(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray,
                 interpolation: int) -> None:
    """All keys of one F-curve at once: frames and values are float arrays of equal length."""
    count = len(frames)
    points = fcurve.keyframe_points
    points.add(count)
    co = np.empty(2 * count, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(count, interpolation, dtype=np.uint8))  # raw char


def dance_channels(obj: bpy.types.Object, result: retarget.Retargeted
                   ) -> list[tuple[str, int, str, np.ndarray]]:
    """(data path, index, group, T values) for every channel the dance keys on this rig:
    rotations of the keyed bones in their own modes, locations of bones given one."""
    bones = ensure_pose(obj).bones
    channels = []
    for b in np.flatnonzero(result.keyed):
        name = result.bone_names[b]
        pose_bone = bones.get(name)
        if pose_bone is None:
            raise errors.DanceRevError(f"bone {name!r} of the retargeted dance is not on "
                                       f"armature {obj.name!r}")
        base = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        prop, values = rotation_channels(result.rotations[:, b], pose_bone.rotation_mode)
        channels += [(f"{base}.{prop}", i, name, values[:, i]) for i in range(values.shape[1])]
        location = result.locations[:, b]
        if name == result.root_bone or np.any(location != 0.0):
            channels += [(f"{base}.location", i, name, location[:, i]) for i in range(3)]
    return channels


def switch_channels(obj: bpy.types.Object, result: retarget.Retargeted
                    ) -> list[tuple[str, str, float]]:
    """(data path, bone, value) of the rig map's switches (Rigify's IK_FK = 1.0 for FK)
    that exist on this rig: keyed in the dance's Action, so the dance carries them."""
    bones = ensure_pose(obj).bones
    found = []
    for item in result.bone_map.set_properties:
        pose_bone = bones.get(item["bone"])
        if pose_bone is not None and item["property"] in pose_bone:
            base = f'pose.bones["{bpy.utils.escape_identifier(item["bone"])}"]'
            path = f'{base}["{bpy.utils.escape_identifier(item["property"])}"]'
            found.append((path, item["bone"], float(item["value"])))
    return found


def new_dance_action(obj: bpy.types.Object, result: retarget.Retargeted, frames: np.ndarray,
                     name: str, *, interpolation: str = "LINEAR") -> bpy.types.Action:
    """A new Action (with one slot on 4.4+) holding the dance's keys at `frames`.

    `frames` is the scene frame of each of the dance's T frames (floats; see
    `scene_frames`). Nothing is assigned: see `apply_dance`.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.shape != (result.num_frames,):
        raise errors.DanceRevError(f"{result.num_frames} dance frames but {frames.shape} "
                                   f"scene frames")
    if not (np.isfinite(frames).all() and np.all(np.diff(frames) > 0)):
        raise errors.DanceRevError("scene frames must be finite and increasing")
    channels = dance_channels(obj, result)
    switches = switch_channels(obj, result)
    action = bpy.data.actions.new(name)
    action[MARK] = 1
    new_curve = compat.curve_factory(action)
    kind = _interpolation_value(interpolation)
    for path, index, group, values in channels:
        _write_curve(new_curve(path, index, group), frames, values, kind)
    constant = _interpolation_value("CONSTANT")
    for path, group, value in switches:
        _write_curve(new_curve(path, 0, group), frames[:1], np.array([value]), constant)
    return action


def keep_keys_outside(action: bpy.types.Action, source: bpy.types.Action, first: float,
                      last: float) -> None:
    """Make every key of `action` outside scene frames first..last the same as `source`'s.

    A section danced anew changes only the joints inside it, but the solver carries each
    bone's twist and quaternion sign over from frame to frame, so frames after the section
    could come out as an equal rotation written otherwise: the user's untouched part must
    be untouched to the key. Where a section's quaternion starts on the other sign from the
    frame before it, that bone's section keys are flipped to match (same rotations).
    """
    def keys(target: bpy.types.Action) -> dict[tuple[str, int], np.ndarray]:
        found = {}
        for curve in action_fcurves(target):
            co = np.empty(2 * len(curve.keyframe_points))
            curve.keyframe_points.foreach_get("co", co)
            found[(curve.data_path, curve.array_index)] = co.reshape(-1, 2)
        return found

    new, old = keys(action), keys(source)
    shared = [key for key in new if key in old and len(old[key]) == len(new[key])]
    if not shared:
        return
    frames = new[shared[0]][:, 0]
    inside = np.flatnonzero((frames >= first - 1e-6) & (frames <= last + 1e-6))
    if inside.size and inside[0] > 0:
        for path in {path for path, _ in shared if path.endswith("rotation_quaternion")}:
            if all((path, i) in old and (path, i) in new for i in range(4)):
                dot = sum(new[(path, i)][inside[0], 1] * old[(path, i)][inside[0] - 1, 1]
                          for i in range(4))
                if dot < 0:
                    for i in range(4):
                        new[(path, i)][inside, 1] *= -1
    outside = np.ones(len(frames), dtype=bool)
    outside[inside] = False
    curves = {(curve.data_path, curve.array_index): curve for curve in action_fcurves(action)}
    for key in shared:
        new[key][outside] = old[key][outside]
        curves[key].keyframe_points.foreach_set("co", new[key].ravel())
        curves[key].update()


def make_cyclic(action: bpy.types.Action) -> None:
    """A Cycles modifier on every F-curve: the Action repeats on the timeline. Its last key
    must hold the first pose one period on (as `dance.retarget_dances` writes loops)."""
    for fcurve in action_fcurves(action):
        if not any(modifier.type == "CYCLES" for modifier in fcurve.modifiers):
            fcurve.modifiers.new("CYCLES")


# ------------------------------------------------------------- assigning, removing
def is_dance_action(action: bpy.types.Action | None) -> bool:
    """Whether an Action is one of DanceRev's (marked by an ID property)."""
    return action is not None and MARK in action


POSE_CHANNELS = {"location": (0.0, 0.0, 0.0), "rotation_quaternion": (1.0, 0.0, 0.0, 0.0),
                 "rotation_euler": (0.0, 0.0, 0.0), "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0),
                 "scale": (1.0, 1.0, 1.0)}


def relied_bones(obj: bpy.types.Object, result: retarget.Retargeted) -> list[str]:
    """The keyed bones and every bone above them: the solver takes all of these at rest
    but for what it keys, so whatever pose they hold (a previous Action's last frame, a
    hand-made pose) would move the dance."""
    bones, found = obj.data.bones, {}
    for b in np.flatnonzero(result.keyed):
        bone = bones.get(result.bone_names[b])
        while bone is not None and bone.name not in found:
            found[bone.name] = True
            bone = bone.parent
    return list(found)


def _record(obj: bpy.types.Object, result: retarget.Retargeted) -> tuple[dict, object]:
    """What `remove_dance` must give back: the user's Action, slot and blend settings, the
    switch values and the pose channels of the bones the dance relies on, as they were
    before any dance. A dance already on carries its own record over."""
    anim = obj.animation_data
    current = anim.action if anim else None
    if is_dance_action(current):
        state = json.loads(current[PREVIOUS_STATE])
        previous = current.get(PREVIOUS_ACTION)
    else:
        state = {"had_animation_data": anim is not None, "properties": [], "pose": {}}
        previous = current
        if anim is not None:
            state.update(blend_type=anim.action_blend_type, influence=anim.action_influence,
                         extrapolation=anim.action_extrapolation)
            state.update(compat.slot_state(anim))
    known = {(bone, prop) for bone, prop, _ in state["properties"]}
    bones = obj.pose.bones
    for item in result.bone_map.set_properties:
        key = (item["bone"], item["property"])
        pose_bone = bones.get(item["bone"])
        if key not in known and pose_bone is not None and item["property"] in pose_bone:
            state["properties"].append([*key, pose_bone[item["property"]]])
            known.add(key)
    for name in relied_bones(obj, result):
        if name not in state["pose"]:
            pose_bone = bones[name]
            state["pose"][name] = {channel: list(getattr(pose_bone, channel))
                                   for channel in POSE_CHANNELS}
    return state, previous


def assign_action(obj: bpy.types.Object, action: bpy.types.Action) -> None:
    """Make `action` (and its first slot) the object's active Action, fully weighted."""
    anim = obj.animation_data or obj.animation_data_create()
    anim.action = action
    compat.use_first_slot(anim, action)
    anim.action_blend_type = "REPLACE"
    anim.action_influence = 1.0
    anim.action_extrapolation = "HOLD"


def apply_dance(obj: bpy.types.Object, result: retarget.Retargeted, frames: np.ndarray, *,
                name: str = "DanceRev dance", interpolation: str = "LINEAR"
                ) -> bpy.types.Action:
    """Write the dance as a new Action on the armature and make it the active one.

    The Action assigned before stays in the file, untouched (see the module docstring);
    the keyed bones and the bones above them are put at rest first, for everything the
    dance does not key; `remove_dance` gives all of it back. Returns the new Action.
    """
    ensure_pose(obj)
    anim = obj.animation_data
    if anim is not None and anim.use_tweak_mode:
        raise errors.DanceRevError(f"{obj.name!r} is in NLA tweak mode: leave it first")
    action = new_dance_action(obj, result, frames, name, interpolation=interpolation)
    state, previous = _record(obj, result)
    action[PREVIOUS_STATE] = json.dumps(state)
    if previous is not None:
        action[PREVIOUS_ACTION] = previous
    bones = obj.pose.bones
    for bone in relied_bones(obj, result):
        for channel, value in POSE_CHANNELS.items():
            setattr(bones[bone], channel, value)
    assign_action(obj, action)
    return action


action_fcurves = compat.action_fcurves  # the F-curves of a DanceRev Action, any version


def share_record(source: bpy.types.Action, target: bpy.types.Action) -> None:
    """Give another variation's Action the record of what the dance replaced, so whichever
    variation is playing, `remove_dance` gives the user's state back."""
    target[PREVIOUS_STATE] = source[PREVIOUS_STATE]
    previous = source.get(PREVIOUS_ACTION)
    if previous is not None:
        target[PREVIOUS_ACTION] = previous


def switch_dance(obj: bpy.types.Object, action: bpy.types.Action) -> None:
    """Play another DanceRev variation (made by `new_dance_action` + `share_record`, or put
    on an NLA track by `add_dance_tracks`)."""
    if is_dance_action(action) and NLA_STATE in action:
        play_dance_track(obj, action)
        return
    if not is_dance_action(action) or PREVIOUS_STATE not in action:
        raise errors.DanceRevError(f"{action.name!r} is not a DanceRev dance made for "
                                   f"{obj.name!r}")
    anim = obj.animation_data
    if anim is not None and anim.use_tweak_mode:
        raise errors.DanceRevError(f"{obj.name!r} is in NLA tweak mode: leave it first")
    ensure_pose(obj)
    assign_action(obj, action)


def remove_dance(obj: bpy.types.Object) -> bool:
    """Delete the object's DanceRev Action and give back exactly what was there before:
    the Action and slot, their blend settings, the switches and the pose channels.

    Returns False (and changes nothing) when the active Action is not a DanceRev one.
    """
    anim = obj.animation_data
    action = anim.action if anim else None
    if not is_dance_action(action):
        return False
    ensure_pose(obj)
    state = json.loads(action[PREVIOUS_STATE])
    previous = action.get(PREVIOUS_ACTION)
    anim.action = previous
    compat.restore_slot(anim, previous, state)
    if "blend_type" in state:
        anim.action_blend_type = state["blend_type"]
        anim.action_influence = state["influence"]
        anim.action_extrapolation = state["extrapolation"]
    bones = obj.pose.bones
    for bone, prop, value in state["properties"]:
        if bone in bones:
            bones[bone][prop] = value
    for bone, channels in state["pose"].items():
        if bone in bones:
            for channel, value in channels.items():
                setattr(bones[bone], channel, value)
    bpy.data.actions.remove(action)
    if (not state["had_animation_data"] and anim.action is None and not anim.drivers
            and not anim.nla_tracks):
        obj.animation_data_clear()
    return True


# ------------------------------------------------------------------------ NLA strips
def is_dance_track(track: bpy.types.NlaTrack) -> bool:
    """A track DanceRev made: it holds strips, all of DanceRev dances."""
    return bool(track.strips) and all(is_dance_action(strip.action) for strip in track.strips)


def add_dance_tracks(obj: bpy.types.Object, actions: Sequence[bpy.types.Action]
                     ) -> list[bpy.types.NlaTrack]:
    """Each dance on its own NLA track above the user's, as one strip where its keys are.

    The first variation's track plays, the others are muted (un-muting one, or
    `switch_dance`, plays it instead). Strips extrapolate nothing, so before and after the
    dance the character does what it did. The user's tracks, active Action, slot and pose
    are left exactly as they were; an active Action still plays over every strip (Blender's
    NLA order), which `nla_notice` tells the user.
    """
    anim = obj.animation_data
    if anim is not None and anim.use_tweak_mode:
        raise errors.DanceRevError(f"{obj.name!r} is in NLA tweak mode: leave it first")
    state = json.dumps({"had_animation_data": anim is not None})
    anim = anim or obj.animation_data_create()
    tracks = []
    for number, action in enumerate(actions):
        action[NLA_STATE] = state
        first, _last = action.frame_range
        track = anim.nla_tracks.new()
        track.name = action.name
        strip = track.strips.new(action.name, int(np.floor(first)), action)
        strip.frame_start_ui = first  # the keys' own frames: strip time is scene time
        strip.extrapolation = "NOTHING"
        track.mute = number > 0
        tracks.append(track)
    return tracks


def is_playing(obj: bpy.types.Object, action: bpy.types.Action | None) -> bool:
    """Whether `action` plays on the object: its active Action, or on an un-muted track."""
    anim = obj.animation_data
    if anim is None or action is None:
        return False
    return anim.action == action or any(
        not track.mute and any(strip.action == action for strip in track.strips)
        for track in anim.nla_tracks)


def nla_notice(obj: bpy.types.Object) -> str:
    """Why the dance's strip may not show: the object's active Action plays over the NLA."""
    anim = obj.animation_data
    if anim is None or anim.action is None or is_dance_action(anim.action):
        return ""
    return (f"{obj.name}'s active Action {anim.action.name!r} plays over the dance's NLA "
            "strips: push it down or mute it to see the dance")


def play_dance_track(obj: bpy.types.Object, action: bpy.types.Action) -> None:
    """Un-mute the DanceRev track holding `action`, mute DanceRev's others."""
    anim = obj.animation_data
    tracks = [track for track in anim.nla_tracks if is_dance_track(track)] if anim else []
    if not any(strip.action == action for track in tracks for strip in track.strips):
        raise errors.DanceRevError(f"{action.name!r} is not on an NLA track of {obj.name!r}")
    for track in tracks:
        track.mute = not any(strip.action == action for strip in track.strips)


def remove_dance_tracks(obj: bpy.types.Object) -> int:
    """Delete DanceRev's NLA tracks and their Actions; everything else stays. Returns how
    many tracks went."""
    anim = obj.animation_data
    if anim is None:
        return 0
    ours = [track for track in anim.nla_tracks if is_dance_track(track)]
    had_animation_data = True
    for track in ours:
        actions = [strip.action for strip in track.strips]
        anim.nla_tracks.remove(track)
        for action in actions:
            if action.name in bpy.data.actions:
                state = json.loads(action.get(NLA_STATE, "{}"))
                had_animation_data &= state.get("had_animation_data", True)
                bpy.data.actions.remove(action)
    if (ours and not had_animation_data and anim.action is None and not anim.drivers
            and not anim.nla_tracks):
        obj.animation_data_clear()
    return len(ours)


# ------------------------------------------------------------------ markers, sound
def add_beat_markers(scene: bpy.types.Scene, beat_times: Sequence[float],
                     start_frame: float = 1.0, song_start: float = 0.0,
                     song_end: float | None = None) -> list[bpy.types.TimelineMarker]:
    """Timeline markers "beat 1", "beat 2", ... on the nearest frame to each beat (halves
    round up).

    Song second `song_start` is at `start_frame`; beats outside [song_start, song_end]
    are left out. Earlier beat markers (named so) are replaced, other markers are kept.
    """
    remove_beat_markers(scene)
    times = np.asarray(beat_times, dtype=np.float64)
    keep = (times >= song_start) & (times <= (np.inf if song_end is None else song_end))
    frames = np.floor(scene_frames(times[keep] - song_start, scene, start_frame) + 0.5)
    return [scene.timeline_markers.new(f"beat {n}", frame=int(frame))
            for n, frame in enumerate(frames, start=1)]


def remove_beat_markers(scene: bpy.types.Scene) -> int:
    """Remove the markers `add_beat_markers` made; returns how many."""
    markers = [m for m in scene.timeline_markers if BEAT_MARKER.match(m.name)]
    for marker in markers:
        scene.timeline_markers.remove(marker)
    return len(markers)


def add_song_strip(scene: bpy.types.Scene, path: str, start_frame: float = 1.0,
                   song_start: float = 0.0) -> bpy.types.Strip | None:
    """The song as a sound strip whose second `song_start` plays at `start_frame`.

    The strip starts on the whole frame where the song's second 0 falls (or just before),
    delayed by the remaining fraction of a frame through its sound offset, so the sync is
    exact at any frame rate; the part before the dance is trimmed off. It goes on a
    channel above every other strip. None where this Blender has no audio (compat.py).
    """
    editor = scene.sequence_editor or scene.sequence_editor_create()
    channel = 1 + max((strip.channel for strip in compat.strips(editor)), default=0)
    fps = scene_fps(scene)
    first = start_frame - song_start * fps  # where the song's second 0 plays
    frame = int(np.floor(first))
    strip = compat.add_sound_strip(editor, f"DanceRev {os.path.basename(path)}", path,
                                   channel, frame)
    if strip is None:
        return None
    if hasattr(strip, "sound_offset"):  # else the sync is to the whole frame
        strip.sound_offset = (first - frame) / fps
    strip.frame_offset_start = max(0, int(np.floor(start_frame)) - frame)
    return strip
