#!/usr/bin/env python3
"""Lifting accuracy and speed: held-out CMU clips filmed by virtual cameras, both methods.

    bash .ci/with-venv python bench/lifting.py [--cameras 4] [--weights LIFTER.json]

Each held-out clip (`dancerev_core.lifting.data.HELD_OUT`: 005_04, 005_15 and both partners
of salsa trials 03 and 12, never trained on) is scaled to the standard body and filmed by
`--cameras` random cameras seeded by its name; the BODY_25 2D motion goes through the full
`lift` (post-processing included) with the learned lifter and with the geometric fallback,
and MPJPE / PA-MPJPE (mm, 24 joints, in the camera's view frame) are printed per clip and
over all frames. Then the time to lift one minute at 30 fps. Goal: learned MPJPE < 60 mm.
Needs the shared data (`../shared/data`, or DANCEREV_SHARED_DATA).
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

from dancerev_core.lifting.data import HELD_OUT, load_clips  # noqa: E402
from dancerev_core.lifting.evaluate import (  # noqa: E402
    clip_cameras,
    clip_motion,
    evaluate,
    format_table,
)
from dancerev_core.lifting.network import load_lifter  # noqa: E402
from dancerev_core.lifting.pipeline import lift  # noqa: E402
from dancerev_core.lifting.projection import project_motion  # noqa: E402

SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", ROOT.parent / "shared" / "data"))
GOAL = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4, help="cameras per clip")
    parser.add_argument("--weights", help="lifter JSON (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=0, help="camera seed")
    args = parser.parse_args()
    data = SHARED / "mocap" / "cmu"
    if not data.is_dir():
        sys.exit(f"bench/lifting.py: shared data not found at {data}")
    lifter = load_lifter(args.weights)
    clips = load_clips(data, names=set(HELD_OUT))
    print(f"held-out clips: {', '.join(c.name for c in clips)}; {args.cameras} cameras each; "
          f"lifter {lifter.path}")
    results = evaluate(clips, {"learned": lambda m: lift(m, "learned", lifter).motion,
                               "geometric": lambda m: lift(m, "geometric").motion},
                       cameras=args.cameras, seed=args.seed)
    print(format_table(results))
    learned = results["learned"]["overall"]["mpjpe"]
    print(f"learned MPJPE {learned:.1f} mm (goal < {GOAL:.0f} mm: "
          f"{'met' if learned < GOAL else 'NOT met'})")

    clip = max(clips, key=lambda c: len(c.positions))
    motion = project_motion(clip_motion(clip), clip_cameras(clip, 1)[0])
    repeats = int(np.ceil(1800 / motion.num_frames))
    minute = motion.with_positions(np.concatenate([motion.positions] * repeats)[:1800])
    for method in ("learned", "geometric"):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            lift(minute, method, lifter)
            times.append(time.perf_counter() - start)
        print(f"{method}: one minute at 30 fps lifted in {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
