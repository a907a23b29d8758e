#!/usr/bin/env python3
"""How far a delivered dance turns in its first half second, against the rest of it.

    bash .ci/with-venv python bench/opening_turn.py [--model M.json] [--seeds 4] [--seconds 20]

Issue 15 found every delivered dance opening with a quick turn (on a custom character the
body spun about half a turn in 0.5 s before it settled): the decoder starts from a fixed
"beginning of pose" frame. Per song of `../shared/data/music` and seed, this generates a
dance as `dancerev generate` delivers it (finishing steps, beat sync on) and measures the
body's turn (facing angle, `body_frame.facing`, unwrapped) over its first 0.5 s, against
the same over every later 0.5-s window (the median: how much the dance turns anyway). It
prints the medians over all dances and each song's figures; `--no-preroll` generates as
before the pre-roll (`generation.pipeline.PREROLL_SECONDS`) for the comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED_MUSIC = ROOT.parent / "shared" / "data" / "music"
HALF_SECOND = 0.5


def turn_degrees(positions: np.ndarray, fps: float) -> tuple[float, float]:
    """(turn over the first 0.5 s, median turn over the later 0.5-s windows), in degrees."""
    from dancerev_core.body_frame import facing

    yaw = np.degrees(np.unwrap(facing(positions)))
    span = max(1, round(HALF_SECOND * fps))
    windows = [np.ptp(yaw[i:i + span + 1]) for i in range(span, len(yaw) - span, span)]
    return float(np.ptp(yaw[:span + 1])), float(np.median(windows))


def main() -> int:
    from dancerev_core.generation import pipeline
    from dancerev_core.generation.song import dances_for_song
    from dancerev_core.recipe.shipped import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-preroll", action="store_true")
    args = parser.parse_args()
    if args.no_preroll:
        pipeline.PREROLL_SECONDS = 0.0
    songs = sorted(SHARED_MUSIC.glob("*.ogg"))
    if not songs:
        print(f"no songs in {SHARED_MUSIC}", file=sys.stderr)
        return 2
    openings, laters = [], []
    for song in songs:
        dances = dances_for_song(song, args.model, seconds=args.seconds, num=args.seeds)
        figures = [turn_degrees(dance.positions, dance.fps) for dance in dances]
        openings += [first for first, _ in figures]
        laters += [later for _, later in figures]
        print(f"{song.name[:50]:50s} first 0.5 s: "
              + " ".join(f"{first:5.0f}" for first, _ in figures) + "  later (median): "
              + " ".join(f"{later:5.0f}" for _, later in figures))
    print(f"pre-roll {pipeline.PREROLL_SECONDS:g} s, {len(openings)} dances: turn in the first "
          f"0.5 s median {np.median(openings):.0f} deg (max {np.max(openings):.0f}); any later "
          f"0.5 s median {np.median(laters):.0f} deg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
