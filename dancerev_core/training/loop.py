"""The training loop: L1 loss, Adam, the curriculum, checkpoints, exact resume and DDP.

One function, `train`, read top to bottom like nanoGPT's train.py. What it writes in the
output folder (rank 0 only):
- `last.json` (+ its .safetensors): the state after the latest finished epoch, written
  atomically (checkpoint.py), first at epoch 0 (the initialised model) so a kill at any
  moment leaves a loadable checkpoint and `--epochs 0` is just "write the initial model";
- `best.json`: see BEST below;
- `history.jsonl`: one JSON line per epoch (epoch, train_loss, val_loss, self_fed_length,
  frames_per_second, seconds), appended after `last` is committed; on resume, lines after
  the checkpoint's epoch (a kill between the two writes) are dropped;
- `tensorboard/`: the same scalars, when the tensorboard package is installed.

Epochs are counted from 1, as the curriculum module expects: epoch t trains with
`condition_mask(schedule, t, seq_len)`; a checkpoint's `epoch` is the number of finished
epochs, and `TrainConfig.epochs` is the total to reach, so a resumed run continues at
epoch + 1 up to the same total. Validation uses the same mask as the epoch's training.

BEST: losses under different self-fed lengths are not comparable (the curriculum makes the
task harder as it goes), so `best` is the lowest validation loss among the epochs at the
furthest curriculum stage reached so far (the training loss when there is no validation).

Exact resume and determinism: every source of randomness is reseeded at the start of every
epoch from (seed, epoch, rank) -- the torch generator (dropout), python `random` and numpy
(unused by the loop, seeded for extensions), and a dedicated generator for the decoder's
random initial states -- and the window order from (seed, epoch), the way DistributedSampler
does it. So the random streams at epoch t do not depend on how the run got there, and a
checkpoint needs to hold only the weights, the Adam state (moments and step counts, as extra
tensors), the epoch (the curriculum position), the best-so-far record and the settings.
Training 4 epochs straight or 2 + resume + 2 gives identical weights on CPU, with
`torch.use_deterministic_algorithms` on (warn-only on CUDA, where some kernels have no
deterministic version).

Distributed: under `torchrun` (RANK / WORLD_SIZE / LOCAL_RANK set) every rank runs this same
function: gloo on CPU, nccl on CUDA (one GPU per LOCAL_RANK), DistributedDataParallel, each
rank taking every world_size-th window of the shared shuffle (padded by wrapping so all ranks
take the same number of equal batches). `batch_size` is per rank. Training and validation
losses are reduced across ranks; at every checkpoint the ranks compare weight digests and
stop if they ever differ. Only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DanceRevError
from ..model import ModelConfig, condition_mask, self_fed_length
from ..model.checkpoint import Checkpoint, checkpoint_json, load_checkpoint, save_checkpoint
from ..model.config import dataclass_from_dict
from ..model.network import Seq2Seq
from .data import DEFAULT_SEQ_LEN, DEFAULT_VAL_FRACTION, TrainingData, Windows

LAST, BEST, HISTORY, TENSORBOARD = "last", "best", "history.jsonl", "tensorboard"
SNAPSHOTS = "snapshots"  # folder of every N-th epoch's weights (TrainConfig.snapshot_every)
OPTIMIZER_PREFIX = "optimizer/"
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
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        for name, low in (("epochs", 0), ("batch_size", 1), ("seq_len", 1), ("seed", 0),
                          ("snapshot_every", 0)):
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
        if not isinstance(self.mirror, bool):
            raise DanceRevError(f"training mirror must be true or false, got {self.mirror!r}")
        if self.precision not in PRECISIONS:
            raise DanceRevError(f"training precision must be one of {', '.join(PRECISIONS)}, "
                                f"got {self.precision!r}")
        if (isinstance(self.velocity_weight, bool)
                or not isinstance(self.velocity_weight, int | float)
                or not math.isfinite(self.velocity_weight) or self.velocity_weight < 0):
            raise DanceRevError(f"training velocity_weight must be a number >= 0, "
                                f"got {self.velocity_weight!r}")
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "velocity_weight", float(self.velocity_weight))
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


# ---------------------------------------------------------------------- randomness and order
def epoch_seeds(seed: int, epoch: int, rank: int = 0) -> tuple[int, int]:
    """(torch/random/numpy seed, decoder-noise seed) of one rank in one epoch."""
    a, b = np.random.SeedSequence([seed, epoch, rank]).generate_state(2)
    return int(a), int(b)


def epoch_batches(count: int, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world_size: int = 1) -> list[torch.Tensor]:
    """This rank's batches of window indices for one epoch.

    One shuffle shared by all ranks (seeded by seed and epoch), padded by wrapping to a
    multiple of the world size, dealt round-robin; the last batch may be smaller.
    """
    generator = torch.Generator().manual_seed(
        int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    order = torch.randperm(count, generator=generator)
    if world_size > 1:
        total = math.ceil(count / world_size) * world_size
        order = order.repeat(math.ceil(total / count))[:total][rank::world_size]
    return list(order.split(batch_size))


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the weights, to check that all ranks hold the same model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------- resume support
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


def _trim_history(path: Path, epoch: int) -> None:
    """Keep the history lines of epochs 1..epoch (a kill may have left more, or half a line)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("epoch", math.inf) <= epoch:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


