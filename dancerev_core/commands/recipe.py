"""`dancerev recipe STEP`: the reproducible recipe behind the default model.

Steps:
  data   build the paired (music, 3D dance) training set from CMU motion capture and
         permissively licensed songs plus synthesised music (`dancerev_core.pairing`)
A `train` step (training the default model on OUT_DIR/train with the curriculum) is to be
added here as another entry of STEPS; the data step's manifest is what it will quote.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..errors import DanceRevError

DEFAULT_SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", "../shared/data"))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recipe", help="the reproducible recipe of the default model (data, ...)",
        description="Steps of the recipe that builds the default model from data whose "
                    "licences allow shipping it.")
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    for add in STEPS.values():
        add(steps)


def _add_data(steps: argparse._SubParsersAction) -> None:
    parser = steps.add_parser(
        "data", help="build the paired training set (CMU mocap warped onto songs' beats)",
        description="Build a paired dataset folder: CMU dance motion capture cut into "
                    "routines, time-warped so that its kinematic beats land on the beats of "
                    "real songs (excerpts) and synthesised songs, mirrored and turned. "
                    "Writes OUT_DIR/train (train on this), OUT_DIR/test (held-out motions on "
                    "held-out songs) and OUT_DIR/manifest.json (sources, licences, seeds, "
                    "split, statistics). Deterministic for a seed.")
    parser.add_argument("out_dir", help="output folder (e.g. runs/default-data)")
    parser.add_argument("--mocap", default=str(DEFAULT_SHARED / "mocap" / "cmu"),
                        help="folder of CMU BVH files by subject (default: "
                             "$DANCEREV_SHARED_DATA/mocap/cmu, else ../shared/data/mocap/cmu)")
    parser.add_argument("--music", default=str(DEFAULT_SHARED / "music"),
                        help="folder of songs, each with a .txt attribution (default: "
                             "$DANCEREV_SHARED_DATA/music)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--passes", type=int,
                        help="routines each training segment appears in (default 6)")
    parser.add_argument("--quick", action="store_true",
                        help="a small subset: 3 clips per subject, one pass, short routines")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier recipe build in OUT_DIR")
    parser.set_defaults(run=run_data)


def run_data(args: argparse.Namespace) -> int:
    from ..pairing import RecipeConfig, build_dataset

    for label, folder in (("--mocap", args.mocap), ("--music", args.music)):
        if not Path(folder).is_dir():
            raise DanceRevError(f"{folder}: folder not found ({label})")
    config = RecipeConfig.quick(args.seed) if args.quick else RecipeConfig(seed=args.seed)
    if args.passes is not None:
        if args.passes < 1:
            raise DanceRevError(f"--passes must be at least 1, got {args.passes}")
        config = RecipeConfig(**{**config.__dict__, "passes": args.passes})
    began = time.monotonic()
    manifest = build_dataset(args.out_dir, args.mocap, args.music, config,
                             overwrite=args.force, log=print)
    for part in ("train", "test"):
        s = manifest["summary"][part]
        if not s.get("clips"):
            continue
        before, after = s["beats_before_warp"], s["beats_after_warp"]
        print(f"{part}: {s['clips']} clips, {s['minutes']:.1f} min, songs "
              f"{s['songs']['real']} real + {s['songs']['synth']} synthesised, tempo "
              f"{s['tempo_bpm_tracked'][0]:.0f}-{s['tempo_bpm_tracked'][1]:.0f} BPM, warp rate "
              f"{s['warp_rate']['min']:.2f}-{s['warp_rate']['max']:.2f}, beat hit rate "
              f"{before['hit_rate']:.3f} -> {after['hit_rate']:.3f} (tolerance "
              f"{manifest['measurement']['beat_tolerance_seconds']:g} s)")
    print(f"wrote {args.out_dir} in {time.monotonic() - began:.0f} s; train with: dancerev "
          f"train {Path(args.out_dir) / 'train'} -o OUT")
    return 0


STEPS = {"data": _add_data}
