#!/usr/bin/env python3
"""Foot skating on the character, as Blender evaluates it, against the canonical dance.

    OMP_NUM_THREADS=1 bash .ci/with-venv python bench/rig_skating.py [--seconds 20]

Issue 18 item 6: feet planted on the canonical skeleton must stay planted on the user's
rig. For DanceRev's default dancer and CesiumMan (../shared/data/characters), the shipped
model dances 20 s of Vibe Ace from second 30 (`dancerev dance`'s path, seed 0, 30 fps);
the rig's ankle and toe bone heads are read back frame by frame from Blender and measured
with `evaluation.skating.foot_skating`, in the rig's metres and in the dancer's (divided by
the retarget's leg ratio, since the measure's 5-cm contact height is absolute). A rig
without toe bones (CesiumMan) is measured on its ankles alone. The canonical dance the
worker wrote is measured beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from dancerev_core.body_frame import J  # noqa: E402
from dancerev_core.commands.blender_side import addon_module  # noqa: E402
from dancerev_core.evaluation.skating import foot_skating  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
FOOT_JOINTS = ("left_ankle", "right_ankle", "left_foot", "right_foot")


def rig_feet(rig, joints: list[str], drivers: dict[str, str]) -> np.ndarray:
    """The rig's foot bone heads in the canonical foot slots, every scene frame (T x 24 x 3);
    without toe bones the toe slots hold the ankles."""
    import bpy

    scene = bpy.context.scene
    frames = range(scene.frame_start, scene.frame_end + 1)
    full = np.zeros((len(frames), 24, 3))
    for row, frame in enumerate(frames):
        scene.frame_set(frame)
        world = np.array(rig.matrix_world)
        for joint in joints:
            head = np.append(np.array(rig.pose.bones[drivers[joint]].head), 1.0)
            full[row, J[joint]] = (world @ head)[:3]
    for side in ("left", "right"):
        if f"{side}_foot" not in joints:
            full[:, J[f"{side}_foot"]] = full[:, J[f"{side}_ankle"]]
    return full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    headless = addon_module("headless")
    import bpy

    from addon import dance
    from dancerev_core import retarget

    print(f"{'character':<16} {'rig m/s':>8} {'dancer m/s':>11} {'canonical m/s':>14}")
    with tempfile.TemporaryDirectory() as folder:
        for name, path in (("default dancer", None),
                           ("CesiumMan", SHARED / "characters" / "CesiumMan.glb")):
            done = headless.dance_song(SHARED / "music" / SONG, Path(folder) / "rig.blend",
                                       path, seconds=args.seconds, fps=30, start=30, seed=0,
                                       log=lambda _line: None)
            rig = bpy.data.objects[done["armature"]]
            rest, mapping = dance.plan_bone_map(rig)
            rest = rest.with_object_matrix(np.array(rig.matrix_world, dtype=np.float64))
            joints = [joint for joint in FOOT_JOINTS if joint in mapping.drivers]
            feet = rig_feet(rig, joints, mapping.drivers)
            stored, _start = dance.stored_dance(rig.animation_data.action)
            scale = retarget.retarget(stored, rest, mapping).scale
            canonical = stored.positions.astype(np.float64).copy()
            if len(joints) < 4:
                for side in ("left", "right"):
                    canonical[:, J[f"{side}_foot"]] = canonical[:, J[f"{side}_ankle"]]
            print(f"{name:<16} {foot_skating(feet, 30.0).mean_speed:8.3f} "
                  f"{foot_skating(feet / scale, 30.0).mean_speed:11.3f} "
                  f"{foot_skating(canonical, stored.fps).mean_speed:14.3f}")


if __name__ == "__main__":
    main()
