"""`dancerev ablate DATASET -o OUT --epochs N`: the paper's learning-approach ablation.

The same model and training settings are trained once per curriculum schedule
(teacher_forcing, const, linear, quadratic, exponential: model/curriculum.py) for N epochs on
the same data and split; each final model (`last`, epoch N, so all had equal training)
dances to the songs of the held-out (validation) clips; then all are evaluated against the
dataset's real clips into one report whose table has one row per schedule, as the paper's
ablation table. What lands in OUT:

    runs/<schedule>/        the training runs (last.json, best.json, history.jsonl)
    generated/<schedule>/   <clip>_<k>.npz: K dances per held-out clip (meta: genre, music)
    classifier.json         the quick style classifier, unless --classifier is given
                            (trained once: a later call reuses it)
    report/                 metrics.json, report.md, plots (eval's report + the runs table)

Re-running the command continues: a run that already reached N epochs is kept, a shorter one
is resumed (its config must be the same), so an interrupted ablation costs nothing done.
The real reference is every clip of the dataset (a few held-out clips are too few windows for
a Gaussian); a dataset without held-out clips dances to its training songs (noted).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import DanceRevError
from ..evaluation.beats import DEFAULT_TOLERANCE
from ..files import check_outputs
from ..weights_pair import pair_files
from .evaluate import QUICK_EPOCHS, prepare_classifier, print_table
from .options import EPOCHS, NUM, SECONDS, SEED, TOLERANCE, add_number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..model.curriculum import SCHEDULES

    parser = subparsers.add_parser(
        "ablate", help="train with every curriculum schedule and compare them in one report",
        description="Train the same configuration with each curriculum schedule "
                    f"({', '.join(SCHEDULES)}) for --epochs epochs on a paired dataset, "
                    "generate dances for the held-out clips' songs with each, and evaluate "
                    "them all into OUT/report (metrics.json, report.md, plots), like the "
                    "paper's ablation table. Re-running continues unfinished runs.")
    parser.add_argument("dataset", help="paired dataset folder (motions + songs)")
    parser.add_argument("-o", "--output", required=True, help="folder for runs, dances, "
                                                              "report")
    add_number(parser, "--epochs", bounds=EPOCHS, required=True, help="epochs per schedule")
    parser.add_argument("--config", help='JSON file {"model": {...}, "training": {...}} as '
                                         "for `dancerev train` (schedule is set per run)")
    parser.add_argument("--schedules", help="comma-separated subset of the schedules "
                                            "(default: all five)")
    add_number(parser, "--seconds", bounds=SECONDS,
               help="length of each generated dance (default: its held-out clip's length; 60 "
                    "shows the long-term curve)")
    add_number(parser, "--num", bounds=NUM, default=2,
               help="dances per held-out song (default 2, for multimodality)")
    add_number(parser, "--seed", bounds=SEED, default=0, help="generation seed (default 0)")
    parser.add_argument("--classifier", help="style classifier to score with (default: "
                                             "train one on the dataset)")
    parser.add_argument("--no-classifier", action="store_true",
                        help="skip the classifier metrics")
    add_number(parser, "--classifier-epochs", bounds=EPOCHS, default=QUICK_EPOCHS,
               help=f"epochs of the quick classifier (default {QUICK_EPOCHS})")
    add_number(parser, "--tolerance", bounds=TOLERANCE, default=DEFAULT_TOLERANCE,
               help=f"beat hit tolerance in seconds (default {DEFAULT_TOLERANCE:g})")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="training device (generation runs on CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def _schedules(text: str | None) -> list[str]:
    from ..model.curriculum import SCHEDULES

    if not text:
        return list(SCHEDULES)
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCHEDULES]
    if unknown or not chosen:
        raise DanceRevError(f"unknown schedule(s) {', '.join(unknown) or '(none given)'} "
                            f"(known: {', '.join(SCHEDULES)})")
    return list(dict.fromkeys(chosen))


def train_schedule(data: Any, model_config: Any, config: Any, run_dir: Path, device: str,
                   progress: bool) -> dict[str, Any]:
    """Train (or continue, or keep) one schedule's run; its final numbers."""
    from ..model.checkpoint import checkpoint_json
    from ..training import load_run, train

    resume = None
    if checkpoint_json(run_dir / "last").is_file():
        resume = load_run(run_dir)
        stored = dict(resume.training["train_config"], epochs=config.epochs)
        if (resume.config.without_statistics() != model_config.without_statistics()
                or stored != config.to_dict()):
            raise DanceRevError(f"{run_dir} holds a run of another configuration; choose "
                                "another output folder for this ablation")
    started = time.perf_counter()
    if resume is not None and resume.training["epoch"] >= config.epochs:
        print(f"{model_config.schedule}: already trained ({resume.training['epoch']} epochs)")
    else:
        train(data, model_config, config, run_dir, device=device, resume=resume,
              progress=progress, log=None)
    history = _history(run_dir / "history.jsonl")
    last = history[-1] if history else {}
    return {"schedule": model_config.schedule, "epochs": last.get("epoch", 0),
            "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
            "self_fed_length": last.get("self_fed_length"),
            "seconds": round(time.perf_counter() - started, 2), "run": str(run_dir)}


def _history(path: Path) -> list[dict[str, Any]]:
    import json

    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def held_out_clips(dataset: str, data: Any) -> tuple[list[Any], list[str]]:
    """The validation clips of the split (as paired-dataset clips), else all clips."""
    from ..formats.paired_dataset import list_clips

    clips = list_clips(dataset, validate_motion=False).clips
    names = set(data.summary.get("val_clips", []))
    held = [clip for clip in clips if clip.name in names]
    if held:
        return held, []
    return clips, ["the split has no held-out clip: the models dance to their training songs"]


