#!/usr/bin/env python3
"""Keyframe writing speed: one minute of dance at 30 fps onto a generated Rigify control rig.

    bash .ci/with-venv python bench/keyframes.py [--repeats 7] [--insert-frames 180]
                                                 [--bvh-repeats 3]

The dance is real: the shared CMU subject 5 clips (`../shared/data`, or
DANCEREV_SHARED_DATA) as canonical joints, resampled to 30 fps, one after another until
60 s (1800 frames). The rig is Rigify's human metarig generated into its control rig
(`bpy.ops.pose.rigify_generate`, ~4 s, not timed); the dance is retargeted once (not timed).
Three ways to get the same dance into Blender, each a median of its repeats:
  1. `addon.keyframes.apply_dance`: a new Action and slot, `foreach_set` per F-curve,
     assigned to the rig (goal: <= 0.1 s, >= 20x faster than 2.);
  2. `pose_bone.keyframe_insert` per key, the same keys (rotations in each bone's mode,
     root location, the IK/FK switches), the pose values set first as a script would;
     timed on the first --insert-frames frames and scaled linearly to 1800. Each insert
     costs more as the curves grow, so the full minute costs several times that: the
     scaled figure favours keyframe_insert;
  3. Blender's own BVH importer (`bpy.ops.import_anim.bvh`, default options) loading the
     same minute written as a BVH on the CMU Character Creator skeleton of 005_01.bvh with
     `dancerev_core.retarget.retarget_to_bvh`; it builds the armature too.
Measured here (shared 2-core machine): 1. 14.6 ms; 2. 0.14 s for 180 frames, 1.4 s scaled
(93x); with --insert-frames 1800 the whole minute took 10.7 to 15.1 s (700x to 1000x);
3. 1.52 s (104x).
The machine is shared and noisy: read medians, and rerun when a figure looks odd.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="dancerev-bench-"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from addon import armature, keyframes  # noqa: E402
from dancerev_core.formats.bvh import read_bvh, write_bvh  # noqa: E402
from dancerev_core.formats.reading import read_motion  # noqa: E402
from dancerev_core.retarget import retarget, retarget_to_bvh  # noqa: E402

SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", ROOT.parent / "shared" / "data"))
CLIPS = SHARED / "mocap" / "cmu" / "05"
FPS, SECONDS, GOAL, SPEEDUP = 30, 60, 0.1, 20.0


def one_minute():
    """CMU subject 5's clips at 30 fps, one after another, cut to 60 s."""
    paths = sorted(CLIPS.glob("005_*.bvh"))
    if not paths:
        sys.exit(f"bench/keyframes.py needs the shared CMU clips in {CLIPS}")
    frames = FPS * SECONDS
    motions, total = [], 0
    while total < frames:
        for path in paths:
            motion = read_motion(path, joints="canonical", fps=FPS)
            motions.append(motion)
            total += motion.num_frames
            if total >= frames:
                break
    positions = np.concatenate([m.positions for m in motions])[:frames]
    return motions[0].with_positions(positions), f"{len(motions)} CMU clips from {CLIPS}"


def control_rig() -> bpy.types.Object:
    import addon_utils  # Blender's, importable once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    rig.animation_data_clear()
    return rig


def median_time(run, repeats: int, reset=None) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        if reset is not None:
            reset()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def insert_per_key(rig: bpy.types.Object, result, frames: np.ndarray, count: int) -> None:
    """The same keys the writer makes, the usual way: set the pose, keyframe_insert."""
    bones = rig.pose.bones
    plan = []
    for b in np.flatnonzero(result.keyed):
        name = result.bone_names[b]
        prop, values = keyframes.rotation_channels(result.rotations[:, b],
                                                   bones[name].rotation_mode)
        located = name == result.root_bone or np.any(result.locations[:, b] != 0)
        plan.append((bones[name], name, prop, values,
                     result.locations[:, b] if located else None))
    for path, bone, value in keyframes.switch_channels(rig, result):
        prop = path.rsplit("[", 1)[1][1:-2]
        bones[bone][prop] = value
        bones[bone].keyframe_insert(f'["{prop}"]', frame=frames[0], group=bone)
    for k in range(count):
        for pose_bone, name, prop, values, location in plan:
            setattr(pose_bone, prop, values[k])
            pose_bone.keyframe_insert(prop, frame=frames[k], group=name)
            if location is not None:
                pose_bone.location = location[k]
                pose_bone.keyframe_insert("location", frame=frames[k], group=name)


