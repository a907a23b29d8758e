#!/usr/bin/env python3
"""Foot skating of real and generated dances, before and after planting the feet.

    OMP_NUM_THREADS=1 bash .ci/with-venv python bench/skating.py [--model M.json]
        [--songs 4] [--seconds 30] [--seed 0] [--num 1]

Issue 18 item 6: generated dances' feet slide on the floor. The figure is
`evaluation.skating.foot_skating`: a foot joint (ankle or toe) within 5 cm of the floor (the
5th percentile of the foot joints' heights over the dance) moving horizontally between two
frames both in contact; the mean speed over all such steps, m/s, pooled over dances.

Rows:
  - real dances: every CMU dance clip in ../shared/data/mocap/cmu (subject 05, ballet; 60
    and 61, salsa lead and follow), each scaled to the recipe's leg length and cut to its
    clean segments as the training data is (recipe/pairing/cleaning.py), at the model's
    15 fps, so that they compare with the generated dances frame rate for frame rate;
  - the shipped default model's dances (`generation.pipeline.generate_dance`, beat sync on)
    for the first --songs songs of ../shared/data/music, --seconds each from the start,
    --seed (--num variations each), with plant_feet=False and plant_feet=True (which plants
    the feet before beat sync, so that beat sync times the planted dance), and, for
    comparison, the plant_feet=False dances planted afterwards (`feet.plant_feet` as the
    very last step, after beat sync).
Columns: the skating figure and its number of contact steps, the deepest sole below z = 0
(cm; `body_frame.soles`), and for the generated dances the pooled beat hit rate
(`evaluation.health.pooled_hit_rate`, beats.py's kinematic beats within 0.1 s of the song's
beats) and the seconds generation took (decoding and finishing; for the planted-last row,
planting alone). The goal: generated skating at most the real dances',
no sole more than 2 cm below the floor, the hit rate unchanged within 2 points.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", ROOT.parent / "shared" / "data"))
SUBJECTS = {"05": "ballet / modern (subject 5)", "60": "salsa lead (subject 60)",
            "61": "salsa follow (subject 61)"}
FPS = 15.0


def real_dances(subject: str) -> list[np.ndarray]:
    """The clean segments of a CMU subject's clips, normalised, at FPS (T x 24 x 3 each)."""
    from dancerev_core.errors import DanceRevError
    from dancerev_core.formats.reading import read_motion
    from dancerev_core.recipe.pairing.cleaning import clean_segments, normalise_body

    dances = []
    for path in sorted((SHARED / "mocap" / "cmu" / subject).glob("*.bvh")):
        try:
            motion = normalise_body(read_motion(path, joints="canonical"))
        except DanceRevError as error:  # one of the shared files is empty
            print(f"  skipped {path.name}: {error}", file=sys.stderr)
            continue
        dances += [motion.trimmed(start, stop).resample(FPS).positions.astype(np.float64)
                   for start, stop in clean_segments(motion)]
    return dances


def row(name: str, figure, hit: float | None = None, seconds: float | None = None) -> str:
    hit_text = f"{hit:6.1%}" if hit is not None else f"{'-':>6s}"
    time_text = f"{seconds:6.2f}" if seconds is not None else f"{'-':>6s}"
    return (f"{name:44s} {figure.mean_speed:7.3f} {figure.contact_steps:8d} "
            f"{100 * figure.deepest_sole:7.2f} {hit_text} {time_text}")


def main() -> int:
    from dancerev_core.evaluation.health import pooled_hit_rate
    from dancerev_core.evaluation.skating import pooled_skating
    from dancerev_core.generation.feet import plant_feet
    from dancerev_core.generation.pipeline import generate_dance
    from dancerev_core.model.checkpoint import load_checkpoint
    from dancerev_core.music.analysis import analyse_song
    from dancerev_core.recipe.shipped import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num", type=int, default=1, help="variations per song")
    args = parser.parse_args()
    songs = sorted((SHARED / "music").glob("*.ogg"))[:args.songs]
    if not songs or not (SHARED / "mocap" / "cmu").is_dir():
        print(f"shared data not found in {SHARED}", file=sys.stderr)
        return 2

    header = (f"{'dances':44s} {'m/s':>7s} {'steps':>8s} {'sole cm':>7s} {'hit':>6s} "
              f"{'sec':>6s}")
    lines = [header, "-" * len(header)]
    real = {subject: real_dances(subject) for subject in SUBJECTS}
    everything = [dance for dances in real.values() for dance in dances]
    real_all = pooled_skating(everything, FPS)
    lines.append(row(f"real CMU, all ({len(everything)} segments)", real_all))
    for subject, title in SUBJECTS.items():
        lines.append(row(f"  {title}", pooled_skating(real[subject], FPS)))
    lines.append(row("  salsa, 60 and 61 together", pooled_skating(real["60"] + real["61"],
                                                                    FPS)))

    checkpoint = load_checkpoint(args.model, expect_joint_set="canonical24", device="cpu")
    fps = checkpoint.config.fps
    musics = [analyse_song(song, fps=fps, use_cache=False) for song in songs]
    generate_dance(musics[0], checkpoint, seconds=2.0)  # warm-up: prepares the int8 weights
    figures, label = {}, f"{len(musics)} x {args.num} x {args.seconds:g} s"
    for plant in (False, True):
        dances, beats, seconds = [], [], 0.0
        for music in musics:
            start = time.perf_counter()
            made = generate_dance(music, checkpoint, seconds=args.seconds, seed=args.seed,
                                  num=args.num, plant_feet=plant)
            seconds += time.perf_counter() - start
            dances += [dance.positions.astype(np.float64) for dance in made]
            beats += [np.asarray(dance.meta["beat_times"]) for dance in made]
        figures[plant] = (pooled_skating(dances, fps), pooled_hit_rate(dances, beats, fps))
        lines.append(row(f"generated {label}, plant_feet={plant}", *figures[plant], seconds))
        if not plant:
            start = time.perf_counter()
            last = [plant_feet(dance, fps) for dance in dances]
            seconds = time.perf_counter() - start
            lines.append(row("  ... then planted last (after beat sync)",
                             pooled_skating(last, fps), pooled_hit_rate(last, beats, fps),
                             seconds))
    (before, hit_before), (after, hit_after) = figures[False], figures[True]
    print("\n".join(lines))
    print(f"\nmodel {Path(args.model).name}, seed {args.seed}, {args.num} variation(s) per song, "
          "beat sync on; songs: "
          + ", ".join(song.name.split(".")[0][:28] for song in songs))
    print("goals (after plant_feet):")
    print(f"  skating {after.mean_speed:.3f} m/s <= real {real_all.mean_speed:.3f} m/s: "
          f"{'yes' if after.mean_speed <= real_all.mean_speed else 'NO'} "
          f"(before: {before.mean_speed:.3f})")
    print(f"  deepest sole {100 * after.deepest_sole:.2f} cm <= 2 cm: "
          f"{'yes' if after.deepest_sole <= 0.02 else 'NO'}")
    change = 100 * (hit_after - hit_before)
    print(f"  beat hit rate {hit_after:.1%} vs {hit_before:.1%} ({change:+.1f} points), within 2: "
          f"{'yes' if abs(change) <= 2 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
