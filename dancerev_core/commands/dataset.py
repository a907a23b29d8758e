"""`dancerev dataset DIR`: list a paired dataset folder and report unusable clips."""

from __future__ import annotations

import argparse
from collections import Counter

from ..formats.paired_dataset import list_clips


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dataset", help="check a paired dataset folder (motion + song with the same name)",
        description="List the motion + song pairs in a dataset folder, read every motion "
                    "once, and report the clips that cannot be used and why.")
    parser.add_argument("folder", help="dataset folder")
    parser.add_argument("--quick", action="store_true",
                        help="match files only; do not read the motions")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    listing = list_clips(args.folder, validate_motion=not args.quick)
    genres = Counter(clip.genre for clip in listing.clips)
    for clip in listing.clips:
        offset = f" (song from {clip.audio_offset:g} s)" if clip.audio_offset else ""
        print(f"ok        {clip.name} [{clip.genre}]: {clip.motion_path.name} + "
              f"{clip.audio_path.name}{offset}")
    for problem in listing.unusable:
        print(f"unusable  {problem}")
    summary = ", ".join(f"{genre} {count}" for genre, count in sorted(genres.items()))
    print(f"{len(listing.clips)} usable clips ({summary or 'none'}), "
          f"{len(listing.unusable)} unusable")
    return 0 if listing.clips else 1
