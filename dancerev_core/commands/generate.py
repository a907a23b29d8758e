"""`dancerev generate AUDIO --model CKPT -o OUT.npz`: dances for a song from a trained model.

torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DanceRevError
from ..skeletons import JOINT_SETS


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
    parser.add_argument("--seconds", type=float, help="length of the dance (default: to the "
                                                      "end of the song)")
    parser.add_argument("--start", type=float, default=0.0,
                        help="where in the song the dance starts, seconds (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--num", type=int, default=1, help="number of different dances "
                                                           "(default 1)")
    parser.add_argument("--joints", choices=sorted(JOINT_SETS),
                        help="refuse a model that makes another joint set")
    parser.add_argument("--plain", action="store_true",
                        help="use the straightforward fp32 decoder loop instead of the fast "
                             "int8 one (several times slower; the fast one stays within "
                             "0.01 of it)")
    parser.add_argument("--no-cache", action="store_true",
                        help="analyse the song again instead of using the feature cache")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyse_song
    from ..formats.motion_npz import save_motion
    from ..generation import generate_dance, variation_paths
    from ..model.checkpoint import load_checkpoint

    if args.num < 1:
        raise DanceRevError(f"--num must be at least 1, got {args.num}")
    checkpoint = load_checkpoint(args.model, expect_joint_set=args.joints)
    music = analyse_song(args.audio, fps=checkpoint.config.fps, use_cache=not args.no_cache)
    dances = generate_dance(music, checkpoint, seconds=args.seconds, seed=args.seed,
                            num=args.num, start=args.start,
                            decoder="plain" if args.plain else "fast")
    for dance, path in zip(dances, variation_paths(args.output, args.num), strict=True):
        dance.meta["music"] = Path(args.audio).name  # groups variations for multimodality
        save_motion(dance, path)
        print(f"wrote {path}: {dance.num_frames} frames at {dance.fps:g} fps "
              f"({dance.num_frames / dance.fps:.2f} s from {dance.meta['audio_start']:.2f} s), "
              f"{dance.skeleton}, {len(dance.meta['beat_times'])} beats")
    return 0