# ---------------------------------------------------------------------- setup helpers
def pick_device(name: str, dist: DistEnv) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DanceRevError("--device cuda: no CUDA device is available")
        return torch.device("cuda", dist.local_rank % torch.cuda.device_count())
    if name == "cpu":
        return torch.device("cpu")
    raise DanceRevError(f"unknown device {name!r} (auto, cpu or cuda)")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (Linux flags; False where unknown).

    Without AVX512_BF16 or AMX, bf16 autocast on a CPU is emulated and slower than fp32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a training precision (TrainConfig.precision); None = plain fp32."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


def _check_data(data: TrainingData, model_config: ModelConfig, config: TrainConfig) -> None:
    if data.joint_set != model_config.joint_set:
        raise DanceRevError(f"the data is {data.joint_set} but the model makes "
                            f"{model_config.joint_set}")
    if len(data.train) == 0:
        raise DanceRevError("no training window (every window went to validation)")
    for part, windows in (("training", data.train), ("validation", data.val)):
        if len(windows) == 0:
            continue
        _, length, features = windows.features.shape
        if (length, features, windows.poses.shape[2]) != (
                config.seq_len, model_config.num_features, model_config.pose_size):
            raise DanceRevError(f"{part} windows are {length} frames x {features} features x "
                                f"{windows.poses.shape[2]} pose values; the settings say "
                                f"{config.seq_len} x {model_config.num_features} x "
                                f"{model_config.pose_size}")
        if not (np.isfinite(windows.features).all() and np.isfinite(windows.poses).all()):
            raise DanceRevError(f"the {part} data holds NaN or infinite values")


def _tensorboard(out_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / TENSORBOARD))


def _is_better(loss: float, stage: int, best: dict[str, Any] | None) -> bool:
    """Furthest curriculum stage first, then the lower loss (see BEST in the docstring)."""
    if best is None or stage > best["self_fed_length"]:
        return True
    return stage == best["self_fed_length"] and loss < best["loss"]


# ---------------------------------------------------------------------- the loop
def train(data: TrainingData, model_config: ModelConfig, config: TrainConfig,
          out_dir: str | Path, *, device: str = "auto", resume: Checkpoint | None = None,
          progress: bool = True, log: Log | None = print, on_step: OnStep | None = None,
          on_epoch: OnEpoch | None = None) -> TrainResult:
    """Train (or, with `resume` = `load_run(out_dir)`, continue) a model; see the docstring.

    `data` must have been read with `config`'s seq_len. A fresh run refuses an output folder
    that already holds one (`last.json`).

    Hooks for a caller that shows progress elsewhere (the add-on's worker), called on every
    rank: `on_step(epoch, step, steps_per_epoch, loss)` after each optimizer step, and
    `on_epoch(entry)` with the epoch's history entry once its checkpoint is committed. An
    exception raised in either stops training; the last committed checkpoint stays.
    """
    dist = DistEnv.from_environ()
    say = log if (log is not None and dist.is_main) else (lambda _message: None)
    out_dir = Path(out_dir)
    if resume is None and checkpoint_json(out_dir / LAST).exists():
        raise DanceRevError(f"{out_dir} already holds a training run ({LAST}.json); continue "
                            "it with --resume or choose another output folder")
    _check_data(data, model_config, config)
    torch_device = pick_device(device, dist)
    was_deterministic = (torch.are_deterministic_algorithms_enabled(),
                         torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=torch_device.type == "cuda")
    try:
        if dist.world_size == 1:
            return _train(data, model_config, config, out_dir, torch_device, resume, progress,
                          say, dist, on_step, on_epoch)
        import torch.distributed as torch_dist
        if torch_device.type == "cuda":
            torch.cuda.set_device(torch_device)
        torch_dist.init_process_group("nccl" if torch_device.type == "cuda" else "gloo")
        try:
            return _train(data, model_config, config, out_dir, torch_device, resume, progress,
                          say, dist, on_step, on_epoch)
        finally:
            torch_dist.destroy_process_group()
    finally:
        torch.use_deterministic_algorithms(was_deterministic[0],
                                           warn_only=was_deterministic[1])