def generate_for(clips: list[Any], checkpoint_path: Path, out_dir: Path, seconds: float | None,
                 num: int, seed: int) -> int:
    """K dances per held-out clip's song with one model; the number of files written."""
    from ..formats.motion_npz import save_motion
    from ..generation.pipeline import generate_dance
    from ..model.checkpoint import load_checkpoint
    from ..music.analysis import analyse_song

    checkpoint = load_checkpoint(checkpoint_path, device="cpu")
    fps = checkpoint.config.fps
    written = 0
    for clip in clips:
        music = analyse_song(clip.audio_path, fps=fps)
        length = seconds or clip.load_motion(joints="canonical").duration
        if clip.audio_offset * fps >= music.num_frames:
            continue
        dances = generate_dance(music, checkpoint, seconds=length, seed=seed, num=num,
                                start=clip.audio_offset, beat_sync=False)  # the model's own
        for k, dance in enumerate(dances, start=1):
            dance.meta.update(genre=clip.genre, music=clip.name, real_clip=clip.name)
            save_motion(dance, out_dir / f"{clip.name}_{k}.npz")
            written += 1
    return written


def _earlier_classifier(path: Path, source: str, fps: float) -> str | None:
    """The quick classifier an earlier call of this ablation trained, if it fits."""
    if not path.is_file():
        return None
    from ..evaluation.classifier import load_classifier

    earlier = load_classifier(path)
    if earlier.training.get("source") == source and earlier.config.fps == fps:
        print(f"using the style classifier trained by an earlier call: {path}")
        return str(path)
    return None


def runs_markdown(runs: list[dict[str, Any]]) -> str:
    from ..evaluation.report import markdown_table

    rows = [[r["schedule"], str(r["epochs"]), _fmt(r["train_loss"]), _fmt(r["val_loss"]),
             str(r["self_fed_length"]), f"{r['seconds']:.1f}"] for r in runs]
    return markdown_table(["schedule", "epochs", "train L1", "val L1",
                           "self-fed length p at the end", "seconds (this call)"], rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def run(args: argparse.Namespace) -> int:
    from ..evaluation.report import write_report
    from ..evaluation.suite import DanceSet, Settings, evaluate, load_dance_set
    from ..model import ModelConfig
    from ..training import TrainConfig, load_training_data
    from ..training.run import read_config_file

    if args.classifier and args.no_classifier:
        raise DanceRevError("--classifier and --no-classifier contradict each other")
    schedules = _schedules(args.schedules)
    progress = not args.quiet
    out = Path(args.output)
    trains_classifier = not (args.classifier or args.no_classifier)
    check_outputs([out / "classifier.json"] if trains_classifier else [],
                  [args.dataset, args.config,
                   *(pair_files(args.classifier) if args.classifier else ())], folders=[out])
    model_values, training_values = read_config_file(args.config) if args.config else ({}, {})
    model_values.pop("schedule", None)
    base = ModelConfig.from_dict(model_values)
    config = TrainConfig.from_dict({**training_values, "epochs": args.epochs})
    data = load_training_data(args.dataset, fps=base.fps, seq_len=config.seq_len,
                              joint_set=model_values.get("joint_set"), data_format="paired",
                              val_fraction=config.val_fraction, seed=config.seed,
                              mirror=config.mirror, pose_encoding=base.pose_encoding,
                              log=print)
    base = replace(base, joint_set=data.joint_set)
    print(f"data: {data.summary['clips']} clips, {len(data.train)} training and "
          f"{len(data.val)} validation windows of {config.seq_len} frames; "
          f"{len(schedules)} schedules x {args.epochs} epochs")

    runs = []
    for schedule in schedules:
        print(f"training {schedule}")
        runs.append(train_schedule(data, replace(base, schedule=schedule), config,
                                   out / "runs" / schedule, args.device, progress))

    clips, notes = held_out_clips(args.dataset, data)
    print(f"generating {args.num} dance(s) for each of {len(clips)} held-out song(s) with "
          f"each schedule")
    for schedule in schedules:
        folder = out / "generated" / schedule
        for old in folder.rglob("*.npz") if folder.is_dir() else ():
            old.unlink()
        generate_for(clips, out / "runs" / schedule / "last.json", folder, args.seconds,
                     args.num, args.seed)

    settings = Settings(fps=base.fps, tolerance=args.tolerance)
    real = load_dance_set(args.dataset, base.fps, name="real", progress=progress)
    generated: list[DanceSet] = [load_dance_set(out / "generated" / schedule, base.fps,
                                                name=schedule) for schedule in schedules]
    classifier_path = args.classifier or _earlier_classifier(out / "classifier.json",
                                                             real.source, base.fps)
    classifier, classifier_notes = prepare_classifier(
        real, classifier_path, args.no_classifier, base.fps, out / "classifier",
        args.classifier_epochs, progress)
    evaluation = evaluate(real, generated, classifier, settings,
                          notes + classifier_notes, progress=progress, log=print)
    extra = {"training runs": {"runs": runs, "markdown": runs_markdown(runs)},
             "ablation": {"dataset": str(args.dataset), "epochs": args.epochs,
                          "model": base.to_dict(), "training": config.to_dict(),
                          "held_out_clips": [clip.name for clip in clips],
                          "dances_per_song": args.num, "seconds": args.seconds}}
    written = write_report(evaluation, out / "report",
                           title=f"Curriculum ablation: {len(schedules)} schedules x "
                                 f"{args.epochs} epochs", extra=extra)
    print_table(evaluation.metrics)
    print(f"wrote {', '.join(path.name for path in written)} to {out / 'report'}")
    return 0
