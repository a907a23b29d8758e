"""`dancerev lift-train DATA_DIR -o OUT_DIR`: train the 2D-to-3D lifter on 3D motion capture."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import check_outputs
from .options import EPOCHS, SEED, WORKERS, add_number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lift-train", help="train the 2D-to-3D lifter on BVH motion capture",
        description="Train the learned lifter on every BVH file under DATA_DIR that a joint "
                    "map in rigs/ covers (e.g. ../shared/data/mocap/cmu), filmed by random "
                    "virtual cameras; the held-out clips are judged at the end (MPJPE, "
                    "PA-MPJPE, beside the geometric fallback). Writes OUT_DIR/lifter.json "
                    "and its .safetensors weights; copy both to dancerev_core/pretrained/ "
                    "to ship them. CPU, a few minutes.")
    parser.add_argument("data", help="folder of BVH clips (searched recursively)")
    parser.add_argument("-o", "--output", required=True, help="folder for lifter.json")
    add_number(parser, "--epochs", bounds=EPOCHS, default=320,
               help="passes over the training frames (default 320)")
    add_number(parser, "--seed", bounds=SEED, default=0, help="random seed (default 0)")
    add_number(parser, "--threads", bounds=WORKERS, default=1,
               help="torch CPU threads (default 1)")
    parser.add_argument("--held-out", metavar="NAMES",
                        help="comma-separated clip names to keep out of training and judge "
                             "on (default: 005_04, 005_15, 60/61 trials 03 and 12)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..lifting.data import HELD_OUT
    from ..lifting.train import train_command

    check_outputs([Path(args.output) / "lifter.json"], [args.data], folders=[args.output])
    held_out = HELD_OUT if args.held_out is None else tuple(
        name.strip() for name in args.held_out.split(",") if name.strip())
    train_command(args.data, args.output, epochs=args.epochs, seed=args.seed,
                  threads=args.threads, held_out=held_out)
    return 0