def _train(data: TrainingData, model_config: ModelConfig, config: TrainConfig, out_dir: Path,
           device: torch.device, resume: Checkpoint | None, progress: bool, say: Log,
           dist: DistEnv, on_step: OnStep | None = None,
           on_epoch: OnEpoch | None = None) -> TrainResult:
    from tqdm import tqdm

    distributed = dist.world_size > 1
    if distributed:
        import torch.distributed as torch_dist
        from torch.nn.parallel import DistributedDataParallel

    # model, optimizer, mixed precision; then the resumed state on top
    torch.manual_seed(config.seed)
    model = Seq2Seq(model_config)
    optimizer_state = None
    start_epoch, best = 0, None
    if resume is not None:
        model.load_state_dict(resume.model.state_dict())
        start_epoch, best = int(resume.training["epoch"]), resume.training.get("best")
        optimizer_state = resume.training.get("optimizer")
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if optimizer_state is not None:
        restore_optimizer(optimizer, optimizer_state, resume.extra)
        for group in optimizer.param_groups:
            group["lr"] = config.lr
    amp_dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    if resume is not None and resume.training.get("grad_scaler") and scaler.is_enabled():
        scaler.load_state_dict(resume.training["grad_scaler"])
    net = model
    if distributed:
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                      else None)

    train_x, train_y = (torch.from_numpy(a) for a in (data.train.features, data.train.poses))
    history_path = out_dir / HISTORY
    writer = None
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if resume is None:
            history_path.write_text("", encoding="utf-8")
        else:
            _trim_history(history_path, start_epoch)
        writer = _tensorboard(out_dir)

    def save(epoch: int, stage: int, improved: bool) -> None:
        """Checkpoint `last` (and `best`); in DDP, first check that all ranks agree."""
        digests = None
        if distributed:
            digests = [None] * dist.world_size
            torch_dist.all_gather_object(digests, weights_digest(model))
            if len(set(digests)) > 1:
                raise DanceRevError(f"the ranks' weights differ after epoch {epoch}; the "
                                    "distributed run is broken, stopping")
        if not dist.is_main:
            return
        param_groups, tensors = optimizer_tensors(optimizer)
        record = {
            "epoch": epoch, "self_fed_length": stage, "schedule": model_config.schedule,
            "train_config": config.to_dict(), "data": data.summary, "best": best,
            "optimizer": param_groups, "world_size": dist.world_size,
            "device": device.type, "mixed_precision": str(amp_dtype) if amp_dtype else None,
            "randomness": "reseeded every epoch from (seed, epoch, rank); nothing to store",
        }
        if scaler.is_enabled():
            record["grad_scaler"] = scaler.state_dict()
        if digests:
            record["rank_weights_sha256"] = digests
        if improved:
            save_checkpoint(out_dir / BEST, model, record, tensors)
        save_checkpoint(out_dir / LAST, model, record, tensors)
        if config.snapshot_every and epoch and epoch % config.snapshot_every == 0:
            weights_only = {k: v for k, v in record.items() if k != "optimizer"}
            save_checkpoint(out_dir / SNAPSHOTS / f"e{epoch:04d}", model, weights_only,
                            weights_dtype=torch.float16)

    if resume is None:
        save(0, self_fed_length(model_config.schedule, 0, model_config.lam,
                                model_config.condition_step), improved=False)

    steps = len(epoch_batches(len(data.train), config.batch_size, config.seed, 1, dist.rank,
                              dist.world_size))
    bar = tqdm(total=max(0, config.epochs - start_epoch) * steps, unit="step",
               disable=not (progress and dist.is_main), dynamic_ncols=True)
    train_loss = val_loss = None
    for epoch in range(start_epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        torch_seed, noise_seed = epoch_seeds(config.seed, epoch, dist.rank)
        torch.manual_seed(torch_seed)
        random.seed(torch_seed)
        np.random.seed(torch_seed)
        noise = torch.Generator().manual_seed(noise_seed)
        stage = self_fed_length(model_config.schedule, epoch, model_config.lam,
                                model_config.condition_step)
        mask = torch.from_numpy(condition_mask(model_config.schedule, epoch, config.seq_len,
                                               model_config.condition_step, model_config.lam))
        bar.set_description(f"epoch {epoch}/{config.epochs}")
        totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss x windows, windows
        frames = 0
        batches = epoch_batches(len(data.train), config.batch_size, config.seed, epoch,
                                dist.rank, dist.world_size)
        for step, batch in enumerate(batches, start=1):
            features = train_x[batch].to(device, non_blocking=True)
            poses = train_y[batch].to(device, non_blocking=True)
            loss = training_loss(net, features, poses, mask, noise, amp_dtype,
                                 config.velocity_weight)
            shared = loss.detach().reshape(1).double()
            if distributed:
                torch_dist.all_reduce(shared)  # every rank sees a NaN anywhere, at once
                shared /= dist.world_size
            value = shared.item()
            if not math.isfinite(value):
                raise DanceRevError(
                    f"the loss became {value} at epoch {epoch}, step {step} of {len(batches)}: "
                    f"training diverged (lr {config.lr:g}; try a lower --lr); the last good "
                    f"checkpoint is {checkpoint_json(out_dir / LAST)} (epoch {epoch - 1})")
            optimizer_step(loss, optimizer, scaler)
            totals += torch.tensor([value * len(batch), len(batch)], dtype=torch.float64,
                                   device=device)
            frames += len(batch) * config.seq_len * dist.world_size
            bar.update()
            bar.set_postfix(loss=f"{value:.4f}", p=stage,
                            fps=f"{frames / (time.perf_counter() - started):.0f}", refresh=False)
            if on_step is not None:
                on_step(epoch, step, len(batches), value)
        seconds_training = time.perf_counter() - started
        if distributed:
            torch_dist.all_reduce(totals)
        train_loss = (totals[0] / totals[1]).item()
        val_loss = validation_loss(model, data.val, mask, config.batch_size, device,
                                   config.seed, dist, amp_dtype)
        metric = val_loss if val_loss is not None else train_loss
        improved = _is_better(metric, stage, best)
        if improved:
            best = {"epoch": epoch, "loss": metric, "self_fed_length": stage,
                    "metric": "val_loss" if val_loss is not None else "train_loss"}
        save(epoch, stage, improved)
        entry = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                 "self_fed_length": stage,
                 "frames_per_second": round(frames / seconds_training, 1),
                 "seconds": round(time.perf_counter() - started, 3)}
        if dist.is_main:
            with open(history_path, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(entry) + "\n")
            if writer is not None:
                for key in ("train_loss", "val_loss", "self_fed_length", "frames_per_second"):
                    if entry[key] is not None:
                        writer.add_scalar(key, entry[key], epoch)
                writer.flush()
        if on_epoch is not None:
            on_epoch(dict(entry))
        bar.set_postfix(loss=f"{train_loss:.4f}", val="-" if val_loss is None
                        else f"{val_loss:.4f}", p=stage)
    bar.close()
    if writer is not None:
        writer.close()
    last = checkpoint_json(out_dir / LAST)
    best_path = checkpoint_json(out_dir / BEST)
    final_epoch = max(start_epoch, config.epochs)
    say(f"checkpoints: {last} (epoch {final_epoch})"
        + (f", {best_path} (epoch {best['epoch']})" if best else "")
        + f"; history: {history_path}")
    return TrainResult(epoch=final_epoch, last=last, best=best_path if best else None,
                       history=history_path, train_loss=train_loss, val_loss=val_loss)


