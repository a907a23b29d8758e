"""`dancerev generate AUDIO --model CKPT -o OUT.npz`: dances for a song from a trained model.

torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DanceRevError
from ..skeletons import JOINT_SETS

if TYPE_CHECKING:
    from ..motion import Motion


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
    add_beat_sync_option(parser)
    parser.set_defaults(run=run)


def add_beat_sync_option(parser: argparse.ArgumentParser) -> None:
    """--no-beat-sync, shared by every command that generates (beat_sync.py)."""
    parser.add_argument("--no-beat-sync", action="store_true",
                        help="keep the model's own timing instead of re-timing each dance "
                             "by a little so its accents land on the beats")


def run(args: argparse.Namespace) -> int:
    dances = dances_for_song(args.audio, args.model, seconds=args.seconds, start=args.start,
                             seed=args.seed, num=args.num, joints=args.joints,
                             decoder="plain" if args.plain else "fast",
                             use_cache=not args.no_cache, beat_sync=not args.no_beat_sync)
    for dance, path in zip(dances, write_dances(dances, args.output), strict=True):
        synced = dance.meta.get("beat_sync")
        print(f"wrote {path}: {dance.num_frames} frames at {dance.fps:g} fps "
              f"({dance.num_frames / dance.fps:.2f} s from {dance.meta['audio_start']:.2f} s), "
              f"{dance.skeleton}, {len(dance.meta['beat_times'])} beats"
              + (f", {synced['on_beat_after']} of {synced['kinematic_beats_after']} accents on "
                 f"them ({synced['on_beat_before']} of {synced['kinematic_beats']} before beat "
                 "sync)" if synced else ""))
    return 0


def dances_for_song(audio: str | Path, model: str | Path, *, seconds: float | None = None,
                    start: float = 0.0, seed: int = 0, num: int = 1, joints: str | None = None,
                    decoder: str = "fast", use_cache: bool = True, device: str | None = None,
                    beat_sync: bool = True,
                    progress: Callable[[int, int], None] | None = None,
                    stage: Callable[[str], None] | None = None) -> list[Motion]:
    """What `dancerev generate` computes, shared with the add-on's worker.

    Loads the checkpoint (on `device`, default CUDA when present), analyses the song through
    the feature cache at the model's fps and returns `num` dances (`generation.generate_dance`)
    whose meta names the song. `stage(name)` is told "load", "analyse" and "generate" as each
    begins; `progress(done, total)` counts decoded frames.
    """
    from ..analysis import analyse_song
    from ..generation import generate_dance
    from ..model.checkpoint import load_checkpoint

    say = stage or (lambda _name: None)
    if num < 1:
        raise DanceRevError(f"--num must be at least 1, got {num}")
    say("load")
    checkpoint = load_checkpoint(model, expect_joint_set=joints, device=device)
    say("analyse")
    music = analyse_song(audio, fps=checkpoint.config.fps, use_cache=use_cache)
    say("generate")
    dances = generate_dance(music, checkpoint, seconds=seconds, seed=seed, num=num,
                            start=start, decoder=decoder, beat_sync=beat_sync,
                            progress=progress)
    for dance in dances:
        dance.meta["music"] = Path(audio).name  # groups variations for multimodality
    return dances


def write_dances(dances: list[Motion], output: str | Path) -> list[Path]:
    """Write OUT.npz (or OUT_1.npz .. OUT_K.npz), all or none.

    Each file is written atomically; if any write fails or is interrupted, the files this
    call already wrote are removed again, so a cancelled or failed run leaves no partial set.
    """
    from ..formats.motion_npz import save_motion
    from ..generation import variation_paths

    written: list[Path] = []
    try:
        for dance, path in zip(dances, variation_paths(output, len(dances)), strict=True):
            save_motion(dance, path)
            written.append(Path(path))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written
