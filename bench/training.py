#!/usr/bin/env python3
"""Training speed: DanceRev's training step against the plain per-frame fp32 loop, in one run.

    bash .ci/with-venv python bench/training.py [--batch 32] [--seq-len 120] [--steps 5]

The model is the released configuration (ModelConfig() sizes, ~22 M parameters, decoder hidden
1024) with the canonical24 joint set (72 pose values; --joint-set body25 for 50), randomly
initialised with a fixed seed, on synthetic batches (random music features, poses a smooth
function of them). A step is forward + L1 loss + backward + Adam step; frames = batch x
seq_len. Side by side, each with its own copy of the same initial model:
  a. the straightforward loop as the paper's code writes it (defined below): per frame, three
     nn.LSTMCell calls, torch.cat of [hidden; encoder output] and the output linear, fp32;
  b. `dancerev train`'s step (training.loop.training_loss + optimizer_step, Seq2Seq.forward's
     run-by-run pass) at precision fp32 and bf16 ("auto" on CPUs with bf16 instructions).
Two curricula: the linear schedule at p = 5 self-fed frames per 10 ground-truth frames (epoch
500 of the released lambda 0.01) and teacher forcing. Figures are medians of --steps timed
steps per variant after one untimed warm-up, the variants interleaved step by step so that
load from other processes hits them alike; at 1 thread and at 2 (the machine is shared).
Then the precision check: bf16 against fp32 on the same weights and batch (predictions,
gradients), and a short training run in each precision on a learnable synthetic task.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dancerev_core.model import ModelConfig, Seq2Seq, condition_mask  # noqa: E402
from dancerev_core.training.hardware import autocast_dtype  # noqa: E402
from dancerev_core.training.loop import optimizer_step, training_loss  # noqa: E402

CURRICULA = {"p=5": 500, "teacher forcing": 1}  # linear schedule epoch -> p = floor(0.01 t)
CPU = torch.device("cpu")


def paper_loss(model: Seq2Seq, features: torch.Tensor, poses: torch.Tensor, mask: np.ndarray,
               generator: torch.Generator) -> torch.Tensor:
    """(a) The decoder frame by frame as the authors' code does it, fp32, no tricks.

    Same conventions as Seq2Seq.forward (zero first input, random initial states, detached
    self-fed inputs, layers stacked the standard way), so it trains the same model.
    """
    batch, length, _ = poses.shape
    decoder = model.decoder
    encoded = model.encoder(features)
    noise = torch.randn(decoder.num_layers, 2, batch, decoder.hidden_size, generator=generator)
    states = [(noise[i, 0], noise[i, 1]) for i in range(decoder.num_layers)]
    previous = poses.new_zeros(batch, poses.shape[2])
    outputs = []
    for i in range(length):
        if i == 0:
            step_input = previous
        elif mask[i]:
            step_input = poses[:, i - 1]
        else:
            step_input = previous.detach()
        x = decoder.drop(decoder.embed(step_input))
        for layer, cell in enumerate(decoder.cells):
            states[layer] = cell(x, states[layer])
            x = states[layer][0]
        previous = model.head(torch.cat([x, encoded[:, i]], dim=-1))
        outputs.append(previous)
    return F.l1_loss(torch.stack(outputs, dim=1), poses)


def synthetic_batch(batch: int, length: int, pose_size: int,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features and poses that are a smooth, learnable function of them."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, length, 438, generator=generator)
    mixing = torch.randn(438, pose_size, generator=generator) / 438 ** 0.5
    smooth = F.avg_pool1d(features.transpose(1, 2), 5, stride=1, padding=2).transpose(1, 2)
    return features, torch.tanh(2 * smooth @ mixing)


class Trainer:
    """One model copy, its Adam, and one kind of training step."""

    def __init__(self, model: Seq2Seq, kind: str, lr: float = 1e-4) -> None:
        self.model = copy.deepcopy(model).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.scaler = torch.amp.GradScaler("cpu", enabled=False)  # as the loop on CPU
        self.kind = kind

    def step(self, features: torch.Tensor, poses: torch.Tensor, mask: np.ndarray,
             seed: int = 0) -> float:
        generator = torch.Generator().manual_seed(seed)
        if self.kind == "paper":
            loss = paper_loss(self.model, features, poses, mask, generator)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        else:
            amp_dtype = autocast_dtype(self.kind, CPU)
            loss = training_loss(self.model, features, poses, torch.from_numpy(mask), generator,
                                 amp_dtype)
            optimizer_step(loss, self.optimizer, self.scaler)
        return loss.item()


def interleaved_medians(steps: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, called in turn `repeats` times, warm first."""
    for function in steps.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, function in steps.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def native_bf16() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    found = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags]
    return ", ".join(found) if found else "none (bf16 is emulated, slower than fp32)"


