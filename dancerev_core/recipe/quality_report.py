"""The default model's quality figures written out: quality.json, quality.md and two plots.

- `quality.json`: every figure (value, the real data's value, goal, pass/fail, how it is
  made, details), the settings, the songs and the curves;
- `quality.md`: a table ready to paste into the model card, the plots, the songs used;
- `quality_energy.png`: mean joint speed over the long dances, second by second;
- `quality_fid.png`: the long-term FID_k and FID_g curves per segment.

matplotlib draws through its Agg canvas directly (`Figure`), as `report.py` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.report import markdown_table, save_figure
from ..files import atomic_output

PLOTS = ("quality_energy.png", "quality_fid.png")
GOAL_SIGNS = {">=": "≥", "<=": "≤"}


def _cell(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{100 * value:.1f} %"
    if unit == "FID":
        return f"{value:.1f}"
    if unit in ("cm", "m/s"):
        return f"{value:.2f} {unit}"
    return f"{value:.3g}"


def figure_table(result: dict[str, Any]) -> str:
    """The markdown table of every figure: quality, figure, model, real data, goal, result."""
    rows = []
    for row in result["figures"]:
        goal = row["goal"]
        goal_text = (f"{GOAL_SIGNS[goal['op']]} {_cell(goal['value'], row['unit'])}"
                     if goal else "(shown)")
        verdict = {True: "pass", False: "**fail**", None: "-"}[row["passed"]]
        rows.append([row["group"], row["title"], _cell(row["value"], row["unit"]),
                     _cell(row["real"], row["unit"]), goal_text, verdict])
    return markdown_table(["quality", "figure", "model", "real data", "goal", "result"], rows)


def render_markdown(result: dict[str, Any]) -> str:
    settings, checkpoint = result["settings"], result["checkpoint"]
    epoch = checkpoint.get("epoch")
    lines = [
        "# Default model quality (issue 8, item 4)", "",
        f"Checkpoint `{checkpoint['path']}`" + (f", epoch {epoch}" if epoch is not None else "")
        + (f", validation loss {checkpoint['val_loss']:.4f}"
           if checkpoint.get("val_loss") is not None else "")
        + f"; data `{result['data']}` (held-out test split). {result['passed']} passed, "
          f"{result['failed']} failed.", "",
        figure_table(result), "",
        f"At {settings['fps']:g} fps; beat tolerance ±{settings['beat_tolerance_seconds']:g} s; "
        f"{result['dances']['generated_for_test_songs']} dances for the "
        f"{result['dances']['test_clips']} test clips' song spans ({settings['num']} per "
        f"span, seed {settings['seed']}), {result['dances']['long']} long dances of "
        f"{settings['seconds']:g} s; segments of {settings['segment_seconds']:g} s.", "",
        "![energy over time](quality_energy.png)", "",
        "![long-term FID](quality_fid.png)", "",
        "## Songs", "",
        "Test spans (held-out songs of the test split): "
        + ", ".join(f"`{s}`" for s in result["test_songs"]) + ".", "",
        "Long dances:", ""]
    lines += [f"- `{s['name']}`: {s['how']}" for s in result["long_songs"]]
    lines += ["", "## How each figure is made", ""]
    lines += [f"- **{row['title']}**: {row['how']}." for row in result["figures"]]
    if result["notes"]:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result["notes"]]
    return "\n".join(lines) + "\n"


def plot_energy(result: dict[str, Any], path: Path) -> Path:
    """Mean joint speed per second of the long dances: their mean, range, the real level."""
    from matplotlib.figure import Figure

    energy = result["curves"]["energy"]
    curves = energy["dances"]
    figure = Figure(figsize=(8, 3.6))
    axes = figure.add_subplot()
    length = min((len(c) for c in curves), default=0)
    if length:
        table = np.asarray([c[:length] for c in curves], dtype=np.float64)
        times = (np.arange(length) + 0.5) * energy["bin_seconds"]
        axes.fill_between(times, table.min(axis=0), table.max(axis=0), color="#1f4e8c",
                          alpha=0.18, label=f"range of {len(curves)} dances")
        axes.plot(times, table.mean(axis=0), color="#1f4e8c", label="mean")
    if energy.get("real_test_mean") is not None:
        axes.axhline(energy["real_test_mean"], color="#c0392b", linestyle="--",
                     label="real test motion (mean)")
    segment = result["settings"]["segment_seconds"]
    axes.axvspan(0, segment, color="#f2b134", alpha=0.15, label="first / last window")
    if length:
        axes.axvspan(length * energy["bin_seconds"] - segment, length * energy["bin_seconds"],
                     color="#f2b134", alpha=0.15)
    axes.set_xlabel("seconds into the dance")
    axes.set_ylabel("mean joint speed (m/s)")
    axes.set_title("motion energy over the long dances")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def plot_fid(result: dict[str, Any], path: Path) -> Path:
    """FID_k and FID_g per segment, with the held-out real motion's level where measured."""
    from matplotlib.figure import Figure

    curves = result["curves"]
    segment = curves["segment_seconds"]
    figure = Figure(figsize=(11, 3.8))
    for n, (key, title) in enumerate((("fid_k", "FID_k (kinetic)"),
                                      ("fid_g", "FID_g (geometric)")), start=1):
        axes = figure.add_subplot(1, 2, n)
        points = [(k, v) for k, v in enumerate(curves.get(key) or []) if v is not None]
        if points:
            axes.plot([(k + 0.5) * segment for k, _ in points], [v for _, v in points],
                      marker="o", label="generated, per segment")
        level = curves.get(f"{key}_real_level")
        if level is not None:
            axes.axhline(level, color="#c0392b", linestyle="--",
                         label=f"real motion, {curves['fid_real_level_segments']} segments")
        axes.set_xlabel(f"seconds into the dance ({segment:g}-s segments)")
        axes.set_ylabel("FID against real training segments")
        axes.set_title(f"long-term {title}")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)


def write_quality_report(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write quality.json, quality.md and the plots into `out_dir`; the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_dir / "quality.json", "w") as stream:
        stream.write(json.dumps(result, indent=1, allow_nan=False) + "\n")
    written = [out_dir / "quality.json",
               plot_energy(result, out_dir / PLOTS[0]), plot_fid(result, out_dir / PLOTS[1])]
    with atomic_output(out_dir / "quality.md", "w") as stream:
        stream.write(render_markdown(result))
    return written + [out_dir / "quality.md"]
