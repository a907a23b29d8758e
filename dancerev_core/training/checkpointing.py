"""A run's checkpoints: committing an epoch, the optimizer state, the best so far, resuming.

A checkpoint holds the weights, the Adam state (moments and step counts, as extra tensors),
the epoch (the curriculum position), the best-so-far record and the settings: nothing else
is needed to resume bit for bit, because randomness is reseeded every epoch (batches.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from ..errors import DanceRevError
from ..model.checkpoint import Checkpoint, checkpoint_json, load_checkpoint, save_checkpoint
from .config import BEST, LAST, SNAPSHOTS, DistEnv

OPTIMIZER_PREFIX = "optimizer/"


def load_run(out_dir: str | Path) -> Checkpoint:
    """The `last` checkpoint of a training run, to resume it (on CPU)."""
    path = checkpoint_json(Path(out_dir) / LAST)
    if not path.is_file():
        raise DanceRevError(f"{out_dir}: nothing to resume (no {path.name}); start a run there "
                            "without --resume")
    checkpoint = load_checkpoint(path, expect_features=None, device="cpu")
    for key in ("epoch", "train_config"):
        if key not in checkpoint.training:
            raise DanceRevError(f"{path}: not a training checkpoint (no {key!r} in its "
                                "training record); it cannot be resumed")
    return checkpoint


def agreed_digests(model: torch.nn.Module, dist: DistEnv, epoch: int) -> list[str] | None:
    """In DDP, every rank's weights digest after checking they agree; None when alone."""
    if dist.world_size == 1:
        return None
    import torch.distributed as torch_dist

    digests: list[str | None] = [None] * dist.world_size
    torch_dist.all_gather_object(digests, weights_digest(model))
    if len(set(digests)) > 1:
        raise DanceRevError(f"the ranks' weights differ after epoch {epoch}; the "
                            "distributed run is broken, stopping")
    return digests


def save_epoch(out_dir: Path, model: torch.nn.Module, record: dict[str, Any],
               tensors: dict[str, torch.Tensor], *, improved: bool, snapshot_every: int) -> None:
    """Commit an epoch: `best` when it improved, every N-th a snapshot, then `last`.

    `last` goes last, as the commit: a kill before it leaves `last` at the previous epoch, and
    resuming redoes this one, saving its `best` and snapshot again under the same names, which
    removes what the killed saves left (a snapshot saved after `last` would never be redone:
    lost, its temp files left for good). Snapshots are float16 weights without the optimizer
    state.
    """
    epoch = record["epoch"]
    if improved:
        save_checkpoint(out_dir / BEST, model, record, tensors)
    if snapshot_every and epoch and epoch % snapshot_every == 0:
        weights_only = {k: v for k, v in record.items() if k != "optimizer"}
        save_checkpoint(out_dir / SNAPSHOTS / f"e{epoch:04d}", model, weights_only,
                        weights_dtype=torch.float16)
    save_checkpoint(out_dir / LAST, model, record, tensors)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any],
                                                                  dict[str, torch.Tensor]]:
    """The optimizer's state as JSON (param groups) plus tensors (moments, step counts)."""
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{OPTIMIZER_PREFIX}{index}/{key}"] = torch.as_tensor(value)
    return {"param_groups": state["param_groups"]}, tensors


def restore_optimizer(optimizer: torch.optim.Optimizer, info: dict[str, Any],
                      tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        if name.startswith(OPTIMIZER_PREFIX):
            index, key = name[len(OPTIMIZER_PREFIX):].split("/", 1)
            state.setdefault(int(index), {})[key] = tensor
    groups = [{**group, "betas": tuple(group["betas"])} if "betas" in group else group
              for group in info["param_groups"]]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as error:
        raise DanceRevError(f"the checkpoint's optimizer state does not fit ({error})") from None


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the weights, to check that all ranks hold the same model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def is_better(loss: float, stage: int, best: dict[str, Any] | None) -> bool:
    """Furthest curriculum stage first, then the lower loss (see BEST in loop.py's docstring)."""
    if best is None or stage > best["self_fed_length"]:
        return True
    return stage == best["self_fed_length"] and loss < best["loss"]
