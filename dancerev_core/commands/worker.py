"""`dancerev worker`: the worker process (`python -m dancerev_core.worker`) under the CLI."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run one job spoken to in JSON lines (what the Blender add-on starts)",
        description="Read one request as a JSON line on stdin, write JSON events on stdout "
                    "(protocol: dancerev_core/worker/__init__.py and the README).")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..worker.run import serve

    serve()  # ends the process with the job's exit code
    return 0