def bvh_import_time(dance, repeats: int) -> tuple[float, list[float], str]:
    template = read_bvh(CLIPS / "005_01.bvh")
    animated, _ = retarget_to_bvh(dance, FPS, template)
    path = Path(tempfile.mkdtemp(prefix="dancerev-bench-")) / "minute.bvh"
    write_bvh(animated, path)

    def reset() -> None:
        for obj in list(bpy.data.objects):
            if obj.get("bench_bvh"):
                bpy.data.objects.remove(obj)

    def run() -> None:
        before = set(bpy.data.objects)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints every zero-length bone
            bpy.ops.import_anim.bvh(filepath=str(path))
        for obj in set(bpy.data.objects) - before:
            obj["bench_bvh"] = True

    median, times = median_time(run, repeats, reset)
    reset()
    return median, times, f"{len(template.joints)} joints, {animated.num_frames} frames"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--insert-frames", type=int, default=180,
                        help="frames timed with keyframe_insert (scaled to the minute)")
    parser.add_argument("--insert-repeats", type=int, default=3)
    parser.add_argument("--bvh-repeats", type=int, default=3)
    args = parser.parse_args()

    dance, source = one_minute()
    start = time.perf_counter()
    rig = control_rig()
    generated = time.perf_counter() - start
    rest = armature.armature_rest(rig)
    result = retarget(dance, rest)
    frames = keyframes.scene_frames(dance.times(), bpy.context.scene, 1)
    channels = keyframes.dance_channels(rig, result)
    switches = keyframes.switch_channels(rig, result)
    keys = len(channels) * len(frames) + len(switches)
    print(f"dance: {source}, {len(frames)} frames ({SECONDS} s at {FPS} fps)")
    print(f"rig: generated Rigify control rig, {rest.num_bones} bones (generate "
          f"{generated:.1f} s), map {result.bone_map.chosen}, {int(result.keyed.sum())} keyed "
          f"bones, {len(channels)} F-curves (+{len(switches)} one-key switch "
          f"curves), {keys} keys")

    def write() -> None:
        keyframes.apply_dance(rig, result, frames, name="DanceRev bench v1")

    def unwrite() -> None:
        keyframes.remove_dance(rig)

    write()  # warm up
    ours, our_times = median_time(write, args.repeats, unwrite)
    unwrite()
    print(f"1. foreach_set writer: median {ours * 1000:.1f} ms over {args.repeats} repeats "
          f"(min {min(our_times) * 1000:.1f}, max {max(our_times) * 1000:.1f}); "
          f"goal <= {GOAL} s: {'met' if ours <= GOAL else 'MISSED'}")

    count = min(args.insert_frames, len(frames))
    part, insert_times = median_time(lambda: insert_per_key(rig, result, frames, count),
                                     args.insert_repeats, rig.animation_data_clear)
    rig.animation_data_clear()
    scaled = part * len(frames) / count
    speedup = scaled / ours
    print(f"2. keyframe_insert per key: median {part:.2f} s for {count} frames over "
          f"{args.insert_repeats} repeats, scaled to the minute {scaled:.1f} s; writer is "
          f"{speedup:.0f}x faster (goal >= {SPEEDUP:.0f}x: "
          f"{'met' if speedup >= SPEEDUP else 'MISSED'})")

    bvh, bvh_times, what = bvh_import_time(dance, args.bvh_repeats)
    print(f"3. Blender's BVH importer ({what}): median {bvh:.2f} s over {args.bvh_repeats} "
          f"repeats (min {min(bvh_times):.2f}); writer is {bvh / ours:.0f}x faster")
    return 0 if ours <= GOAL and speedup >= SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
