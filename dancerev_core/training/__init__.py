"""Training the Seq2Seq model: datasets to aligned windows (`data`), the loop (`loop`).

`data` and `config` need no torch and are imported here; the loop's names (`train`,
`load_run`) load torch on first use, as in `model`. `run.train_run` is what `dancerev train`
runs (config file, resume); from Python:

    data = load_training_data("dataset/", joint_set=None, seq_len=120)
    train(data, ModelConfig(joint_set=data.joint_set), TrainConfig(epochs=100), "runs/a")
"""

from __future__ import annotations

from typing import Any

from .config import DistEnv, TrainConfig, TrainResult
from .data import (
    DEFAULT_SEQ_LEN,
    DEFAULT_VAL_FRACTION,
    AlignedClip,
    TrainingData,
    Windows,
    load_training_data,
)

_LAZY = {"train": "loop", "load_run": "checkpointing"}

__all__ = ["DEFAULT_SEQ_LEN", "DEFAULT_VAL_FRACTION", "AlignedClip", "DistEnv", "TrainConfig",
           "TrainResult", "TrainingData", "Windows", "load_training_data", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
