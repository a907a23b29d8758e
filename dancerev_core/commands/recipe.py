"""`dancerev recipe STEP`: the reproducible recipe behind the default model.

Steps:
  data    build the paired (music, 3D dance) training set from CMU motion capture and
          permissively licensed songs plus synthesised music (`dancerev_core.recipe.pairing`)
  train   train the default model on DATA/train with the curriculum, using the recipe's
          sizes (`dancerev_core/pretrained/dance-default.recipe.json`); resumable
  export  the run's best checkpoint, weights only, as the shipped default model
          (`dancerev_core/pretrained/dance-default.json` + safetensors)
  choose  which of a run's checkpoints to ship, judged on the demo groove and training
          songs, never the test songs (`dancerev_core.recipe.choose`)
  evaluate  the quality figures of issue 8 on the data's held-out songs
          (`dancerev_core.recipe.evaluate`): quality.json, quality.md, plots

The whole recipe:
    dancerev recipe data runs/default-data
    dancerev recipe train runs/default-data -o runs/default-model     (add --resume to go on)
    dancerev recipe choose runs/default-model/snapshots --data runs/default-data
    dancerev recipe export runs/default-model --checkpoint snapshots/eNNNN
    dancerev recipe evaluate runs/default-model/best.json --data runs/default-data -o REPORT
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import DanceRevError
from ..files import check_outputs
from ..recipe.shipped import DEFAULT_MODEL, DEFAULT_SHARED, RECIPE_CONFIG
from ..weights_pair import json_path, pair_files
from .options import COUNT, NUM, SECONDS, SEED, add_number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recipe",
        help="the reproducible recipe of the default model (data, train, export, evaluate)",
        description="Steps of the recipe that builds the default model from data whose "
                    "licences allow shipping it.")
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    for add in STEPS.values():
        add(steps)


def _add_data(steps: argparse._SubParsersAction) -> None:
    parser = steps.add_parser(
        "data", help="build the paired training set (CMU mocap warped onto songs' beats)",
        description="Build a paired dataset folder: CMU dance motion capture cut into "
                    "routines, time-warped so that its kinematic beats land on the beats of "
                    "real songs (excerpts) and synthesised songs, mirrored and turned. "
                    "Writes OUT_DIR/train (train on this), OUT_DIR/test (held-out motions on "
                    "held-out songs) and OUT_DIR/manifest.json (sources, licences, seeds, "
                    "split, statistics). Deterministic for a seed.")
    parser.add_argument("out_dir", help="output folder (e.g. runs/default-data)")
    parser.add_argument("--mocap", default=str(DEFAULT_SHARED / "mocap" / "cmu"),
                        help="folder of CMU BVH files by subject (default: "
                             "$DANCEREV_SHARED_DATA/mocap/cmu, else ../shared/data/mocap/cmu)")
    parser.add_argument("--music", default=str(DEFAULT_SHARED / "music"),
                        help="folder of songs, each with a .txt attribution (default: "
                             "$DANCEREV_SHARED_DATA/music)")
    add_number(parser, "--seed", bounds=SEED, default=0, help="random seed (default 0)")
    add_number(parser, "--passes", bounds=COUNT,
               help="routines each training segment appears in (default 6)")
    parser.add_argument("--quick", action="store_true",
                        help="a small subset: 3 clips per subject, one pass, short routines")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier recipe build in OUT_DIR")
    parser.set_defaults(run=run_data)


def run_data(args: argparse.Namespace) -> int:
    from ..recipe.pairing import RecipeConfig, build_dataset

    for label, folder in (("--mocap", args.mocap), ("--music", args.music)):
        if not Path(folder).is_dir():
            raise DanceRevError(f"{folder}: folder not found ({label})")
    check_outputs([Path(args.out_dir) / "manifest.json"], [args.mocap, args.music],
                  folders=[args.out_dir])
    config = RecipeConfig.quick(args.seed) if args.quick else RecipeConfig(seed=args.seed)
    if args.passes is not None:
        config = RecipeConfig(**{**config.__dict__, "passes": args.passes})
    began = time.monotonic()
    manifest = build_dataset(args.out_dir, args.mocap, args.music, config,
                             overwrite=args.force, log=print)
    for part in ("train", "test"):
        s = manifest["summary"][part]
        if not s.get("clips"):
            continue
        before, after = s["beats_before_warp"], s["beats_after_warp"]
        print(f"{part}: {s['clips']} clips, {s['minutes']:.1f} min, songs "
              f"{s['songs']['real']} real + {s['songs']['synth']} synthesised, tempo "
              f"{s['tempo_bpm_tracked'][0]:.0f}-{s['tempo_bpm_tracked'][1]:.0f} BPM, warp rate "
              f"{s['warp_rate']['min']:.2f}-{s['warp_rate']['max']:.2f}, beat hit rate "
              f"{before['hit_rate']:.3f} -> {after['hit_rate']:.3f} (tolerance "
              f"{manifest['measurement']['beat_tolerance_seconds']:g} s)")
    print(f"wrote {args.out_dir} in {time.monotonic() - began:.0f} s; train with: dancerev "
          f"train {Path(args.out_dir) / 'train'} -o OUT")
    return 0


def _add_train(steps: argparse._SubParsersAction) -> None:
    parser = steps.add_parser(
        "train", help="train the default model on a recipe data folder (resumable)",
        description=f"`dancerev train DATA/train -o OUT --config {RECIPE_CONFIG.name}`: the "
                    "recipe's model and training sizes (a small Seq2Seq, bf16 on CPUs with "
                    "bf16 instructions). Stop it any time; --resume continues bit for bit.")
    parser.add_argument("data_dir", help="the folder `recipe data` wrote")
    parser.add_argument("-o", "--output", required=True, help="run folder (checkpoints)")
    parser.add_argument("--epochs", type=int, help="total epochs to reach (default: the "
                                                   "recipe's)")
    parser.add_argument("--resume", action="store_true", help="continue the run in OUTPUT")
    parser.add_argument("--from-shipped", action="store_true",
                        help="continue training the shipped default model (its weights and "
                             "epoch; Adam starts afresh) in a new run folder OUTPUT: what a "
                             "new machine with only the repository can do")
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from ..recipe.shipped import recipe_snapshot_every, seed_run_from_shipped
    from ..training.run import train_run

    data = Path(args.data_dir) / "train"
    if not data.is_dir():
        raise DanceRevError(f"{data}: no training folder (run `dancerev recipe data` first)")
    if args.from_shipped:
        seed_run_from_shipped(Path(args.output))
    resume = args.resume or args.from_shipped
    # a resumed run keeps its settings; the recipe's snapshots are kept either way
    options = {"epochs": args.epochs,
               "snapshot_every": recipe_snapshot_every() if resume else None}
    config = None if resume else RECIPE_CONFIG
    print(f"dancerev train {data} -o {args.output}"
          + (f" --resume --snapshot-every {options['snapshot_every']}" if resume
             else f" --config {config}")
          + (f" --epochs {args.epochs}" if args.epochs is not None else ""))
    train_run(data, args.output, config_file=config, resume=resume, options=options)
    return 0


def _add_export(steps: argparse._SubParsersAction) -> None:
    parser = steps.add_parser(
        "export", help="ship a run's best checkpoint (weights only) as the default model",
        description="Copy RUN/best.json (or --checkpoint) without its optimizer state to "
                    f"{DEFAULT_MODEL.name}.json + .safetensors in dancerev_core/pretrained, "
                    "with the data manifest's summary in its training record.")
    parser.add_argument("run_dir", help="the run folder of `recipe train`")
    parser.add_argument("--checkpoint", default="best", help="best (default) or last")
    parser.add_argument("--data", help="the recipe data folder, to quote its summary")
    parser.add_argument("-o", "--output", default=str(DEFAULT_MODEL),
                        help="where to write (default: the shipped default model)")
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from ..recipe.shipped import export_checkpoint

    check_outputs([json_path(args.output)],
                  [*pair_files(Path(args.run_dir) / args.checkpoint), args.data])
    path, record, size = export_checkpoint(Path(args.run_dir), args.checkpoint, args.output,
                                           data_dir=args.data)
    print(f"wrote {path} (epoch {record.get('epoch')}, {size / 1e6:.1f} MB)")
    return 0


def _add_evaluate(steps: argparse._SubParsersAction) -> None:
    parser = steps.add_parser(
        "evaluate", help="the default model's quality figures on held-out songs (issue 8)",
        description="Generate dances with CHECKPOINT for the held-out songs of the data's "
                    "test split (each test clip's song span, --num dances each) and for "
                    "--seconds of held-out music (the held-out real songs, looped when "
                    "shorter, and the held-out synthesised songs re-rendered from their "
                    "seeds), and measure them against the real motion: no freezing (energy "
                    "of the last 10 s / first 10 s, long-term FID), on the beat (hit rate vs "
                    "the real test motion), variety (between songs, between variations) "
                    "and physical plausibility (feet below the floor, bone lengths, "
                    "frame-to-frame jumps vs the training motion). Writes "
                    "REPORT_DIR/quality.json, quality.md and plots.")
    parser.add_argument("checkpoint", help="model checkpoint (e.g. runs/default-model/best.json)")
    parser.add_argument("--data", required=True, help="the folder `recipe data` wrote")
    parser.add_argument("-o", "--output", required=True, help="report folder")
    add_number(parser, "--seconds", bounds=SECONDS, default=60.0,
               help="length of the long dances (default 60)")
    add_number(parser, "--num", bounds=NUM, default=4, help="dances per song (default 4)")
    add_number(parser, "--seed", bounds=SEED, default=0, help="random seed (default 0)")
    parser.add_argument("--music", default=str(DEFAULT_SHARED / "music"),
                        help="folder holding the held-out real songs (default: "
                             "$DANCEREV_SHARED_DATA/music)")
    parser.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..recipe.evaluate import QualitySettings, evaluate_checkpoint, summary_lines

    check_outputs([Path(args.output) / "quality.json", Path(args.output) / "quality.md"],
                  [*pair_files(args.checkpoint), args.data, args.music], folders=[args.output])
    began = time.monotonic()
    settings = QualitySettings(seconds=args.seconds, num=args.num, seed=args.seed,
                               music_dir=Path(args.music))
    result = evaluate_checkpoint(args.checkpoint, args.data, args.output, settings, log=print)
    epoch = result["checkpoint"].get("epoch")
    print(f"quality of {args.checkpoint}" + (f" (epoch {epoch})" if epoch is not None else "")
          + f": {result['passed']} passed, {result['failed']} failed")
    for line in summary_lines(result):
        print("  " + line)
    print(f"wrote {Path(args.output) / 'quality.md'} and quality.json in "
          f"{time.monotonic() - began:.0f} s")
    return 0


def _add_choose(steps: argparse._SubParsersAction) -> None:
    parser = steps.add_parser(
        "choose", help="which checkpoint to ship, judged on the demo groove and training songs",
        description="Score checkpoints (files, or folders of them) without the held-out test "
                    "songs: on the demo groove (energy kept, on the beat) and on spans of "
                    "training songs (on the beat, how much and how like the data it moves: "
                    "FID_k), and the fastest joint step. Prints a table and the choice: no "
                    "freezing, no step faster than the training motion's, at least as on the "
                    "beat as the real training motion, then the lowest FID_k "
                    "(dancerev_core/recipe/choose.py).")
    parser.add_argument("checkpoints", nargs="+",
                        help="checkpoint JSON files, or folders whose *.json are checkpoints")
    parser.add_argument("--data", required=True, help="the folder `recipe data` wrote")
    add_number(parser, "--every", bounds=COUNT, default=6,
               help="score on every N-th training clip's span (default 6)")
    add_number(parser, "--num", bounds=NUM, default=4, help="dances per song (default 4)")
    parser.add_argument("-o", "--output", help="also write the scores to this JSON file")
    parser.set_defaults(run=run_choose)


def run_choose(args: argparse.Namespace) -> int:
    import json

    from ..files import atomic_output, json_ready, load_json
    from ..recipe.choose import checkpoint_paths, choice_material, choose, score_checkpoint

    paths = checkpoint_paths(args.checkpoints)
    check_outputs([args.output], [*(file for path in paths for file in pair_files(path)),
                                  args.data])
    fps = float(load_json(paths[0])["motion"]["fps"])  # every candidate must share it
    material = choice_material(args.data, fps=fps, every=args.every, log=print)
    print(f"real training motion: fastest step {material.real_fastest:.2f} m/s, beat hit rate "
          f"{material.real_hit_rate:.3f}; {len(paths)} checkpoints")
    print(f"{'checkpoint':40} {'epoch':>5} {'energy':>7} {'hit groove':>10} {'hit train':>9} "
          f"{'speed':>6} {'FID_k':>7} {'fastest':>7}  verdict")
    scores = []
    for path in paths:
        score = score_checkpoint(path, material, num=args.num)
        scores.append(score)
        print(f"{str(path)[-40:]:40} {score.epoch!s:>5} {score.groove_energy:7.3f} "
              f"{score.groove_hit_rate:10.3f} {score.train_hit_rate:9.3f} "
              f"{score.speed_vs_real:6.3f} {score.fid_train:7.1f} {score.fastest:7.2f}  "
              f"{'ok' if score.eligible else score.why_not}")
    chosen = choose(scores)
    print(f"chosen: {chosen.checkpoint} (epoch {chosen.epoch})" if chosen
          else "chosen: none (no checkpoint passes the rule)")
    if args.output:
        report = {"rule": "energy >= 0.5, not frozen in the run's health check, fastest <= "
                          "real, train hit >= real, lowest FID_k",
                  "real": {"fastest": material.real_fastest,
                           "hit_rate": material.real_hit_rate,
                           "speed": material.real_speed},
                  "scores": [score.as_dict() for score in scores],
                  "chosen": chosen.checkpoint if chosen else None}
        with atomic_output(args.output, "w") as stream:
            json.dump(json_ready(report), stream, indent=2)
        print(f"wrote {args.output}")
    return 0


STEPS = {"data": _add_data, "train": _add_train, "export": _add_export,
         "choose": _add_choose, "evaluate": _add_evaluate}
