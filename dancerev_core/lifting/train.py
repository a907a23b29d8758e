"""Training the lifter (torch; run by `dancerev lift-train`): 3D dance filmed by random cameras.

Every step draws a batch of segments from the training clips and films each one anew:
- the clip mirrored left/right half of the time, its speed changed by 0.8-1.25x, a random
  camera (`projection.random_camera`: any yaw, looking down 30 deg to up 10 deg, 3-9 m,
  16:9 / 4:3 / 1:1 / 9:16 images, the dancer 35-90 % of the image height);
- BODY_25 keypoints normalised to [-1, 1] by the image size as DanceRev's 2D data is, then
  read back with the image's aspect ratio off by up to 8 % (users guess it), Gaussian
  keypoint noise of up to 1.5 % of the body's size, and, in half the segments, keypoints
  missing over runs of frames (zero with a 0 flag, as `features.network_input` marks them);
- the target: the clip's 23 non-root joints relative to the pelvis, in the camera's view
  frame, for the standard body.
The loss is the mean per-joint Euclidean error (MPJPE); Adam (batches of 8 segments of 64
output frames) with the learning rate decaying exponentially from 2e-3 to 1e-4. Each output
frame sees the receptive field's input frames, and the clip's ends are extended by repeating
its first and last frames, as `network.Lifter` does.
Deterministic for a seed (numpy and torch generators seeded, one thread by default).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..skeletons import CANONICAL_24
from .data import HELD_OUT, Clip, load_clips
from .features import SCALE_WINDOW, image_plane, network_input
from .network import Lifter, LifterConfig, tensor_shapes
from .projection import (
    body25_from_canonical,
    normalize_pixels,
    project,
    random_cameras,
    to_view,
)
from .skeleton import INPUT_KEYPOINTS
from .weights import save_weights

MIRROR = np.array(CANONICAL_24.mirror_permutation)
OUTPUTS_PER_SEGMENT = 64
NOISE = 0.015  # largest keypoint noise, relative to the body's size in the image
DEFAULT_EPOCHS = 320  # about 11,000 steps of 8 segments on the CMU clips: 3-5 CPU minutes


class TemporalModel(nn.Module):
    """The network of `network.py` with batch normalisation and dropout, for training."""

    def __init__(self, config: LifterConfig) -> None:
        super().__init__()
        self.config = config
        c, k = config.channels, config.kernel

        def layer(inputs: int, kernel: int, dilation: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv1d(inputs, c, kernel, dilation=dilation, bias=False),
                                 nn.BatchNorm1d(c, momentum=0.1), nn.ReLU(),
                                 nn.Dropout(config.dropout))

        self.input = layer(len(INPUT_KEYPOINTS) * 3, k, 1)
        self.blocks = nn.ModuleList(nn.ModuleDict({"dilated": layer(c, k, d),
                                                   "pointwise": layer(c, 1, 1)})
                                    for d in config.dilations)
        self.output = nn.Conv1d(c, 23 * 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B x T x 48) -> (B x T - receptive_field + 1 x 23 x 3)."""
        h = self.input(x.transpose(1, 2))
        for block, dilation in zip(self.blocks, self.config.dilations, strict=True):
            trim = dilation * (self.config.kernel - 1) // 2
            h = h[:, :, trim:h.shape[2] - trim] + block["pointwise"](block["dilated"](h))
        out = self.output(h).transpose(1, 2)
        return out.reshape(out.shape[0], out.shape[1], 23, 3)

    def folded(self) -> dict[str, np.ndarray]:
        """Weights with batch normalisation folded in, named as `network.tensor_shapes`."""
        def fold(seq: nn.Sequential) -> tuple[np.ndarray, np.ndarray]:
            conv, norm = seq[0], seq[1]
            gain = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            weight = conv.weight * gain[:, None, None]
            bias = norm.bias - norm.running_mean * gain
            return weight.detach().numpy().copy(), bias.detach().numpy().copy()

        tensors: dict[str, np.ndarray] = {}
        tensors["input.weight"], tensors["input.bias"] = fold(self.input)
        for i, block in enumerate(self.blocks):
            for part in ("dilated", "pointwise"):
                w, b = fold(block[part])
                tensors[f"blocks.{i}.{part}.weight"], tensors[f"blocks.{i}.{part}.bias"] = w, b
        tensors["output.weight"] = self.output.weight.detach().numpy().copy()
        tensors["output.bias"] = self.output.bias.detach().numpy().copy()
        return {name: t.astype(np.float32) for name, t in tensors.items()}


