"""The `dancerev` command line.

Each subcommand lives in its own module and registers itself through `add_parser`; user
mistakes (a `DanceRevError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .commands import SUBCOMMANDS
from .errors import DanceRevError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dancerev",
        description=f"DanceRev {__version__}: music to dance on 3D characters "
                    "(Dance Revolution, ICLR 2021).",
    )
    parser.add_argument("--version", action="version", version=f"dancerev {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except DanceRevError as error:
        print(f"dancerev {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dancerev {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
