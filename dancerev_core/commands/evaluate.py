"""`dancerev eval`: the paper's and the 3D benchmark's metrics, written as a report with plots.

    dancerev eval --real DIR --generated DIR [--generated DIR ...] -o REPORT_DIR
    dancerev eval train-classifier DIR -o CLASSIFIER

Without `--classifier`, `eval` trains a style classifier on the real set first (a few
seconds to a minute on CPU) and saves it in the report folder, so FID and ACC are never
silently missing; the report says it was trained on the very windows it then scores (the
real row's ACC is then in-sample). `--no-classifier` skips the classifier metrics instead,
and a real set with fewer than two genres skips them with a note. torch is imported only when
a classifier is trained or used.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DanceRevError
from ..evaluation.beats import DEFAULT_TOLERANCE
from ..evaluation.suite import CLIP_SECONDS, DEFAULT_FPS
from ..files import check_outputs
from ..weights_pair import json_path, pair_files
from .options import (
    BATCH_SIZE,
    EPOCHS,
    FPS,
    FRACTION,
    LEARNING_RATE,
    SECONDS,
    SEED,
    TOLERANCE,
    WINDOW,
    add_number,
)

if TYPE_CHECKING:
    from ..evaluation.classifier import LoadedClassifier
    from ..evaluation.suite import DanceSet

QUICK_EPOCHS = 30


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="score generated dances against real ones (FID, ACC, beats, FID_k...)",
        description="Compute the paper's metrics (style-classifier FID, ACC, diversity, "
                    "multimodality, beat coverage and hit rate, long-term FID) and the 3D "
                    "benchmark's (FID_k, FID_g, Div_k, Div_g, beat-align score) for one or "
                    "more generated sets against a real set; writes REPORT_DIR/metrics.json, "
                    "report.md and PNG plots. A set is a paired dataset folder (motions + "
                    "songs) or a folder of motion files (.npz from `dancerev generate`). "
                    "`dancerev eval train-classifier` trains the style classifier alone.")
    parser.add_argument("--real", help="folder of real dances (a paired dataset folder)")
    parser.add_argument("--generated", action="append", default=[], metavar="DIR",
                        help="folder of generated dances; repeat to compare several sets")
    parser.add_argument("--name", action="append", default=[],
                        help="name of each --generated set in the report, in order "
                             "(default: the folder names)")
    parser.add_argument("-o", "--output", help="report folder to write")
    parser.add_argument("--classifier", help="style classifier (NAME or NAME.json) from "
                                             "`dancerev eval train-classifier`")
    parser.add_argument("--no-classifier", action="store_true",
                        help="skip FID, ACC, diversity and multimodality instead of training "
                             "a classifier on the real set")
    add_number(parser, "--classifier-epochs", bounds=EPOCHS, default=QUICK_EPOCHS,
               help=f"epochs of the quick classifier (default {QUICK_EPOCHS})")
    add_number(parser, "--fps", bounds=FPS,
               help=f"evaluation frame rate (default: the classifier's, else {DEFAULT_FPS:g})")
    add_number(parser, "--tolerance", bounds=TOLERANCE, default=DEFAULT_TOLERANCE,
               help=f"beat hit tolerance in seconds (default {DEFAULT_TOLERANCE:g})")
    add_number(parser, "--clip-seconds", bounds=SECONDS, default=CLIP_SECONDS,
               help=f"clip length of the long-term FID (default {CLIP_SECONDS:g})")
    parser.add_argument("--unit", choices=("auto", "dance", "window"), default="auto",
                        help="FID_k/FID_g per dance or per 2-s window (default auto: per "
                             "dance when every set has 20+ dances)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)
    commands = parser.add_subparsers(dest="eval_command", metavar="train-classifier")
    train = commands.add_parser(
        "train-classifier", help="train the style classifier on real dances",
        description="Train the paper's style classifier (pose embedding, one LSTM of 200, "
                    "genre head) on 50-frame windows of real dances with 2+ genres (genre = "
                    "sub-folder or sidecar/meta), holding out whole dances to measure its "
                    "accuracy; saves CLASSIFIER.json + its .safetensors.")
    train.add_argument("dataset", help="folder of real dances (paired dataset or motions in "
                                       "genre sub-folders)")
    train.add_argument("-o", "--output", required=True, help="classifier to write (NAME)")
    add_number(train, "--fps", bounds=FPS, default=DEFAULT_FPS,
               help=f"frame rate of its windows (default {DEFAULT_FPS:g}: the model's)")
    add_number(train, "--epochs", bounds=EPOCHS, default=40, help="epochs (default 40)")
    add_number(train, "--window", bounds=WINDOW, default=50, help="frames per window (50)")
    add_number(train, "--val-fraction", bounds=FRACTION, default=0.2,
               help="share of each genre's dances held out (default 0.2)")
    add_number(train, "--lr", bounds=LEARNING_RATE, default=1e-3,
               help="Adam learning rate (1e-3)")
    add_number(train, "--batch-size", bounds=BATCH_SIZE, default=32,
               help="windows per step (32)")
    add_number(train, "--seed", bounds=SEED, default=0, help="random seed (default 0)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train_classifier)


# ---------------------------------------------------------------------- train-classifier
def run_train_classifier(args: argparse.Namespace) -> int:
    from ..evaluation.classifier import save_classifier, train_classifier
    from ..evaluation.suite import load_dance_set

    check_outputs([json_path(args.output)], [args.dataset])
    real = load_dance_set(args.dataset, args.fps, progress=not args.quiet)
    result = train_classifier(real.dances, fps=args.fps, epochs=args.epochs,
                              batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                              val_fraction=args.val_fraction, window=args.window,
                              progress=not args.quiet, log=print)
    result.training["source"] = str(args.dataset)
    path = save_classifier(args.output, result.model, result.training)
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------- eval
def prepare_classifier(real: DanceSet, path: str | None, skip: bool, fps: float,
                       save_to: Path, epochs: int = QUICK_EPOCHS, progress: bool = True,
                       log: Callable[[str], None] = print
                       ) -> tuple[LoadedClassifier | None, list[str]]:
    """The given classifier, none (`skip`), or a quick one trained on `real` (module doc)."""
    from ..evaluation.classifier import load_classifier

    if path:
        return load_classifier(path), []
    if skip:
        return None, ["--no-classifier: FID, ACC, diversity and multimodality skipped"]
    genres = sorted({d.genre for d in real.dances if d.genre})
    if len(genres) < 2:
        return None, [f"the real set has {len(genres)} genre(s); a style classifier needs 2+, "
                      "so FID, ACC, diversity and multimodality are skipped"]
    from ..evaluation.classifier import save_classifier, train_classifier

    log(f"no --classifier: training one on the real set ({epochs} epochs)")
    result = train_classifier(real.dances, fps=fps, epochs=epochs, progress=progress, log=log)
    result.training["source"] = real.source
    saved = save_classifier(save_to, result.model, result.training)
    return load_classifier(saved), [
        f"the style classifier was trained here on the real set's own windows ({saved.name}; "
        "held-out accuracy "
        + (f"{result.training['val_accuracy']:.1%}" if result.training["val_accuracy"]
           is not None else "not measured")
        + "): the real row's ACC is in-sample; pass --classifier to use a fixed one"]


def run(args: argparse.Namespace) -> int:
    from ..evaluation.report import write_report
    from ..evaluation.suite import Settings, evaluate, load_dance_set

    if not args.real or not args.generated or not args.output:
        raise DanceRevError("give --real DIR, at least one --generated DIR and -o REPORT_DIR "
                            "(or use `dancerev eval train-classifier`)")
    if args.name and len(args.name) != len(args.generated):
        raise DanceRevError(f"{len(args.name)} --name for {len(args.generated)} --generated "
                            "sets; give one name per set or none")
    if args.classifier and args.no_classifier:
        raise DanceRevError("--classifier and --no-classifier contradict each other")
    output = Path(args.output)
    check_outputs([output / "metrics.json", output / "report.md"],
                  [args.real, *args.generated,
                   *(pair_files(args.classifier) if args.classifier else ())], folders=[output])
    progress = not args.quiet
    classifier_fps = None
    if args.classifier:
        from ..evaluation.classifier import load_classifier

        classifier_fps = load_classifier(args.classifier).config.fps
    fps = args.fps or classifier_fps or DEFAULT_FPS
    settings = Settings(fps=fps, tolerance=args.tolerance, clip_seconds=args.clip_seconds,
                        unit=args.unit)
    real = load_dance_set(args.real, fps, progress=progress)
    names = unique_names([real.name] + (args.name or [_set_name(path, i) for i, path in
                                                      enumerate(args.generated)]))[1:]
    generated = [load_dance_set(path, fps, name=name, progress=progress)
                 for path, name in zip(args.generated, names, strict=True)]
    classifier, notes = prepare_classifier(real, args.classifier, args.no_classifier, fps,
                                           output / "classifier", args.classifier_epochs,
                                           progress)
    evaluation = evaluate(real, generated, classifier, settings, notes, progress=progress,
                          log=print)
    written = write_report(evaluation, output)
    print_table(evaluation.metrics)
    print(f"wrote {', '.join(path.name for path in written)} to {output}")
    return 0


def unique_names(names: Sequence[str]) -> list[str]:
    """Names as given, a repeated one numbered (`real`, `real (2)`): rows must differ."""
    result: list[str] = []
    for name in names:
        candidate, count = name, 1
        while candidate in result:
            count += 1
            candidate = f"{name} ({count})"
        result.append(candidate)
    return result


def _set_name(path: str, index: int) -> str:
    name = Path(path).resolve().name
    return name or f"generated {index + 1}"


def print_table(metrics: dict) -> None:
    from ..evaluation.report import table_rows

    header, rows = table_rows(metrics)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in (header, *rows):
        print("  ".join(text.rjust(width) for text, width in zip(line, widths, strict=True)))
