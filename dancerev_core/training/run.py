"""A training run as a user starts it: a dataset folder, a config file, options, resume.

`train_run` reads the `--config` file and the data, reconciles a resumed run's stored
settings with the options given, and calls `loop.train`. torch loads only when it runs.
Before any work it refuses an output folder that cannot be written or whose files would
overwrite an input, and sizes beyond TRAINING_LIMITS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DanceRevError, InputFileError
from ..files import check_outputs
from ..motion import parse_image_size

if TYPE_CHECKING:
    from ..model import ModelConfig
    from .config import OnEpoch, OnStep, TrainConfig, TrainResult

CONFIG_SECTIONS = ("model", "training")
UNTIMED = ("epochs", "snapshot_every", "health_every")  # a resumed run may change these and
# stay exact: they decide what is kept and measured, not the weights
TRAINING_LIMITS = {"epochs": 1_000_000, "batch_size": 4096, "seq_len": 10_000,
                   "seed": 2**32 - 1, "snapshot_every": 1_000_000, "health_every": 1_000_000}
"""The largest value of each training size: beyond them a run only exhausts memory or time."""


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


def train_run(dataset: str | Path, output: str | Path, *, data_format: str = "auto",
              config_file: str | Path | None = None, schedule: str | None = None,
              resume: bool = False, device: str = "auto", image_size: str | None = None,
              options: dict[str, Any] | None = None, progress: bool = True,
              log: Callable[[str], None] = print,
              on_config: Callable[[TrainConfig], None] | None = None,
              on_step: OnStep | None = None, on_epoch: OnEpoch | None = None) -> TrainResult:
    """What `dancerev train` does, shared with the add-on's worker and the recipe.

    `options` are TrainConfig fields given on top of the config file (None = not given);
    `log` receives the notes the command prints (rank 0 only); `on_config` the settings the run
    will use (epochs to reach, sizes) just before it starts; `on_step` and `on_epoch` are
    `training.train`'s hooks.
    """
    from ..model import ModelConfig
    from .checkpointing import load_run
    from .config import BEST, HEALTH_PLOT, HISTORY, LAST, DistEnv, TrainConfig
    from .data import load_training_data
    from .loop import train

    out = Path(output)
    check_outputs([out / f"{LAST}.json", out / f"{BEST}.json", out / HISTORY, out / HEALTH_PLOT],
                  [dataset, config_file], folders=[out])
    dist = DistEnv.from_environ()
    say = log if dist.is_main else (lambda _message: None)
    options = {key: value for key, value in (options or {}).items() if value is not None}
    checkpoint = None
    if resume:
        checkpoint = load_run(output)
        model_config = checkpoint.config
        stored = TrainConfig.from_dict(checkpoint.training["train_config"])
        untimed = resumed_settings(checkpoint.config, stored, config_file, schedule)
        config = TrainConfig.from_dict({**stored.to_dict(), **untimed, **options})
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
    check_limits(config)
    data = load_training_data(dataset, fps=model_config.fps, seq_len=config.seq_len,
                              joint_set=joint_set, data_format=data_format,
                              val_fraction=config.val_fraction, seed=config.seed,
                              mirror=config.mirror, image_size=parse_image_size(image_size),
                              pose_encoding=model_config.pose_encoding, log=say)
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


def resumed_settings(model_config: ModelConfig, stored: TrainConfig,
                     config_file: str | Path | None, schedule: str | None) -> dict[str, Any]:
    """The UNTIMED training values of a `--config` given on --resume, after refusing any
    other change to the run's settings: the very config the run began with is welcome."""
    from ..model import ModelConfig
    from .config import TrainConfig

    model_values, training_values = (read_config_file(config_file) if config_file
                                     else ({}, {}))
    if schedule:
        model_values["schedule"] = schedule
    timed = {key: value for key, value in training_values.items() if key not in UNTIMED}
    changes = ([f"model {change}" for change in
                _changes(model_config.to_dict(), model_values, ModelConfig.from_dict)]
               + [f"training {change}" for change in
                  _changes(stored.to_dict(), timed, TrainConfig.from_dict)])
    if changes:
        raise DanceRevError(f"--config and --schedule cannot change a run being resumed "
                            f"({', '.join(changes)}): its settings are in its checkpoint; "
                            "start a new run to change them")
    return {key: value for key, value in training_values.items() if key in UNTIMED}


def _changes(stored: dict[str, Any], given: dict[str, Any],
             build: Callable[[dict[str, Any]], Any]) -> list[str]:
    """`KEY OLD -> NEW` for each given key whose value (as the config reads it) differs."""
    read = build({**stored, **given}).to_dict()  # refuses unknown keys, normalises types
    return [f"{key} {stored[key]!r} -> {read[key]!r}" for key in given
            if read[key] != stored[key]]


def check_limits(config: TrainConfig) -> None:
    """Refuse training sizes beyond TRAINING_LIMITS and infinite rates (config file and
    options alike)."""
    for name, high in TRAINING_LIMITS.items():
        value = getattr(config, name)
        if value > high:
            raise DanceRevError(f"training {name} must be at most {high}, got {value}")
    for name in ("lr", "velocity_weight", "speed_weight"):
        if not math.isfinite(getattr(config, name)):
            raise DanceRevError(f"training {name} must be finite, got {getattr(config, name)}")
