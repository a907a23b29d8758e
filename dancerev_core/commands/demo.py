"""`dancerev demo [SONG]`: the main job on the built-in model, outputs in out/.

Song (yours, or a groove the project synthesises itself, so no third-party file is needed)
-> dance from the default model -> the default dancer in `out/demo.blend`, a preview video
with the song `out/demo.mp4` and the dance as `out/demo.bvh`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .options import SECONDS, SEED, add_beat_sync_option, add_number

DEMO_FPS = 24  # the preview renders 24 frames a second: a minute of video in about a minute
DEMO_SONG = "demo-song.wav"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="song -> dance -> out/demo.blend, out/demo.mp4, out/demo.bvh",
        description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("audio", nargs="?", help="song file (default: a synthesised demo "
                                                 "groove, 30 s)")
    parser.add_argument("-o", "--output-dir", default="out", help="folder (default out/)")
    parser.add_argument("--character", help="character file (.blend, .glb, .gltf, .fbx); "
                                            "default: DanceRev's own dancer")
    parser.add_argument("--model", help="checkpoint (.json); default: the built-in model")
    add_number(parser, "--seconds", bounds=SECONDS, help="length (default: the whole song)")
    add_number(parser, "--seed", bounds=SEED, default=0, help="random seed (default 0)")
    add_beat_sync_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..files import check_outputs
    from ..weights_pair import pair_files
    from .blender_side import addon_module

    started = time.perf_counter()
    out = Path(args.output_dir)
    written = ["demo.blend", "demo.mp4", "demo.bvh"] + ([] if args.audio else [DEMO_SONG])
    check_outputs([out / name for name in written],
                  [args.audio, args.character, *(pair_files(args.model) if args.model else ())],
                  folders=[out])
    out.mkdir(parents=True, exist_ok=True)
    song = args.audio
    if song is None:
        from ..recipe.synth import write_demo_track

        song = out / DEMO_SONG
        write_demo_track(song)
        print(f"  song: {song} (synthesised by DanceRev)")
    headless = addon_module("headless")
    summary, log_path = headless.quietly("demo", lambda log: headless.dance_song(
        song, out / "demo.blend", args.character, render_path=out / "demo.mp4",
        bvh_path=out / "demo.bvh", model=args.model or "", seconds=args.seconds,
        seed=args.seed, beat_sync=not args.no_beat_sync, fps=DEMO_FPS, log=log))
    headless.print_summary(summary, started, log_path)
    return 0