class SegmentSampler:
    """Batches of (inputs B x L x 48, targets B x N x 23 x 3) filmed from random cameras."""

    def __init__(self, clips: list[Clip], config: LifterConfig, rng: np.random.Generator,
                 outputs: int = OUTPUTS_PER_SEGMENT) -> None:
        self.config, self.rng, self.outputs = config, rng, outputs
        self.margin = config.receptive_field // 2 + SCALE_WINDOW // 2
        self.length = outputs + 2 * self.margin  # 3D frames filmed per segment
        pad = self.margin + outputs
        self.clips = []  # per clip: (canonical, BODY_25) points, as filmed and mirrored
        for clip in clips:
            padded = np.concatenate([np.repeat(clip.positions[:1], pad, 0), clip.positions,
                                     np.repeat(clip.positions[-1:], pad, 0)])
            mirrored = padded[:, MIRROR] * np.array([-1.0, 1.0, 1.0])
            self.clips.append(tuple((p, body25_from_canonical(p)) for p in (padded, mirrored)))
        self.real = np.array([len(c.positions) for c in clips], dtype=np.float64)
        self.pad = pad

    @property
    def frames(self) -> int:
        return int(self.real.sum())

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`size` segments, each from its own clip, speed, mirror, camera and noise."""
        rng, length = self.rng, self.length
        index = rng.choice(len(self.clips), size=size, p=self.real / self.real.sum())
        mirror = rng.random(size) < 0.5
        rate = np.exp(rng.uniform(math.log(0.8), math.log(1.25), size))
        centre = self.pad + rng.uniform(0, 1, size) * (self.real[index] - 1)
        times = centre[:, None] + rate[:, None] * (np.arange(length) - (length - 1) / 2)
        positions = np.empty((size, length, 24, 3))
        points = np.empty((size, length, 25, 3))
        for b in range(size):
            canonical, keypoints = self.clips[index[b]][int(mirror[b])]
            t = np.clip(times[b], 0, len(canonical) - 1)
            low = np.floor(t).astype(int)
            high = np.minimum(low + 1, len(canonical) - 1)
            w = (t - low)[:, None, None]
            positions[b] = canonical[low] * (1 - w) + canonical[high] * w
            points[b] = keypoints[low] * (1 - w) + keypoints[high] * w
        camera = random_cameras(rng, positions[:, :, 0].mean(axis=1))
        pixels = project(points, **camera)
        width, height = camera["width"][:, None, None], camera["height"][:, None, None]
        normalized = normalize_pixels(pixels, width, height)
        aspect = width / height * np.exp(rng.uniform(-0.08, 0.08, (size, 1, 1)))
        plane = image_plane(normalized, aspect)
        spread = np.sqrt(np.mean(np.sum((plane - plane[:, :, 8:9]) ** 2, -1), axis=(1, 2)))
        noise = rng.uniform(0, NOISE, size) * spread
        plane = plane + rng.normal(size=plane.shape) * noise[:, None, None, None]
        seen = np.ones(plane.shape[:3], dtype=bool)
        # In half the segments, each keypoint is lost with chance 0.1 for 5-60 frames.
        lost = (rng.random((size, 25)) < 0.1) & (rng.random((size, 1)) < 0.5)
        start = rng.integers(0, length, (size, 25))
        run = rng.integers(5, 60, (size, 25))
        frame = np.arange(length)[None, :, None]
        seen &= ~(lost[:, None] & (frame >= start[:, None]) & (frame < (start + run)[:, None]))
        seen[:, :, 8] = True  # MidHip is not an input: it only places the root
        inputs, _, _ = network_input(plane, seen, self.config.scale_window)
        inputs = inputs[:, SCALE_WINDOW // 2:length - SCALE_WINDOW // 2]
        view = to_view(positions, camera["yaw"], camera["target"])
        view = view - view[:, :, :1]
        targets = view[:, self.margin:self.margin + self.outputs, 1:]
        return (torch.from_numpy(inputs.astype(np.float32)),
                torch.from_numpy(targets.astype(np.float32)))


def train_lifter(clips: list[Clip], config: LifterConfig | None = None,
                 epochs: int = DEFAULT_EPOCHS, seed: int = 0, batch_size: int = 8,
                 lr: float = 2e-3, final_lr: float = 1e-4, steps_per_epoch: int | None = None,
                 log: Callable[[str], None] = print) -> tuple[Lifter, list[float]]:
    """Train on `clips`; returns the folded numpy lifter and the mean loss of every epoch.

    An epoch is as many segments as give every training frame one output on average.
    """
    config = config or LifterConfig()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sampler = SegmentSampler(clips, config, rng)
    model = TemporalModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, amsgrad=True)
    decay = (final_lr / lr) ** (1.0 / max(epochs - 1, 1))
    steps = steps_per_epoch or max(1, round(sampler.frames / OUTPUTS_PER_SEGMENT / batch_size))
    losses = []
    start = time.monotonic()
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr * decay ** epoch
        model.train()
        total = 0.0
        for _ in range(steps):
            inputs, targets = sampler.batch(batch_size)
            loss = torch.linalg.vector_norm(model(inputs) - targets, dim=-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        losses.append(total / steps)
        log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1] * 1000:.1f} mm "
            f"({time.monotonic() - start:.0f} s)")
    model.eval()
    tensors = model.folded()
    assert {n: t.shape for n, t in tensors.items()} == tensor_shapes(config)
    return Lifter(replace(config), tensors), losses


def train_command(data_dir: str | Path, output: str | Path, epochs: int = DEFAULT_EPOCHS,
                  seed: int = 0,
                  threads: int = 1, held_out: tuple[str, ...] = HELD_OUT,
                  config: LifterConfig | None = None, evaluate_cameras: int = 4,
                  log: Callable[[str], None] = print) -> Path:
    """Read clips, train, judge on the held-out clips, write OUTPUT/lifter.json + weights."""
    from .evaluate import evaluate, format_table
    from .pipeline import lift

    torch.set_num_threads(threads)
    started = time.monotonic()
    clips = load_clips(data_dir, exclude=set(held_out), log=log)
    if not clips:
        from ..errors import DanceRevError
        raise DanceRevError(f"{data_dir}: no readable BVH clip to train on")
    frames = sum(len(c.positions) for c in clips)
    log(f"training on {len(clips)} clips, {frames} frames at 30 fps "
        f"({frames / 30 / 60:.1f} min); held out: {', '.join(held_out)}")
    config = config or LifterConfig()
    lifter, losses = train_lifter(clips, config, epochs=epochs, seed=seed, log=log)
    seconds = time.monotonic() - started
    test = load_clips(data_dir, names=set(held_out), log=log)
    metrics: dict[str, Any] = {}
    if test:
        results = evaluate(test, {
            "learned": lambda m: lift(m, "learned", lifter).motion,
            "geometric": lambda m: lift(m, "geometric").motion}, cameras=evaluate_cameras)
        log(format_table(results))
        metrics = {"cameras_per_clip": evaluate_cameras, "results_mm": results}
    description = {
        "network": config.to_dict(),
        "input": {"keypoints": "BODY_25 " + ", ".join(str(k) for k in INPUT_KEYPOINTS),
                  "layout": "T x 48: per keypoint (x, y, seen), image plane y up, relative "
                            "to MidHip, divided by the body's size (features.py)"},
        "output": {"joint_set": CANONICAL_24.name, "joints": "23 non-root joints relative "
                   "to the pelvis, metres, view frame (X right, Y away from camera, Z up), "
                   "standard body size"},
        "training": {"data": str(data_dir), "clips": [c.name for c in clips],
                     "held_out": list(held_out), "frames": frames, "epochs": epochs,
                     "seed": seed, "threads": threads, "seconds": round(seconds, 1),
                     "final_loss_mm": round(losses[-1] * 1000, 2) if losses else None,
                     "losses_mm": [round(v * 1000, 2) for v in losses],
                     "held_out_metrics": metrics,
                     "data_credit": "mocap.cs.cmu.edu (CMU Graphics Lab Motion Capture "
                                    "Database, funded by NSF EIA-0196217)"},
    }
    path = save_weights(Path(output) / "lifter", lifter.tensors, description)
    log(f"wrote {path} after {seconds:.0f} s of training")
    return path
