"""Dance Revolution's Seq2Seq model, its curriculum and its checkpoints.

`config` and `curriculum` need no torch and are imported here; the torch parts (`network`,
`checkpoint`) load on first use of their names, so `ModelConfig` can be read anywhere.
"""

from __future__ import annotations

from typing import Any

from .config import ModelConfig
from .curriculum import SCHEDULES, condition_mask, self_fed_length

_LAZY = {
    "Seq2Seq": "network",
    "default_device": "network",
    "local_attention": "network",
    "Checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
}

__all__ = ["SCHEDULES", "ModelConfig", "condition_mask", "self_fed_length", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
