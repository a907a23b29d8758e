"""A training run's settings and names: TrainConfig, where a process sits in DDP, the files.

Plain dataclasses (no torch), so the command line, the worker and the checkpoint format can
read them without the loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import DanceRevError
from ..model.config import dataclass_from_dict
from .data import DEFAULT_SEQ_LEN, DEFAULT_VAL_FRACTION

LAST, BEST, HISTORY, TENSORBOARD = "last", "best", "history.jsonl", "tensorboard"
HEALTH_PLOT = "health.png"
SNAPSHOTS = "snapshots"  # folder of every N-th epoch's weights (TrainConfig.snapshot_every)
PRECISIONS = ("auto", "fp32", "bf16")
Log = Callable[[str], None]
OnStep = Callable[[int, int, int, float], None]
OnEpoch = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Training sizes; defaults are the paper's (Adam lr 1e-4, batch 32) except `seq_len`.

    `epochs` is the total to reach (the released checkpoint is epoch 5,500 of 10,000);
    `seq_len` defaults to 120 frames rather than the released 900 (see data.py).

    `precision`: "auto" (default) is bf16 autocast on CUDA (fp16 where the GPU has no bf16)
    and on CPUs with bf16 instructions (AVX512_BF16 or AMX), fp32 on other CPUs; "fp32"
    never uses autocast (the paper's setting); "bf16" always does. On this project's CPUs
    bf16 trains 2.1-2.8x as fast as the per-frame fp32 loop, against 1.1-1.3x for fp32, and
    learns the same (bench/training.py). The weights, Adam state, LSTM cell states and output
    layer stay fp32; both precisions are deterministic and resume bit for bit.

    `velocity_weight` (default 0, the paper's loss) adds an L1 loss on frame-to-frame pose
    changes (see `training_loss`); the validation loss stays the pose L1 alone.

    `scale_poses` (default true) scales every decoder channel by the training windows' mean
    and spread (model/pose_encoding.py), stored in the model config; false is the paper's
    unscaled L1 in metres. `scale_music` (default true) does the same for the encoder's
    input features (see model/network.py's Encoder); false feeds them as extracted.

    `random_window_starts` (default false, the paper's fixed windows) cuts the training
    windows at new starts every epoch, each moved by up to half a window
    (training/window_starts.py); validation keeps the fixed windows.

    `health_every` N > 0: every N-th epoch the model also dances a few
    validation songs free-running (training/health_check.py): figures in `history.jsonl`
    and `health.png`, and a warning line when the dances freeze. 0 turns it off.

    `snapshot_every` N > 0 also keeps the weights of every N-th epoch as
    `snapshots/eNNNN.json` (float16, no optimizer state: 1/4 of `last`), for choosing which
    checkpoint to ship by how it dances (`dancerev recipe choose`) rather than by loss.
    """

    epochs: int = 10_000
    batch_size: int = 32
    seq_len: int = DEFAULT_SEQ_LEN
    lr: float = 1e-4
    seed: int = 0
    val_fraction: float = DEFAULT_VAL_FRACTION
    mirror: bool = False
    precision: str = "auto"
    velocity_weight: float = 0.0
    speed_weight: float = 0.0
    snapshot_every: int = 0
    scale_poses: bool = True
    scale_music: bool = True
    health_every: int = 10
    random_window_starts: bool = False

    def __post_init__(self) -> None:
        for name, low in (("epochs", 0), ("batch_size", 1), ("seq_len", 1), ("seed", 0),
                          ("snapshot_every", 0), ("health_every", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DanceRevError(f"training {name} must be a whole number >= {low}, "
                                    f"got {value!r}")
        if (isinstance(self.lr, bool) or not isinstance(self.lr, int | float)
                or not math.isfinite(self.lr) or self.lr <= 0):
            raise DanceRevError(f"training lr must be a positive number, got {self.lr!r}")
        if (isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, int | float)
                or not 0 <= self.val_fraction < 1):
            raise DanceRevError(f"training val_fraction must be in [0, 1), "
                                f"got {self.val_fraction!r}")
        for name in ("mirror", "scale_poses", "scale_music", "random_window_starts"):
            if not isinstance(getattr(self, name), bool):
                raise DanceRevError(f"training {name} must be true or false, "
                                    f"got {getattr(self, name)!r}")
        if self.precision not in PRECISIONS:
            raise DanceRevError(f"training precision must be one of {', '.join(PRECISIONS)}, "
                                f"got {self.precision!r}")
        for name in ("velocity_weight", "speed_weight"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value < 0):
                raise DanceRevError(f"training {name} must be a number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "val_fraction", float(self.val_fraction))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from (a subset of) its fields; missing ones take the defaults."""
        return dataclass_from_dict(cls, values, "training config")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environ(cls) -> DistEnv:
        if "WORLD_SIZE" not in os.environ:
            return cls()
        try:
            env = cls(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")),
                      int(os.environ["WORLD_SIZE"]))
        except ValueError:
            raise DanceRevError("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers "
                                "(set by torchrun)") from None
        if env.world_size < 1 or not 0 <= env.rank < env.world_size:
            raise DanceRevError(f"rank {env.rank} does not fit world size {env.world_size}")
        return env


@dataclass(frozen=True)
class TrainResult:
    epoch: int
    last: Path
    best: Path | None
    history: Path
    train_loss: float | None
    val_loss: float | None
