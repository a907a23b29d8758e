"""Command-line options that several subcommands share, defined once."""

from __future__ import annotations

import argparse


def add_beat_sync_option(parser: argparse.ArgumentParser) -> None:
    """--no-beat-sync, shared by every command that generates (beat_sync.py)."""
    parser.add_argument("--no-beat-sync", action="store_true",
                        help="keep the model's own timing instead of re-timing each dance "
                             "by a little so its accents land on the beats")
