"""An evaluation written out: metrics.json, a readable report.md and PNG plots.

Files in the report folder, each written atomically (files.atomic_output):
- `metrics.json`: everything `suite.evaluate` computed (settings, one row per set, long-term
  curves, notes) plus any `extra` sections (e.g. the ablation's training runs);
- `report.md`: the metric table laid out like the paper's Table 1 (plus the 3D benchmark
  columns), speed statistics, the long-term table, the figures and how each number is made;
- `metric_table.png`, `long_term_fid.png`, `speed_beats.png` (the speed curve of one dance
  per set with its musical and kinematic beats).

matplotlib draws through its Agg canvas directly (`Figure`), so no display and no global
backend setting are touched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_output
from .suite import Evaluation, SpeedExample

PLOTS = ("metric_table.png", "long_term_fid.png", "speed_beats.png")
PERCENT = ("acc", "beat_coverage", "beat_hit_rate")


def columns(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric key, column title); the titles carry the tolerance and the frame rate."""
    fps, tolerance = settings["fps"], settings["tolerance_seconds"]
    return [("fid", "FID"), ("acc", "ACC %"), ("beat_coverage", "beat coverage %"),
            ("beat_hit_rate", f"beat hit rate % (±{tolerance:g} s)"),
            ("diversity", "diversity"), ("multimodality", "multimodality"),
            ("fid_k", "FID_k"), ("fid_g", "FID_g"), ("div_k", "Div_k"), ("div_g", "Div_g"),
            ("beat_align", f"beat-align ({fps:g} fps)")]


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in PERCENT:
        return f"{100 * value:.1f}"
    if key == "beat_align":
        return f"{value:.3f}"
    return f"{value:.2f}"


def table_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    cols = columns(metrics["settings"])
    header = ["set", "dances"] + [title for _, title in cols]
    rows = []
    for entry in metrics["sets"]:
        row = entry["metrics"]
        label = entry["name"]
        if entry["role"] == "real" and "real" not in label.lower():
            label += " (real)"
        rows.append([label, str(row.get("dances", "-"))]
                    + [cell(key, row.get(key)) for key, _ in cols])
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------- plots
def save_figure(figure: Any, path: Path) -> Path:
    """A matplotlib figure written atomically as a PNG."""
    with atomic_output(path) as stream:
        figure.savefig(stream, format="png", dpi=110, bbox_inches="tight")
    return path


def plot_table(metrics: dict[str, Any], path: Path) -> Path:
    from matplotlib.figure import Figure

    header, rows = table_rows(metrics)
    header = [h.replace(" (", "\n(").replace("beat ", "beat\n") for h in header]
    figure = Figure(figsize=(1.05 * len(header) + 1.5, 0.45 * len(rows) + 1.2))
    axes = figure.add_subplot()
    axes.axis("off")
    table = axes.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 2.2)
    table.auto_set_column_width(list(range(len(header))))
    for (row, _), item in table.get_celld().items():
        item.PAD = 0.12
        if row == 0:
            item.set_facecolor("#dde4ee")
            item.set_height(item.get_height() * 1.7)
    settings = metrics["settings"]
    figure.suptitle(f"DanceRev evaluation at {settings['fps']:g} fps; beat tolerance "
                    f"±{settings['tolerance_seconds']:g} s", fontsize=10)
    return save_figure(figure, path)


