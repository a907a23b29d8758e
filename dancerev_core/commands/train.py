"""`dancerev train DATASET -o OUT_DIR`: train the Seq2Seq model, resumably, on 1..N processes.

Under `torchrun --nproc_per_node N` the same command trains with DistributedDataParallel;
rank 0 alone prints and writes. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DanceRevError, InputFileError
from ..model.curriculum import SCHEDULES

if TYPE_CHECKING:
    from ..training.loop import OnEpoch, OnStep, TrainConfig, TrainResult

CONFIG_SECTIONS = ("model", "training")


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
                                         "precision, velocity_weight, snapshot_every)")
    parser.add_argument("--epochs", type=int, help="total epochs to reach (default 10000)")
    parser.add_argument("--batch-size", type=int, help="windows per step and process "
                                                       "(default 32)")
    parser.add_argument("--seq-len", type=int, help="frames per training window "
                                                    "(default 120; the paper used 900)")
    parser.add_argument("--schedule", choices=tuple(SCHEDULES),
                        help="curriculum schedule (default linear, lambda 0.01)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--val-fraction", type=float,
                        help="share of the clips kept for validation (default 0.1)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                        help="add left/right mirrored copies of the training clips")
    parser.add_argument("--image-size", metavar="WIDTHxHEIGHT",
                        help="video size of OpenPose keypoints in pixels, to normalise them")
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
    parser.add_argument("--snapshot-every", type=int, metavar="N",
                        help="also keep every N-th epoch's weights in OUT_DIR/snapshots "
                             "(float16, for `dancerev recipe choose`; default 0: none)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


UNTIMED = ("epochs", "snapshot_every")  # settings a resumed run may change and stay exact


def read_config_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model values, training values) from a `--config` JSON file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "config file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(path, f"not a readable JSON config ({error})") from None
    if not isinstance(document, dict):
        raise InputFileError(path, 'expected a JSON object {"model": {...}, "training": {...}}')
    unknown = sorted(set(document) - set(CONFIG_SECTIONS))
    if unknown:
        raise InputFileError(path, f"unknown section(s) {', '.join(unknown)} (known: "
                                   f"{', '.join(CONFIG_SECTIONS)})")
    sections = []
    for name in CONFIG_SECTIONS:
        values = document.get(name, {})
        if not isinstance(values, dict):
            raise InputFileError(path, f"{name!r} must be a JSON object")
        sections.append(dict(values))
    return sections[0], sections[1]


def parse_image_size(text: str | None) -> tuple[float, float] | None:
    """--image-size WIDTHxHEIGHT as numbers (None when not given), checked."""
    if text is None:
        return None
    try:
        width, height = (float(part) for part in text.lower().split("x"))
    except ValueError:
        raise DanceRevError(f"--image-size must be WIDTHxHEIGHT, e.g. 1280x720, not "
                            f"{text!r}") from None
    if width <= 0 or height <= 0:
        raise DanceRevError(f"--image-size must be positive, not {text!r}")
    return width, height


def run(args: argparse.Namespace) -> int:
    options = {"epochs": args.epochs, "batch_size": args.batch_size, "seq_len": args.seq_len,
               "lr": args.lr, "seed": args.seed, "val_fraction": args.val_fraction,
               "mirror": args.mirror, "precision": args.precision,
               "velocity_weight": args.velocity_weight, "snapshot_every": args.snapshot_every}
    train_run(args.dataset, args.output, data_format=args.format, config_file=args.config,
              schedule=args.schedule, resume=args.resume, device=args.device,
              image_size=args.image_size, options=options, progress=not args.quiet)
    return 0


def train_run(dataset: str | Path, output: str | Path, *, data_format: str = "auto",
              config_file: str | Path | None = None, schedule: str | None = None,
              resume: bool = False, device: str = "auto", image_size: str | None = None,
              options: dict[str, Any] | None = None, progress: bool = True,
              log: Callable[[str], None] = print,
              on_config: Callable[[TrainConfig], None] | None = None,
              on_step: OnStep | None = None, on_epoch: OnEpoch | None = None) -> TrainResult:
    """What `dancerev train` does, shared with the add-on's worker.

    `options` are TrainConfig fields given on top of the config file (None = not given);
    `log` receives the notes the command prints (rank 0 only); `on_config` the settings the run
    will use (epochs to reach, sizes) just before it starts; `on_step` and `on_epoch` are
    `training.train`'s hooks.
    """
    from dataclasses import replace

    from ..model import ModelConfig
    from ..training import DistEnv, TrainConfig, load_run, load_training_data, train

    dist = DistEnv.from_environ()
    say = log if dist.is_main else (lambda _message: None)
    options = {key: value for key, value in (options or {}).items() if value is not None}
    checkpoint = None
    if resume:
        checkpoint = load_run(output)
        if config_file or schedule:
            raise DanceRevError("--config and --schedule cannot change a run being resumed: "
                                "its model config is in its checkpoint")
        model_config = checkpoint.config
        stored = TrainConfig.from_dict(checkpoint.training["train_config"])
        config = TrainConfig.from_dict({**stored.to_dict(), **options})
        changed = [f"{key} {getattr(stored, key)} -> {value}" for key, value in options.items()
                   if key not in UNTIMED and getattr(stored, key) != value]
        say(f"resuming {output} after epoch {checkpoint.training['epoch']}"
            + (f" with changed settings ({', '.join(changed)}): not bit-for-bit the "
               "uninterrupted run" if changed else ""))
        joint_set = model_config.joint_set
    else:
        model_values, training_values = (read_config_file(config_file) if config_file
                                         else ({}, {}))
        if schedule:
            model_values["schedule"] = schedule
        model_config = ModelConfig.from_dict(model_values)
        joint_set = model_values.get("joint_set")
        config = TrainConfig.from_dict({**training_values, **options})
    data = load_training_data(dataset, fps=model_config.fps, seq_len=config.seq_len,
                              joint_set=joint_set, data_format=data_format,
                              val_fraction=config.val_fraction, seed=config.seed,
                              mirror=config.mirror, image_size=parse_image_size(image_size),
                              log=say)
    if joint_set is None:
        model_config = replace(model_config, joint_set=data.joint_set)
    summary = data.summary
    genres = ", ".join(f"{genre} {count}" for genre, count in summary["genres"].items())
    say(f"data: {summary['clips']} clips ({genres}), {summary['format']}, "
        f"{model_config.joint_set} at {model_config.fps:g} fps; windows of {config.seq_len} "
        f"frames: {summary['train']['windows']} training, {summary['val']['windows']} "
        f"validation ({summary['split']})")
    say(f"writing checkpoints (last.json, best.json) and history.jsonl to {output}")
    if on_config is not None:
        on_config(config)
    return train(data, model_config, config, output, device=device, resume=checkpoint,
                 progress=progress, log=say, on_step=on_step, on_epoch=on_epoch)
