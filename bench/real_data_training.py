#!/usr/bin/env python3
"""Curriculum training on real-data stand-ins: does a free-running dance stay alive?

    bash .ci/with-venv python bench/real_data_training.py [--sets cmu-unwarped,salsa-travel,recipe]
        [--epochs 200] [--snapshots 4] [--out runs/real-data-bench] [--set training.lr=0.001]
        [--tag NAME] [--evaluate-only]

Issue 15's before and after, 200 epochs each (MODEL_CARD.md, "Training on real data"):
    ... --tag paper --set model.pose_encoding=absolute --set training.scale_poses=false
    ... --tag batch8 --set training.batch_size=8
(the paper's layout and loss, against the pose encoding, scaling and 4x the optimizer steps).

Each stand-in is a paired dataset built from `../shared/data` (CMU mocap, real
songs) by the recipe's builder (`recipe.pairing`), once, into OUT/data/NAME:
- `cmu-unwarped`: every CMU subject, routines paired with real songs at the dancers' own
  timing (no beat warp), no synthesised songs: the closest to a user's own paired data;
- `salsa-travel`: the salsa couple only (subjects 60 and 61), unwarped, unturned and
  unmirrored: dancers travelling across the floor;
- `recipe`: the recipe's own data (beat-warped, synthesised songs as well), 2 passes.
Then, per set, `dancerev train`'s loop (`training.train`) with the recipe's model and
training settings (`pretrained/dance-default.recipe.json`) unless `--set` changes them, for a
fixed number of epochs, keeping `--snapshots` evenly spaced snapshots. Every snapshot then
dances the set's held-out songs free-running with beat sync off (`evaluation.health`, the
same check `dancerev train` runs on its validation songs) and the table gives, per snapshot:
speed against the real held-out dances (root-relative joints), joint acceleration against
real, the share of frozen 10-s windows, energy last/first, FID_k, and the model's own beat
hit rate against the same with the music shuffled across songs (the control).

Written to OUT/NAME/: the run (checkpoints, history), `health.json` and `health.png`;
OUT/summary.md holds every set's table. Real data is read through a path and never copied
into the repository; the built stand-ins live under OUT (runs/ is ignored by git).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from dancerev_core.evaluation.health import dance_health  # noqa: E402
from dancerev_core.evaluation.suite import clip_within_song  # noqa: E402
from dancerev_core.formats.paired_dataset import list_clips  # noqa: E402
from dancerev_core.music.analysis import analyse_song  # noqa: E402
from dancerev_core.recipe.evaluate import QualitySettings, long_songs, read_manifest  # noqa: E402
from dancerev_core.recipe.pairing.builder import RecipeConfig, build_dataset  # noqa: E402
from dancerev_core.recipe.shipped import RECIPE_CONFIG  # noqa: E402
from dancerev_core.training.run import read_config_file, train_run  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
FPS = 15.0
LONG_SECONDS = 45.0  # long dances on the held-out songs (the held-out real song is 46 s)
VARIATIONS = 4
STAND_INS = {
    "cmu-unwarped": RecipeConfig(warp=False, real_song_share=1.0, test_synth_songs=0,
                                 passes=2),
    "salsa-travel": RecipeConfig(warp=False, real_song_share=1.0, test_synth_songs=0,
                                 passes=2, subjects=("60", "61"), max_yaw_degrees=0.0,
                                 mirror_share=0.0),
    "recipe": RecipeConfig(passes=2),
}
COLUMNS = (("epoch", "epoch", "{:d}"), ("speed_vs_real", "speed/real", "{:.2f}"),
           ("acceleration_vs_real", "accel/real", "{:.2f}"),
           ("frozen_share", "frozen 10 s", "{:.0%}"), ("energy_ratio", "energy l/f", "{:.2f}"),
           ("fid_k", "FID_k", "{:.1f}"), ("hit_rate", "hit", "{:.0%}"),
           ("shuffled_hit_rate", "hit shuffled", "{:.0%}"))


def build_stand_in(name: str, out: Path, shared: Path) -> Path:
    """OUT/data/NAME, built once (a finished build has its manifest.json)."""
    folder = out / "data" / name
    if not (folder / "manifest.json").is_file():
        began = time.monotonic()
        build_dataset(folder, shared / "mocap" / "cmu", shared / "music", STAND_INS[name],
                      overwrite=folder.exists())
        print(f"{name}: built in {time.monotonic() - began:.0f} s", flush=True)
    return folder


@dataclass
class Material:
    """What every snapshot dances and is compared with."""

    spans: list[tuple[object, float, float]]  # (MusicFeatures, start s, seconds) per test clip
    long: list[object]  # MusicFeatures of the long held-out songs
    beats: list[np.ndarray]  # per dance slot: the song's beats from the dance's frame 0
    real: list[np.ndarray]  # the held-out real dances (absolute canonical24)
    reference: list[np.ndarray]  # the training motion (FID_k reference)


def material(folder: Path, shared: Path, work: Path) -> Material:
    manifest = read_manifest(folder)
    spans, beats, real = [], [], []
    for clip in list_clips(folder / "test", validate_motion=False).clips:
        music = analyse_song(clip.audio_path, fps=FPS)
        motion, clip_beats = clip_within_song(clip, music, FPS, min_frames=3)
        spans.append((music, clip.audio_offset, motion.duration))
        beats += [clip_beats] * VARIATIONS
        real.append(motion.positions)
    work.mkdir(parents=True, exist_ok=True)
    long = []
    for song in long_songs(manifest, QualitySettings(seconds=LONG_SECONDS, music_dir=shared /
                                                     "music"), work, []):
        music = analyse_song(song["path"], fps=FPS, use_cache=False)
        long.append(music)
        song_beats = np.asarray(music.beat_times, dtype=np.float64)
        beats += [song_beats[song_beats <= LONG_SECONDS]] * VARIATIONS
    reference = []
    for clip in list_clips(folder / "train", validate_motion=False).clips:
        music = analyse_song(clip.audio_path, fps=FPS)
        reference.append(clip_within_song(clip, music, FPS, min_frames=3)[0].positions)
    return Material(spans, long, beats, real, reference)


def snapshot_health(path: Path, stuff: Material) -> dict:
    """Free-running dances (beat sync off, as decoded) for every held-out song, and their
    figures."""
    from dancerev_core.generation.pipeline import decode_dances
    from dancerev_core.model.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path, expect_joint_set="canonical24")
    dances = [d.positions for music, start, seconds in stuff.spans
              for d in decode_dances(music, checkpoint, seconds, seed=0, num=VARIATIONS,
                                     start=start)]
    dances += [d.positions for music in stuff.long
               for d in decode_dances(music, checkpoint, LONG_SECONDS, seed=0,
                                      num=VARIATIONS)]
    health = dance_health(dances, stuff.beats, stuff.real, FPS, reference=stuff.reference)
    return {"epoch": int(checkpoint.training["epoch"]), **health.as_dict()}


def parse_sets(values: list[str]) -> tuple[dict, dict]:
    """`--set model.KEY=VALUE` / `training.KEY=VALUE` (VALUE as JSON, else a string)."""
    changes: dict[str, dict] = {"model": {}, "training": {}}
    for item in values:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if section not in changes or not name or not _:
            raise SystemExit(f"--set {item!r}: expected model.KEY=VALUE or training.KEY=VALUE")
        try:
            changes[section][name] = json.loads(value)
        except json.JSONDecodeError:
            changes[section][name] = value
    return changes["model"], changes["training"]


def run_set(name: str, args: argparse.Namespace, model_changes: dict,
            training_changes: dict) -> list[dict]:
    data = build_stand_in(name, args.out, args.shared)
    run = args.out / (name + (f"-{args.tag}" if args.tag else ""))
    model_values, training_values = read_config_file(RECIPE_CONFIG)
    every = max(1, math.ceil(args.epochs / args.snapshots))
    training_values.update(epochs=args.epochs, snapshot_every=every)
    model_values.update(model_changes)
    training_values.update(training_changes)
    run.mkdir(parents=True, exist_ok=True)
    config = run / "config.json"
    config.write_text(json.dumps({"model": model_values, "training": training_values},
                                 indent=1))
    if args.evaluate_only:
        if not (run / "history.jsonl").is_file():
            raise SystemExit(f"--evaluate-only: {run} holds no run")
    elif not (run / "last.json").is_file():
        train_run(data / "train", run, config_file=config, progress=False,
                  log=lambda line: print(f"  {name}: {line}", flush=True))
    else:
        train_run(data / "train", run, resume=True, progress=False,
                  log=lambda line: print(f"  {name}: {line}", flush=True))
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    minutes = sum(entry["seconds"] for entry in history) / 60  # the run's, resumed or not
    stuff = material(data, args.shared, args.out / "data" / f"{name}-long")
    rows = []
    for snapshot in sorted((run / "snapshots").glob("e*.json")):
        rows.append(snapshot_health(snapshot, stuff))
        print(f"  {name}: {format_row(rows[-1])}", flush=True)
    real_row = dance_health(stuff.real, stuff.beats[::VARIATIONS][:len(stuff.real)],
                            stuff.real, FPS, reference=stuff.reference).as_dict()
    report = {"set": name, "tag": args.tag, "train_minutes": round(minutes, 1),
              "model": model_values, "training": training_values, "snapshots": rows,
              "real": real_row}
    (run / "health.json").write_text(json.dumps(report, indent=1))
    plot(report, run / "health.png")
    return rows


def format_row(row: dict) -> str:
    cells = []
    for key, _title, pattern in COLUMNS:
        value = row.get(key)
        cells.append("-" if value is None else pattern.format(value))
    return " | ".join(cells)


def table(name: str, report: dict) -> str:
    lines = [f"### {name} ({report['train_minutes']} min of training)", "",
             "| " + " | ".join(title for _key, title, _pattern in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += [f"| {format_row(row)} |" for row in report["snapshots"]]
    real = {**report["real"], "epoch": 0}
    lines.append(f"| real: {format_row(real).split(' | ', 1)[1]} |")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    rows = report["snapshots"]
    epochs = [row["epoch"] for row in rows]
    figure = Figure(figsize=(10, 6))
    for index, (key, title, _pattern) in enumerate(COLUMNS[1:]):
        axes = figure.add_subplot(2, 4, index + 1)
        axes.plot(epochs, [row[key] if row[key] is not None else np.nan for row in rows],
                  marker="o")
        if report["real"].get(key) is not None and key not in ("shuffled_hit_rate",):
            axes.axhline(report["real"][key], color="grey", linestyle="--")
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("epoch", fontsize=8)
    figure.suptitle(f"{report['set']} {report['tag'] or ''}: free-running, beat sync off "
                    "(dashed: real)")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(STAND_INS))
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--snapshots", type=int, default=4)
    parser.add_argument("--set", action="append", default=[], dest="changes",
                        help="model.KEY=VALUE or training.KEY=VALUE over the recipe config")
    parser.add_argument("--tag", default="", help="suffix of the run folders (ablations)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="judge the snapshots a run already has (one stopped early) "
                             "without training it further")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "real-data-bench")
    args = parser.parse_args()
    model_changes, training_changes = parse_sets(args.changes)
    summary = []
    for name in args.sets.split(","):
        if name not in STAND_INS:
            raise SystemExit(f"--sets: unknown stand-in {name!r} (known: {', '.join(STAND_INS)})")
        run_set(name, args, model_changes, training_changes)
        run = args.out / (name + (f"-{args.tag}" if args.tag else ""))
        summary.append(table(name + (f" [{args.tag}]" if args.tag else ""),
                             json.loads((run / "health.json").read_text())))
        print(summary[-1], flush=True)
    path = args.out / (f"summary-{args.tag}.md" if args.tag else "summary.md")
    path.write_text("\n\n".join(summary) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