def plot_long_term(metrics: dict[str, Any], path: Path) -> Path:
    from matplotlib.figure import Figure

    long_term = metrics["long_term"]
    seconds = long_term["clip_seconds"]
    kinds = [(key, title) for key, title in (("fid", "style-classifier FID"),
                                              ("fid_k", "FID_k (kinetic)"))
             if any(entry.get(key) for entry in long_term["sets"].values())]
    figure = Figure(figsize=(6.5 * max(1, len(kinds)), 4.2))
    if not kinds:
        axes = figure.add_subplot()
        axes.axis("off")
        axes.text(0.5, 0.5, f"no set has 2+ dances of {seconds:g} s", ha="center")
        return save_figure(figure, path)
    for n, (key, title) in enumerate(kinds, start=1):
        axes = figure.add_subplot(1, len(kinds), n)
        for name, entry in long_term["sets"].items():
            values = entry.get(key) or []
            points = [(k, v) for k, v in enumerate(values) if v is not None]
            if points:
                xs = [(k + 0.5) * seconds for k, _ in points]
                axes.plot(xs, [v for _, v in points], marker="o", label=name)
        axes.set_xlabel(f"time in the dance (s), one point per {seconds:g}-s clip")
        axes.set_ylabel("FID against all real clips")
        axes.set_title(f"long-term {title}")
        axes.set_yscale("symlog", linthresh=1.0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return save_figure(figure, path)


def plot_speed(examples: Sequence[SpeedExample], path: Path, tolerance: float) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 2.6 * max(1, len(examples)) + 0.4))
    for n, example in enumerate(examples, start=1):
        axes = figure.add_subplot(len(examples), 1, n)
        times = (1 + np.arange(len(example.speed))) / example.fps
        axes.plot(times, example.speed, color="#1f4e8c", linewidth=1.2, label="speed")
        if example.musical is not None:
            for k, beat in enumerate(example.musical):
                axes.axvspan(beat - tolerance, beat + tolerance, color="#f2b134", alpha=0.25,
                             label=f"musical beat ±{tolerance:g} s" if k == 0 else None)
        frames = (example.kinematic * example.fps).round().astype(int) - 1
        frames = frames[(frames >= 0) & (frames < len(example.speed))]
        axes.plot(times[frames], example.speed[frames], "v", color="#c0392b", markersize=6,
                  label="kinematic beat (speed minimum)")
        axes.set_title(f"{example.set_name}: {example.dance}", fontsize=9)
        axes.set_ylabel("mean joint speed / s")
        axes.set_xlim(0, times[-1] if len(times) else 1)
        axes.legend(fontsize=7, loc="upper right")
    if examples:
        axes.set_xlabel("seconds")
    figure.tight_layout()
    return save_figure(figure, path)


# ---------------------------------------------------------------------- the report
HOW = """\
## How each number is made
- Every dance is resampled to {fps:g} fps; all numbers below are at that rate.
- **FID, ACC, diversity, multimodality** use the style classifier's features (its last LSTM
  state) of non-overlapping {window}-frame windows. FID: Frechet distance of Gaussians fitted
  to real and generated window features; for the real row, its even-numbered dances against
  its odd-numbered ones. ACC: share of windows classified as their music's genre.
  Diversity: mean feature distance over all pairs of windows from dances made for different
  music. Multimodality: mean distance between same-position windows of different dances made
  for the same music.
- **Beat coverage** = kinematic beats / musical beats, **hit rate** = kinematic beats within
  ±{tolerance:g} s of a musical beat / kinematic beats, pooled over the dances of a set.
  Kinematic beats: minima of the mean joint speed smoothed by a 1/12 s Gaussian; musical beats:
  the song's beats (real dances) or the motion's `beat_times` (generated ones).
- **FID_k, FID_g, Div_k, Div_g**: kinetic (72) and geometric (32) features {unit}, z-scored
  with the real set's statistics; FID as above, Div = mean pairwise distance.
- **Beat-align score** (Bailando): for each musical beat exp(-d²/18), d in frames at {fps:g} fps
  to the nearest minimum of the 5-frame-smoothed speed; mean over dances.
- **Long-term FID**: each dance cut into consecutive {clip:g}-s clips; FID of the k-th clips of a
  set against all real clips.
"""


def feature_unit_text(settings: dict[str, Any]) -> str:
    if settings["feature_unit"] == "dance":
        return f"of whole dances at {settings['fps']:g} fps"
    if settings["feature_unit"] == "window":
        return (f"of non-overlapping {settings['feature_window_seconds']:g}-s windows at "
                f"{settings['fps']:g} fps")
    return "(not computed: 2D joints)"


