"""What a training run shows and records as it goes: the progress bar, the history, TensorBoard,
and the free-running health figures' plot (`health.png`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .config import HEALTH_PLOT, HISTORY, TENSORBOARD

PLOTTED = (("speed_vs_real", "joint speed / real"), ("frozen_share", "frozen 10-s windows"),
           ("energy_ratio", "energy last / first"), ("hit_rate", "beat hit rate (own timing)"))


class Progress:
    """The bar, `history.jsonl` and TensorBoard of one run; files on rank 0 only.

    A fresh run starts an empty history; a resumed one drops the lines after its
    checkpoint's epoch (a kill between the checkpoint and the history write leaves one).
    """

    def __init__(self, out_dir: Path, *, start_epoch: int, total_steps: int, resumed: bool,
                 show_bar: bool, is_main: bool) -> None:
        from ..console import progress_bar

        self.history = out_dir / HISTORY
        self.health_plot = out_dir / HEALTH_PLOT
        self.health: list[dict[str, Any]] = []  # history entries with health figures
        self.is_main = is_main
        self.writer = None
        if is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            if resumed:
                _trim_history(self.history, start_epoch)
                self.health = [entry for entry in read_history(self.history)
                               if entry.get("health")]
            else:
                self.history.write_text("", encoding="utf-8")
            self.writer = _tensorboard(out_dir)
        self.bar = progress_bar(total=total_steps, unit="step",
                                disable=not (show_bar and is_main))

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        self.bar.set_description(f"epoch {epoch}/{epochs}")

    def step(self, loss: float, stage: int, frames_per_second: float) -> None:
        self.bar.update()
        self.bar.set_postfix(loss=f"{loss:.4f}", p=stage, fps=f"{frames_per_second:.0f}",
                             refresh=False)

    def end_epoch(self, entry: dict[str, Any]) -> None:
        """Record a committed epoch's history entry (see loop.py for its fields)."""
        if self.is_main:
            with open(self.history, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(entry) + "\n")
            health = entry.get("health")
            if health:
                self.health.append(entry)
                plot_health(self.health, self.health_plot)
            if self.writer is not None:
                for key in ("train_loss", "val_loss", "self_fed_length", "frames_per_second"):
                    if entry[key] is not None:
                        self.writer.add_scalar(key, entry[key], entry["epoch"])
                for key, value in (health or {}).items():
                    if isinstance(value, float):
                        self.writer.add_scalar(f"health/{key}", value, entry["epoch"])
                self.writer.flush()
        val_loss = entry["val_loss"]
        self.bar.set_postfix(loss=f"{entry['train_loss']:.4f}",
                             val="-" if val_loss is None else f"{val_loss:.4f}",
                             p=entry["self_fed_length"])

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()


def read_history(path: Path) -> list[dict[str, Any]]:
    """The history's entries (a half-written line is skipped)."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _trim_history(path: Path, epoch: int) -> None:
    """Keep the history lines of epochs 1..epoch (a kill may have left more, or half a line)."""
    if not path.is_file():
        return
    kept = [entry for entry in read_history(path) if entry.get("epoch", math.inf) <= epoch]
    path.write_text("".join(json.dumps(entry) + "\n" for entry in kept), encoding="utf-8")


def plot_health(entries: list[dict[str, Any]], path: Path) -> None:
    """RUN/health.png: the health figures over the epochs they were measured at."""
    from matplotlib.figure import Figure

    from ..files import atomic_output

    epochs = [entry["epoch"] for entry in entries]
    figure = Figure(figsize=(9, 5))
    for index, (key, title) in enumerate(PLOTTED):
        axes = figure.add_subplot(2, 2, index + 1)
        axes.plot(epochs, [entry["health"][key] for entry in entries], marker="o")
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("epoch", fontsize=8)
    figure.suptitle("free-running dances on the validation songs (beat sync off)")
    figure.tight_layout()
    with atomic_output(path, "wb") as stream:
        figure.savefig(stream, format="png", dpi=80)


def _tensorboard(out_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / TENSORBOARD))
