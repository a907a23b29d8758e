"""`dancerev generate AUDIO --model CKPT -o OUT.npz`: dances for a song from a trained model.

torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse

from ..files import check_outputs
from ..skeletons import JOINT_SETS
from ..weights_pair import pair_files
from .options import (
    NUM,
    SECONDS,
    SEED,
    START,
    add_beat_sync_option,
    add_number,
    add_shaping_options,
    shaping_of,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate dances for a song with a trained model",
        description="Analyse a song (features through the cache, at the model's fps) and "
                    "write the model's dance as a DanceRev motion .npz in the model's joint "
                    "set and fps, with the song's beats (seconds from the motion's first "
                    "frame) in its meta. With --num K, writes OUT_1.npz .. OUT_K.npz, K "
                    "different dances made in one batched pass. The same --seed and --num "
                    "give the same dances.")
    parser.add_argument("audio", help="song file (mp3, m4a, ogg, wav, flac)")
    parser.add_argument("--model", required=True, help="checkpoint (NAME or NAME.json)")
    parser.add_argument("-o", "--output", required=True, help="motion file to write (.npz)")
    add_number(parser, "--seconds", bounds=SECONDS,
               help="length of the dance (default: to the end of the song)")
    add_number(parser, "--start", bounds=START, default=0.0,
               help="where in the song the dance starts, seconds (default 0)")
    add_number(parser, "--seed", bounds=SEED, default=0, help="random seed (default 0)")
    add_number(parser, "--num", bounds=NUM, default=1,
               help="number of different dances (default 1)")
    parser.add_argument("--joints", choices=sorted(JOINT_SETS),
                        help="refuse a model that makes another joint set")
    parser.add_argument("--plain", action="store_true",
                        help="use the straightforward fp32 decoder loop instead of the fast "
                             "int8 one (several times slower; the fast one stays within "
                             "0.01 of it)")
    parser.add_argument("--no-cache", action="store_true",
                        help="analyse the song again instead of using the feature cache")
    add_beat_sync_option(parser)
    add_shaping_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..generation.pipeline import variation_paths
    from ..generation.shaping import shape_dance
    from ..generation.song import dances_for_song, write_dances

    shaping = shaping_of(args)
    check_outputs(variation_paths(args.output, args.num), [args.audio, *pair_files(args.model)])
    dances = dances_for_song(args.audio, args.model, seconds=args.seconds, start=args.start,
                             seed=args.seed, num=args.num, joints=args.joints,
                             decoder="plain" if args.plain else "fast",
                             use_cache=not args.no_cache, beat_sync=not args.no_beat_sync)
    dances = [shape_dance(dance, shaping) for dance in dances]
    for dance, path in zip(dances, write_dances(dances, args.output), strict=True):
        synced = dance.meta.get("beat_sync")
        print(f"wrote {path}: {dance.num_frames} frames at {dance.fps:g} fps "
              f"({dance.num_frames / dance.fps:.2f} s from {dance.meta['audio_start']:.2f} s), "
              f"{dance.skeleton}, {len(dance.meta['beat_times'])} beats"
              + (f", {synced['on_beat_after']} of {synced['kinematic_beats_after']} accents on "
                 f"them ({synced['on_beat_before']} of {synced['kinematic_beats']} before beat "
                 "sync)" if synced else ""))
    return 0
