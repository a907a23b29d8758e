"""`dancerev features AUDIO -o OUT.npz`: the 438 music features of a song."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..files import atomic_output, check_outputs
from ..music.analysis import analyse_song
from ..music.features import MODEL_FPS
from .options import FPS, add_number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features", help="extract the paper's 438 music features per frame from a song",
        description="Decode a song (mp3, m4a, ogg, wav, flac) and write its music features: "
                    "features (T x 438, float32), fps, beat_times (s), tempo (BPM), "
                    "duration (s).")
    parser.add_argument("audio", help="song file")
    parser.add_argument("-o", "--output", required=True, help="features file to write (.npz)")
    add_number(parser, "--fps", bounds=FPS, default=MODEL_FPS,
               help="frame rate of the features (default 15, the model's rate; 30 is the "
                    "native analysis rate)")
    parser.add_argument("--no-cache", action="store_true",
                        help="analyse the song again instead of using the feature cache")
    parser.add_argument("--reference", action="store_true",
                        help="compute with librosa exactly as the paper's code does (slower; "
                             "the default fast path matches it within documented tolerances)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_outputs([args.output], [args.audio])
    music = analyse_song(args.audio, fps=args.fps, use_cache=not args.no_cache,
                         reference=args.reference)
    output = Path(args.output)
    with atomic_output(output) as stream:
        np.savez(stream, features=music.features.astype(np.float32), fps=np.float64(music.fps),
                 beat_times=np.asarray(music.beat_times, np.float64),
                 tempo=np.float64(music.tempo), duration=np.float64(music.duration))
    print(f"wrote {output}: {music.num_frames} frames x {music.features.shape[1]} features at "
          f"{music.fps:g} fps, {len(music.beat_times)} beats, tempo {music.tempo:.1f} BPM, "
          f"{music.duration:.2f} s")
    return 0
