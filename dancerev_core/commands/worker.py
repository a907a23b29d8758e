"""`dancerev worker`: the worker process (`python -m dancerev_core.worker`) under the CLI."""

from __future__ import annotations

import argparse

from ..errors import DanceRevError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run one job spoken to in JSON lines (what the Blender add-on starts)",
        description="Read one request as a JSON line on stdin, write JSON events on stdout "
                    "(protocol: dancerev_core/worker/__init__.py and the README).")
    parser.add_argument("--warm", action="store_true",
                        help="stay after each job for the next request, keeping the model and "
                             "the songs loaded (dancerev_core/worker/warm.py)")
    parser.add_argument("--listen", metavar="SOCKET",
                        help="with --warm: serve clients one at a time on this Unix socket "
                             "until stdin closes (what dancerev batch runs per parallel job)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.listen and not args.warm:
        raise DanceRevError("--listen needs --warm")
    if args.warm:
        from ..worker.warm import serve
    else:
        from ..worker.run import serve

    serve()  # ends the process with the job's exit code
    return 0