def render_markdown(evaluation: Evaluation, title: str, extra: dict[str, Any]) -> str:
    metrics = evaluation.metrics
    settings = metrics["settings"]
    classifier = settings["classifier"]
    header, rows = table_rows(metrics)
    unit = feature_unit_text(settings)
    parts = [f"# {title}", ""]
    parts += [f"- {entry['role']} set **{entry['name']}**: `{entry['source']}`, "
              f"{entry['metrics'].get('dances')} dances, {entry['metrics'].get('seconds'):.1f} s"
              for entry in metrics["sets"]]
    parts += [f"- evaluation at **{settings['fps']:g} fps**, {settings['joint_set']}; beat "
              f"tolerance **±{settings['tolerance_seconds']:g} s**; 3D features {unit}"]
    if classifier:
        accuracy = classifier.get("val_accuracy")
        parts.append(f"- style classifier `{classifier['path']}`: genres "
                     f"{', '.join(classifier['genres'])}; {classifier['window']} frames at "
                     f"{classifier['fps']:g} fps; held-out accuracy "
                     + (f"{accuracy:.1%}" if accuracy is not None else "not measured"))
    else:
        parts.append("- no style classifier: FID, ACC, diversity and multimodality are not "
                     "computed")
    parts += ["", "## Metrics", "", markdown_table(header, rows), "",
              "Lower FIDs are better; the other columns are best when close to the real "
              "row's (beat hit rate: higher, if the real dances were danced to their songs).",
              "",
              "![metric table](metric_table.png)", ""]
    parts += ["## Speed and beats", "",
              markdown_table(["set", "mean speed /s", "speed std", "kinematic beats /s",
                              "musical beats /s", "kinematic beats", "musical beats"],
                             [[e["name"]] + [_number(e["metrics"].get(k)) for k in (
                                 "speed_mean", "speed_std", "kinematic_beats_per_second",
                                 "musical_beats_per_second", "kinematic_beats",
                                 "musical_beats")] for e in metrics["sets"]]), "",
              "![speed curves with beats](speed_beats.png)", ""]
    parts += _long_term_section(metrics)
    for section, content in extra.items():
        if isinstance(content, dict) and "markdown" in content:
            parts += [f"## {section}", "", content["markdown"], ""]
    if metrics["notes"]:
        parts += ["## Notes", ""] + [f"- {note}" for note in metrics["notes"]] + [""]
    parts.append(HOW.format(fps=settings["fps"], tolerance=settings["tolerance_seconds"],
                            window=settings["classifier_window_frames"] or 50, unit=unit,
                            clip=settings["long_term_clip_seconds"]))
    return "\n".join(parts)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.3g}"


def _long_term_section(metrics: dict[str, Any]) -> list[str]:
    long_term = metrics["long_term"]
    seconds = long_term["clip_seconds"]
    count = max((len(e["dances"]) for e in long_term["sets"].values()), default=0)
    header = ["set", "curve"] + [f"{k * seconds:g}-{(k + 1) * seconds:g} s"
                                 for k in range(count)]
    rows = []
    for name, entry in long_term["sets"].items():
        for key, label in (("fid", "FID"), ("fid_k", "FID_k"), ("dances", "dances")):
            values = entry.get(key)
            if values:
                rows.append([name, label] + [_number(v) for v in values]
                            + ["-"] * (count - len(values)))
    return ["## Long-term FID", "", markdown_table(header, rows), "",
            "Each point compares one clip position against every real clip. A point from few "
            "dances (the `dances` rows) is dominated by sample size, and a real set whose "
            "dances differ in length changes its make-up along the curve (its late clips "
            "come from its long dances only): read the curves' trend, not single points.", "",
            "![long-term FID](long_term_fid.png)", ""]


def write_report(evaluation: Evaluation, out_dir: str | Path, title: str = "DanceRev evaluation",
                 extra: dict[str, Any] | None = None) -> list[Path]:
    """Write metrics.json, report.md and the PNGs into `out_dir`; the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = extra or {}
    document = {**evaluation.metrics,
                **{k: {kk: vv for kk, vv in v.items() if kk != "markdown"}
                   if isinstance(v, dict) else v for k, v in extra.items()}}
    written = []
    with atomic_output(out_dir / "metrics.json", "w") as stream:
        stream.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
    written.append(out_dir / "metrics.json")
    settings = evaluation.metrics["settings"]
    written.append(plot_table(evaluation.metrics, out_dir / PLOTS[0]))
    written.append(plot_long_term(evaluation.metrics, out_dir / PLOTS[1]))
    written.append(plot_speed(evaluation.examples, out_dir / PLOTS[2],
                              settings["tolerance_seconds"]))
    with atomic_output(out_dir / "report.md", "w") as stream:
        stream.write(render_markdown(evaluation, title, extra))
    written.append(out_dir / "report.md")
    return written