def precision_check(model: Seq2Seq, args: argparse.Namespace) -> None:
    """bf16 against fp32: one pass on the same weights, then a short training run each."""
    mask = condition_mask("linear", CURRICULA["p=5"], args.seq_len)
    features, poses = synthetic_batch(args.batch, args.seq_len, model.config.pose_size)
    results = {}
    for precision in ("fp32", "bf16"):
        trainer = Trainer(model, precision)
        trainer.model.eval()  # no dropout: the same function in both precisions
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            predicted = trainer.model(features, poses, mask, torch.Generator().manual_seed(0))
        F.l1_loss(predicted.float(), poses).backward()
        results[precision] = (predicted.detach(), [p.grad for p in trainer.model.parameters()])
    (fp32, fp32_grads), (bf16, bf16_grads) = results["fp32"], results["bf16"]
    pairs = [(a, b) for a, b in zip(fp32_grads, bf16_grads, strict=True) if a.norm() > 0]
    per_tensor = [((b - a).norm() / a.norm()).item() for a, b in pairs]
    overall = (torch.cat([(b - a).flatten() for a, b in pairs]).norm()
               / torch.cat([a.flatten() for a, _ in pairs]).norm()).item()
    print(f"bf16 vs fp32, one pass (p=5, eval): predictions max abs deviation "
          f"{(bf16 - fp32).abs().max().item():.4f} (poses span +-{poses.abs().max():.2f}; "
          f"mean {(bf16 - fp32).abs().mean().item():.5f}); gradients relative error "
          f"{overall:.3f} overall, per tensor median {statistics.median(per_tensor):.3f} "
          f"(mostly the L1 loss's sign flips where a residual is near 0)")

    # a short run on a learnable task, smaller windows so that it takes seconds
    batch, length = min(args.batch, 8), min(args.seq_len, 40)
    mask = condition_mask("linear", CURRICULA["p=5"], length)
    train_set = [synthetic_batch(batch, length, model.config.pose_size, seed) for seed in range(4)]
    curves = {}
    for precision in ("fp32", "bf16"):
        trainer = Trainer(model, precision, lr=1e-3)
        curves[precision] = [trainer.step(*train_set[step % 4], mask, seed=step)
                             for step in range(args.check_steps)]
    first, last = slice(0, 4), slice(-4, None)
    for precision, curve in curves.items():
        print(f"{precision} training, {args.check_steps} Adam steps (lr 1e-3, batch {batch} x "
              f"{length} frames, p=5): loss {np.mean(curve[first]):.4f} -> "
              f"{np.mean(curve[last]):.4f} (means of the first and last 4 steps)")
    gap = np.abs(np.array(curves["bf16"]) - np.array(curves["fp32"]))
    print(f"bf16 - fp32 loss along the run: max {gap.max():.4f}, at the end "
          f"{np.mean(gap[last]):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=120)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--joint-set", default="canonical24", choices=("canonical24", "body25"))
    parser.add_argument("--threads", default="1,2", help="thread counts to measure")
    parser.add_argument("--check-steps", type=int, default=40,
                        help="training steps of the precision check (0: skip it)")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(joint_set=args.joint_set))
    features, poses = synthetic_batch(args.batch, args.seq_len, model.config.pose_size)
    frames = args.batch * args.seq_len
    print(f"model: released configuration, {args.joint_set} ({model.config.pose_size} pose "
          f"values), {model.num_parameters() / 1e6:.1f} M parameters, decoder hidden "
          f"{model.config.decoder_hidden}; batch {args.batch} x {args.seq_len} frames = "
          f"{frames} frames per step; torch {torch.__version__}; CPU bf16 instructions: "
          f"{native_bf16()}; median of {args.steps} steps after a warm-up")
    trainers = {kind: Trainer(model, kind) for kind in ("paper", "fp32", "bf16")}
    labels = {"paper": "a. per-frame loop, fp32", "fp32": "b. DanceRev, fp32",
              "bf16": "b. DanceRev, bf16"}
    previous_threads = torch.get_num_threads()
    best: dict[tuple[str, str], float] = {}
    for curriculum, epoch in CURRICULA.items():
        mask = condition_mask("linear", epoch, args.seq_len)
        for threads in (int(n) for n in args.threads.split(",")):
            torch.set_num_threads(threads)
            steps = {kind: (lambda t=trainer, m=mask: t.step(features, poses, m))
                     for kind, trainer in trainers.items()}
            seconds = interleaved_medians(steps, args.steps)
            print(f"{curriculum}, {threads} thread{'s' if threads > 1 else ''}:")
            for kind, value in seconds.items():
                best[curriculum, kind] = max(best.get((curriculum, kind), 0.0), frames / value)
                print(f"  {labels[kind]:26s} {value:6.2f} s/step {frames / value:7.0f} frames/s"
                      f"  {seconds['paper'] / value:4.2f}x")
    torch.set_num_threads(previous_threads)
    print("best thread count of each (goal: DanceRev >= 2x the per-frame loop):")
    for curriculum in CURRICULA:
        base = best[curriculum, "paper"]
        print(f"  {curriculum}: a {base:.0f} frames/s; " + "; ".join(
            f"{labels[kind][3:]} {best[curriculum, kind]:.0f} frames/s = "
            f"{best[curriculum, kind] / base:.2f}x" for kind in ("fp32", "bf16")))
    if args.check_steps:
        precision_check(model, args)


if __name__ == "__main__":
    main()