def training_loss(net: torch.nn.Module, features: torch.Tensor, poses: torch.Tensor,
                  mask: torch.Tensor, noise: torch.Generator,
                  amp_dtype: torch.dtype | None, velocity_weight: float = 0.0) -> torch.Tensor:
    """One batch's loss, the forward half of a training step (bench/training.py times it).

    The paper's L1 on poses, plus `velocity_weight` x L1 on frame-to-frame pose changes: a
    pose loss alone lets the model hedge towards slow, averaged motion; the velocity term
    asks it to move when and as fast as the dancer did, accents (speed minima) included.
    """
    with torch.autocast(features.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        predicted = net(features, poses, mask, generator=noise).float()
    loss = F.l1_loss(predicted, poses)
    if velocity_weight:
        loss = loss + velocity_weight * F.l1_loss(predicted.diff(dim=1), poses.diff(dim=1))
    return loss


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler) -> None:
    """The backward half of a training step: gradients (scaled for fp16) and an Adam step."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


@torch.no_grad()
def validation_loss(model: Seq2Seq, windows: Windows, mask: torch.Tensor, batch_size: int,
                    device: torch.device, seed: int, dist: DistEnv,
                    amp_dtype: torch.dtype | None = None) -> float | None:
    """Mean L1 over the validation windows (shared out over the ranks), in eval mode.

    The decoder's random initial states come from a generator seeded the same way every
    epoch, so the numbers of different epochs are comparable. None without validation data.
    """
    if len(windows) == 0:
        return None
    model.eval()
    noise = torch.Generator().manual_seed(epoch_seeds(seed, 0, dist.rank)[1])
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # |error| sum, values
    for batch in torch.arange(len(windows))[dist.rank::dist.world_size].split(batch_size):
        features = torch.from_numpy(windows.features[batch.numpy()]).to(device)
        poses = torch.from_numpy(windows.poses[batch.numpy()]).to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            predicted = model(features, poses, mask, generator=noise)
        totals[0] += (predicted.float() - poses).abs().sum(dtype=torch.float64)
        totals[1] += poses.numel()
    if dist.world_size > 1:
        import torch.distributed as torch_dist
        torch_dist.all_reduce(totals)
    model.train()
    return (totals[0] / totals[1]).item()
