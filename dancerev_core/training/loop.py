"""The training loop: L1 loss, Adam, the curriculum, checkpoints, exact resume and DDP.

One function, `train`, read top to bottom like nanoGPT's train.py; beside it: `config`
(TrainConfig, DistEnv, file names), `hardware` (device, precision), `batches` (each epoch's
seeds and window order), `checkpointing` (commit, resume), `validation`, `health_check` (the
free-running check), `progress` (bar, history, TensorBoard, health plot) and `run` (the
command's config file and resume rules). The decoder's frames are scaled by the training
windows' statistics, stored in the model config (model/pose_encoding.py). What it writes
in the output folder (rank 0 only):
- `last.json` (+ its .safetensors): the state after the latest finished epoch, written
  atomically (model/checkpoint.py), first at epoch 0 (the initialised model) so a kill at any
  moment leaves a loadable checkpoint and `--epochs 0` is just "write the initial model";
- `best.json`: see BEST below;
- `history.jsonl`: one JSON line per epoch (epoch, train_loss, val_loss, self_fed_length,
  frames_per_second, seconds, health: the free-running figures of `health_check` every
  `health_every` epochs, else null), appended just before `last` is committed (the epoch's
  commit point: a history line after it could be lost to a kill); on resume, lines after the
  checkpoint's epoch (a kill between the two writes) are dropped;
- `health.png`: those figures over the epochs;
- `tensorboard/`: the same scalars, when the tensorboard package is installed.

Epochs are counted from 1, as the curriculum module expects: epoch t trains with
`condition_mask(schedule, t, seq_len)` (t in curriculum epochs when the model config sets
`curriculum_windows`: model/curriculum.py); a checkpoint's `epoch` is the number of finished
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

import math
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DanceRevError
from ..model import ModelConfig, condition_mask, self_fed_length
from ..model.checkpoint import Checkpoint, checkpoint_json
from ..model.curriculum import curriculum_epoch
from ..model.network import Seq2Seq
from ..model.pose_encoding import fit_scaling, scale_poses
from ..skeletons import JointSet, joint_set
from .batches import epoch_batches, epoch_seeds
from .checkpointing import (
    agreed_digests,
    is_better,
    optimizer_tensors,
    restore_optimizer,
    save_epoch,
)
from .config import BEST, LAST, DistEnv, Log, OnEpoch, OnStep, TrainConfig, TrainResult
from .data import TrainingData, Windows
from .hardware import autocast_dtype, pick_device
from .health_check import validation_health
from .progress import Progress
from .validation import validation_loss
from .window_starts import epoch_rng

# A music channel's scale is at least half the median channel's: most of the 438 are
# tempogram lags in [0, 1], and a lag nearly constant in training must not turn a new
# song's value there into tens of units.
MUSIC_SPREAD_FLOOR = 0.5


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
    check_data(data, model_config, config)
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
    distributed = dist.world_size > 1
    if distributed:
        import torch.distributed as torch_dist
        from torch.nn.parallel import DistributedDataParallel

    # the decoder's frames scaled by the training data (stored in the model's config), the
    # model, optimizer, mixed precision; then the resumed state on top
    if resume is None and config.scale_poses and not model_config.pose_scale:
        mean, scale = fit_scaling(data.train.poses)
        model_config = replace(model_config, pose_mean=mean, pose_scale=scale)
    if resume is None and config.scale_music and not model_config.music_scale:
        mean, scale = fit_scaling(data.train.features, floor_share=MUSIC_SPREAD_FLOOR)
        model_config = replace(model_config, music_mean=mean, music_scale=scale)
    train_windows, val_windows = (scaled_windows(windows, model_config)
                                  for windows in (data.train, data.val))
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

    joints = joint_set(model_config.joint_set)
    train_x, train_y = (torch.from_numpy(a) for a in (train_windows.features,
                                                     train_windows.poses))
    steps = len(epoch_batches(len(data.train), config.batch_size, config.seed, 1, dist.rank,
                              dist.world_size))
    shown = Progress(out_dir, start_epoch=start_epoch, resumed=resume is not None,
                     total_steps=max(0, config.epochs - start_epoch) * steps,
                     show_bar=progress, is_main=dist.is_main)

    def save(epoch: int, stage: int, improved: bool) -> None:
        """Checkpoint `last` (and `best`); in DDP, first check that all ranks agree."""
        digests = agreed_digests(model, dist, epoch)
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
        save_epoch(out_dir, model, record, tensors, improved=improved,
                   snapshot_every=config.snapshot_every)

    if resume is None:
        save(0, self_fed_length(model_config.schedule, 0, model_config.lam,
                                model_config.condition_step), improved=False)

    train_loss = val_loss = None
    for epoch in range(start_epoch + 1, config.epochs + 1):
        # this epoch's randomness, curriculum stage and mask (the same for validation)
        started = time.perf_counter()
        torch_seed, noise_seed = epoch_seeds(config.seed, epoch, dist.rank)
        torch.manual_seed(torch_seed)
        random.seed(torch_seed)
        np.random.seed(torch_seed)
        noise = torch.Generator().manual_seed(noise_seed)
        pace = curriculum_epoch(epoch, len(data.train), model_config.curriculum_windows)
        stage = self_fed_length(model_config.schedule, pace, model_config.lam,
                                model_config.condition_step)
        mask = torch.from_numpy(condition_mask(model_config.schedule, pace, config.seq_len,
                                               model_config.condition_step, model_config.lam,
                                               model_config.self_fed_first))
        shown.begin_epoch(epoch, config.epochs)

        # training steps
        totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss x windows, windows
        frames = 0
        if config.random_window_starts:
            train_x, train_y = (torch.from_numpy(a) for a in train_windows.recut(
                epoch_rng(config.seed, epoch)))
        batches = epoch_batches(len(data.train), config.batch_size, config.seed, epoch,
                                dist.rank, dist.world_size)
        for step, batch in enumerate(batches, start=1):
            features = train_x[batch].to(device, non_blocking=True)
            poses = train_y[batch].to(device, non_blocking=True)
            loss = training_loss(net, features, poses, mask, noise, amp_dtype,
                                 config.velocity_weight, config.speed_weight, joints)
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
            shown.step(value, stage, frames / (time.perf_counter() - started))
            if on_step is not None:
                on_step(epoch, step, len(batches), value)
        seconds_training = time.perf_counter() - started
        if distributed:
            torch_dist.all_reduce(totals)
        train_loss = (totals[0] / totals[1]).item()

        # validation, then commit the epoch: the history line first, `last` at the very end
        val_loss = validation_loss(model, val_windows, mask, config.batch_size, device,
                                   config.seed, dist, amp_dtype)
        health = None
        if dist.is_main and config.health_every and epoch % config.health_every == 0:
            health = validation_health(model, data.val_clips, device)
            if health is not None and health.freezes:
                say(f"epoch {epoch}: {health.warning()}")
        metric = val_loss if val_loss is not None else train_loss
        improved = is_better(metric, stage, best)
        if improved:
            best = {"epoch": epoch, "loss": metric, "self_fed_length": stage,
                    "metric": "val_loss" if val_loss is not None else "train_loss"}
        entry = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                 "self_fed_length": stage,
                 "frames_per_second": round(frames / seconds_training, 1),
                 "seconds": round(time.perf_counter() - started, 3),
                 "health": health.as_dict() if health is not None else None}
        shown.end_epoch(entry)
        save(epoch, stage, improved)
        if on_epoch is not None:
            on_epoch(dict(entry))
    shown.close()

    last = checkpoint_json(out_dir / LAST)
    best_path = checkpoint_json(out_dir / BEST)
    final_epoch = max(start_epoch, config.epochs)
    say(f"checkpoints: {last} (epoch {final_epoch})"
        + (f", {best_path} (epoch {best['epoch']})" if best else "")
        + f"; history: {shown.history}")
    return TrainResult(epoch=final_epoch, last=last, best=best_path if best else None,
                       history=shown.history, train_loss=train_loss, val_loss=val_loss)


def training_loss(net: torch.nn.Module, features: torch.Tensor, poses: torch.Tensor,
                  mask: torch.Tensor, noise: torch.Generator,
                  amp_dtype: torch.dtype | None, velocity_weight: float = 0.0,
                  speed_weight: float = 0.0, joints: JointSet | None = None) -> torch.Tensor:
    """One batch's loss, the forward half of a training step (bench/training.py times it).

    The paper's L1 on poses, plus `velocity_weight` x L1 on frame-to-frame pose changes: a
    pose loss alone lets the model hedge towards slow, averaged motion; the velocity term
    asks it to move when and as fast as the dancer did, accents (speed minima) included.
    `speed_weight` x L1 on each joint's speed (the length of its frame-to-frame change, in
    the scaled frames; the root, which travels, left out; `joints` says the layout): where
    the dancer's direction cannot be foreseen, hedging between directions costs a signed
    velocity loss nothing, but a speed loss still asks for the dancer's speed, and for its
    dips at the accents.
    """
    with torch.autocast(features.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        predicted = net(features, poses, mask, generator=noise).float()
    loss = F.l1_loss(predicted, poses)
    if velocity_weight:
        loss = loss + velocity_weight * F.l1_loss(predicted.diff(dim=1), poses.diff(dim=1))
    if speed_weight:
        if joints is None:
            raise ValueError("the speed loss needs the joint layout")
        loss = loss + speed_weight * F.l1_loss(joint_speeds(predicted, joints),
                                               joint_speeds(poses, joints))
    return loss


def joint_speeds(poses: torch.Tensor, joints: JointSet) -> torch.Tensor:
    """(B, T - 1, J - 1): each non-root joint's frame-to-frame step length."""
    steps = poses.diff(dim=1).unflatten(-1, (joints.num_joints, joints.dims))
    keep = [j for j in range(joints.num_joints) if j != joints.root]
    return steps[:, :, keep].norm(dim=-1)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler) -> None:
    """The backward half of a training step: gradients (scaled for fp16) and an Adam step."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def scaled_windows(windows: Windows, model_config: ModelConfig) -> Windows:
    """The windows with their poses scaled as the model's decoder frames are."""
    def scaled(poses: np.ndarray) -> np.ndarray:
        return scale_poses(poses, model_config.pose_mean, model_config.pose_scale)

    return Windows(windows.features, scaled(windows.poses), windows.clip_names,
                   [(features, scaled(poses)) for features, poses in windows.clips])


def check_data(data: TrainingData, model_config: ModelConfig, config: TrainConfig) -> None:
    """Refuse data the model or the settings cannot train on, before any work."""
    if data.joint_set != model_config.joint_set:
        raise DanceRevError(f"the data is {data.joint_set} but the model makes "
                            f"{model_config.joint_set}")
    encoding = data.summary.get("pose_encoding", "absolute")
    if encoding != model_config.pose_encoding:
        raise DanceRevError(f"the data was read with pose encoding {encoding!r} but the model "
                            f"uses {model_config.pose_encoding!r}")
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
