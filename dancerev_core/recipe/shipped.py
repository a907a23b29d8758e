"""The shipped default model and its recipe: where they live, and a run made into them.

`dancerev recipe train` starts from the recipe's configuration (or from the shipped model),
`dancerev recipe export` writes a run's checkpoint over the shipped one as float16.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import DanceRevError
from ..files import load_json

DEFAULT_SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", "../shared/data"))
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"
RECIPE_CONFIG = PRETRAINED / "dance-default.recipe.json"
DEFAULT_MODEL = PRETRAINED / "dance-default"


def recipe_snapshot_every() -> int:
    """The recipe config's `snapshot_every` (0 if it has none)."""
    training = load_json(RECIPE_CONFIG).get("training", {})
    return int(training.get("snapshot_every", 0))


def seed_run_from_shipped(run: Path) -> None:
    """Start a run folder from the shipped model, so `train --resume` continues it.

    The export keeps the weights and the training record (epoch, curriculum, settings) but
    not Adam's moments, which would double the file: Adam starts afresh, the only
    difference from continuing the original run (its randomness is reseeded every epoch).
    """
    from ..model.checkpoint import load_checkpoint, save_checkpoint
    from ..training.config import LAST

    if (run / f"{LAST}.json").exists():
        raise DanceRevError(f"{run} already holds a run: continue it with --resume")
    shipped = load_checkpoint(DEFAULT_MODEL, expect_joint_set="canonical24")
    save_checkpoint(run / LAST, shipped.model, shipped.training)
    print(f"continuing the shipped model from epoch {shipped.training.get('epoch')} in {run}")


def export_checkpoint(run_dir: Path, checkpoint: str, output: str | Path,
                      data_dir: str | Path | None = None) -> tuple[Path, dict[str, Any], int]:
    """Write RUN/CHECKPOINT's weights (float16, no optimizer state) to `output`.

    The training record keeps everything but the optimizer, plus where it came from and,
    with `data_dir`, the recipe data's summary. Returns (JSON path, record, bytes on disk).
    """
    import torch

    from ..model.checkpoint import load_checkpoint, save_checkpoint
    from .evaluate import read_manifest

    source = load_checkpoint(run_dir / checkpoint, expect_joint_set="canonical24")
    record = {key: value for key, value in source.training.items()
              if not key.startswith("optimizer")}
    record["exported_from"] = f"{run_dir.name}/{checkpoint}"
    if data_dir:
        manifest = read_manifest(data_dir)
        record["recipe_data"] = {"summary": manifest.get("summary"),
                                 "config": manifest.get("config")}
    # float16 halves the file (and the extension); the weights load back as float32
    path = save_checkpoint(output, source.model, training=record,  # drops older weights
                           weights_dtype=torch.float16)
    weights = json.loads(path.read_text(encoding="utf-8"))["weights"]
    size = path.stat().st_size + (path.parent / weights).stat().st_size
    return path, record, size
