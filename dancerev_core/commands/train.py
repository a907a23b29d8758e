"""`dancerev train DATASET -o OUT_DIR`: train the Seq2Seq model, resumably, on 1..N processes.

Under `torchrun --nproc_per_node N` the same command trains with DistributedDataParallel;
rank 0 alone prints and writes. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse

from ..model.curriculum import SCHEDULES
from .options import check_image_size


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the dance model on a dataset (resumable; runs under torchrun)",
        description="Train the Seq2Seq model on a paired dataset folder (motions + songs) or "
                    "a folder of the paper's JSON clips. Writes OUT_DIR/last.json and "
                    "best.json (checkpoints) and OUT_DIR/history.jsonl (one line per epoch). "
                    "Defaults are the paper's released configuration, except 120-frame "
                    "windows; run under `torchrun --nproc_per_node N` for several processes.")
    parser.add_argument("dataset", help="dataset folder (or one paper JSON clip)")
    parser.add_argument("-o", "--output", required=True, help="folder for checkpoints and "
                                                              "the history")
    parser.add_argument("--format", choices=("auto", "paired", "paper"), default="auto",
                        help="dataset layout (default: auto, by what the folder holds)")
    parser.add_argument("--config", help='JSON file {"model": {...}, "training": {...}} with '
                                         "model sizes (ModelConfig fields; joint_set defaults "
                                         "to the data's) and training sizes (epochs, "
                                         "batch_size, seq_len, lr, seed, val_fraction, mirror, "
                                         "precision, velocity_weight, speed_weight, scale_poses, "
                                         "scale_music, "
                                         "snapshot_every, health_every, "
                                         "random_window_starts)")
    parser.add_argument("--epochs", type=int, help="total epochs to reach (default 10000, at "
                                                   "most 1000000)")
    parser.add_argument("--batch-size", type=int, help="windows per step and process "
                                                       "(default 32, at most 4096)")
    parser.add_argument("--seq-len", type=int, help="frames per training window (default "
                                                    "120, at most 10000; the paper used 900)")
    parser.add_argument("--schedule", choices=tuple(SCHEDULES),
                        help="curriculum schedule (default linear, lambda 0.01)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4)")
    parser.add_argument("--seed", type=int, help="random seed (default 0, at most 2^32-1)")
    parser.add_argument("--val-fraction", type=float,
                        help="share of the clips kept for validation (default 0.1)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                        help="add left/right mirrored copies of the training clips")
    parser.add_argument("--random-window-starts", action=argparse.BooleanOptionalAction,
                        default=None, help="cut the training windows at new starts every "
                                           "epoch (each moved by up to half a window; "
                                           "default: the paper's fixed windows)")
    parser.add_argument("--image-size", metavar="WIDTHxHEIGHT",
                        help="video size of OpenPose keypoints in pixels, to normalise them "
                             "(each side 1 to 16384)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in OUT_DIR exactly where it stopped")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CUDA (with mixed precision) when present")
    parser.add_argument("--precision", metavar="auto|fp32|bf16",
                        help="auto (default): bf16 autocast on CUDA and on CPUs with bf16 "
                             "instructions, fp32 elsewhere; fp32: never autocast (the "
                             "paper's setting); bf16: always")
    parser.add_argument("--velocity-weight", type=float,
                        help="weight of an L1 loss on frame-to-frame pose changes added to "
                             "the pose L1 (default 0: the paper's loss)")
    parser.add_argument("--speed-weight", type=float,
                        help="weight of an L1 loss on each joint's speed added to the pose L1 "
                             "(default 0)")
    parser.add_argument("--snapshot-every", type=int, metavar="N",
                        help="also keep every N-th epoch's weights in OUT_DIR/snapshots "
                             "(float16, for `dancerev recipe choose`; default 0: none)")
    parser.add_argument("--health-every", type=int, metavar="N",
                        help="every N-th epoch, dance a few validation songs free-running and "
                             "record how alive the dances are (history.jsonl, health.png; a "
                             "warning when they freeze; default 10, 0: never)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..training.run import train_run

    check_image_size(args.image_size)
    options = {"epochs": args.epochs, "batch_size": args.batch_size, "seq_len": args.seq_len,
               "lr": args.lr, "seed": args.seed, "val_fraction": args.val_fraction,
               "mirror": args.mirror, "precision": args.precision,
               "velocity_weight": args.velocity_weight, "speed_weight": args.speed_weight,
               "snapshot_every": args.snapshot_every,
               "health_every": args.health_every,
               "random_window_starts": args.random_window_starts}
    train_run(args.dataset, args.output, data_format=args.format, config_file=args.config,
              schedule=args.schedule, resume=args.resume, device=args.device,
              image_size=args.image_size, options=options, progress=not args.quiet)
    return 0
