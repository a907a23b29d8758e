#!/usr/bin/env python3
"""Retargeting speed: one minute of dance at 30 fps onto a 60-bone rig, in one run.

    bash .ci/with-venv python bench/retarget.py [--repeats 7] [--clip BVH]

The dance is a shared CMU clip (`../shared/data`, or DANCEREV_SHARED_DATA) resampled to
30 fps and looped to 60 s; without the shared data a made-up dance of the same length is
used. The rig is a Mixamo-named T-pose with fingers, eyes, ends and twist bones (60 bones).
Each repeat is one `retarget()` call, rig map detection included; the figure printed is
the median. Goal: under 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dancerev_core.retarget import rest_from_edit_bones, retarget  # noqa: E402
from dancerev_core.skeletons import CANONICAL_24  # noqa: E402

SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", ROOT.parent / "shared" / "data"))
FPS, SECONDS, GOAL = 30.0, 60.0, 0.2


def mixamo_rig():
    """60 bones: Mixamo's 24 body bones, 30 finger bones, 2 eyes, 3 ends, 3 twist bones."""
    p = {"Hips": (0, 0, 0.95), "Spine": (0, 0.01, 1.05), "Spine1": (0, 0.01, 1.18),
         "Spine2": (0, 0, 1.32), "Neck": (0, 0.01, 1.5), "Head": (0, -0.01, 1.6),
         "HeadTop_End": (0, 0, 1.75)}
    bones = [("Hips", None, "Hips", "Spine"), ("Spine", "Hips", "Spine", "Spine1"),
             ("Spine1", "Spine", "Spine1", "Spine2"), ("Spine2", "Spine1", "Spine2", "Neck"),
             ("Neck", "Spine2", "Neck", "Head"), ("Head", "Neck", "Head", "HeadTop_End"),
             ("HeadTop_End", "Head", "HeadTop_End", (0, 0, 1.8))]
    for side, x in (("Left", 1.0), ("Right", -1.0)):
        p.update({f"{side}Shoulder": (0.04 * x, 0, 1.43), f"{side}Arm": (0.18 * x, 0.01, 1.43),
                  f"{side}ForeArm": (0.46 * x, 0.02, 1.43), f"{side}Hand": (0.72 * x, 0, 1.43),
                  f"{side}UpLeg": (0.09 * x, 0, 0.9), f"{side}Leg": (0.1 * x, -0.01, 0.5),
                  f"{side}Foot": (0.1 * x, 0.02, 0.08), f"{side}ToeBase": (0.1 * x, -0.11, 0.02),
                  f"{side}Eye": (0.03 * x, -0.09, 1.65)})
        chain = [f"{side}{n}" for n in ("Shoulder", "Arm", "ForeArm", "Hand")]
        bones += [(chain[0], "Spine2", chain[0], chain[1]), (chain[1], chain[0], chain[1],
                                                              chain[2]),
                  (chain[2], chain[1], chain[2], chain[3]),
                  (chain[3], chain[2], chain[3], (0.8 * x, 0, 1.43)),
                  (f"{side}UpLeg", "Hips", f"{side}UpLeg", f"{side}Leg"),
                  (f"{side}Leg", f"{side}UpLeg", f"{side}Leg", f"{side}Foot"),
                  (f"{side}Foot", f"{side}Leg", f"{side}Foot", f"{side}ToeBase"),
                  (f"{side}ToeBase", f"{side}Foot", f"{side}ToeBase", (0.1 * x, -0.16, 0.01)),
                  (f"{side}Eye", "Head", f"{side}Eye", (0.03 * x, -0.12, 1.65))]
        for finger, (y, z) in zip(("Thumb", "Index", "Middle", "Ring", "Pinky"),
                                  ((-0.04, -0.01), (-0.02, 0), (0, 0), (0.02, 0), (0.04, -0.01)),
                                  strict=True):
            parent = chain[3]
            for k in range(1, 4):
                name = f"{side}Hand{finger}{k}"
                head = (x * (0.78 + 0.03 * k), y, 1.43 + z)
                bones.append((name, parent, head, (x * (0.81 + 0.03 * k), y, 1.43 + z)))
                parent = name
    bones += [("LeftArmTwist", "LeftArm", (0.32, 0.015, 1.43), "LeftForeArm"),
              ("RightArmTwist", "RightArm", (-0.32, 0.015, 1.43), "RightForeArm"),
              ("LeftForeArmTwist", "LeftForeArm", (0.6, 0.01, 1.43), "LeftHand"),
              ("LeftToe_End", "LeftToeBase", (0.1, -0.16, 0.01), (0.1, -0.2, 0.01)),
              ("RightToe_End", "RightToeBase", (-0.1, -0.16, 0.01), (-0.1, -0.2, 0.01))]
    point = {k: np.asarray(v, float) for k, v in p.items()}

    def where(spec):
        return point[spec] if isinstance(spec, str) else np.asarray(spec, float)

    names = ["mixamorig:" + b[0] for b in bones]
    parents = [None if b[1] is None else "mixamorig:" + b[1] for b in bones]
    heads = np.stack([where(b[2]) for b in bones])
    tails = np.stack([where(b[3]) for b in bones])
    return rest_from_edit_bones(names, parents, heads, tails, np.zeros(len(bones)))


def dance(clip: Path | None) -> tuple[np.ndarray, str]:
    frames = int(SECONDS * FPS)
    if clip is not None and clip.is_file():
        from dancerev_core.formats.reading import read_motion

        motion = read_motion(clip, joints="canonical", fps=FPS)
        loops = int(np.ceil(frames / motion.num_frames))
        return np.concatenate([motion.positions] * loops)[:frames].astype(np.float64), str(clip)
    t = np.arange(frames)[:, None, None] / FPS
    rest = np.array([(0.0, 0.0, 0.95)] * CANONICAL_24.num_joints)
    offsets = np.random.default_rng(0).normal(0, 0.3, (CANONICAL_24.num_joints, 3))
    positions = rest + offsets * (1 + 0.2 * np.sin(2 * np.pi * 0.7 * t))
    return positions, "made-up dance (shared data not found)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clip", type=Path, default=SHARED / "mocap" / "cmu" / "05" /
                        "005_02.bvh")
    args = parser.parse_args()
    rest = mixamo_rig()
    assert rest.num_bones == 60, rest.num_bones
    positions, source = dance(args.clip)
    retarget(positions[:30], rest)  # warm up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = retarget(positions, rest)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"dance: {source}, {len(positions)} frames ({SECONDS:.0f} s at {FPS:g} fps)")
    print(f"rig: {rest.num_bones} bones, map {result.bone_map.chosen}, "
          f"{int(result.keyed.sum())} animated")
    print(f"retarget: median {median:.3f} s over {args.repeats} repeats "
          f"(min {min(times):.3f}, max {max(times):.3f}); goal < {GOAL} s: "
          f"{'met' if median < GOAL else 'MISSED'}")
    return 0 if median < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
