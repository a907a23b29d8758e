"""The `dancerev` command line.

Each subcommand lives in its own module and registers itself through `add_parser`; user
mistakes print one line and exit with status 2: a `DanceRevError`, an option the parser
refuses (a bound, a missing argument), or a file the system refuses to read or write (an
`OSError` naming it: permission denied, a folder where a file should be). DanceRev's own
warnings are one line each too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__, signals
from .commands import SUBCOMMANDS
from .errors import DanceRevError

PACKAGE = Path(__file__).resolve().parent


class UsageError(DanceRevError):
    """The parser refused the command line (`prog` says which (sub)command)."""

    def __init__(self, prog: str, message: str) -> None:
        self.prog = prog
        super().__init__(message)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (its subcommands' parsers are this class
    too): the usage block is for --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        print(f"{error.prog}: error: {error}", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 0
    try:
        # SIGTERM (a `kill`, a job scheduler's stop) unwinds like Ctrl-C instead of ending
        # the process on the spot with its temp files left behind
        with (one_line_warnings(f"dancerev {args.command}"),
              signals.handled(signal.SIGTERM, signals.raise_stop)):
            return int(args.run(args) or 0)
    except DanceRevError as error:
        print(f"dancerev {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if not error.filename:
            raise  # not about a file the user named: a bug, shown in full
        print(f"dancerev {args.command}: error: {error.filename}: "
              f"{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (signals.Terminated)
        signum = signal.SIGTERM if isinstance(stop, signals.Terminated) else signal.SIGINT
        print(f"dancerev {args.command}: {signals.STOPPED[signum]}", file=sys.stderr)
        return 128 + signum


def run() -> None:
    """The `dancerev` program: `main`, then exit with its status.

    bpy 4.2's module crashes (SIGSEGV) while the interpreter shuts down, after the work is
    done and the files are written; a command that loaded it (`dance`, `demo`) would exit
    -11 whatever happened. So once it is loaded, the process ends with the command's status
    before that shutdown.
    """
    code = main()
    bpy = sys.modules.get("bpy")
    if bpy is not None and tuple(bpy.app.version) < (4, 3):
        signals.exit_now(code, remove=(bpy.app.tempdir,))  # what bpy's shutdown would remove
    sys.exit(code)


@contextmanager
def one_line_warnings(prefix: str) -> Iterator[None]:
    """DanceRev's own warnings as `PREFIX: warning: MESSAGE` lines on stderr; other
    libraries' warnings keep Python's format (their source line helps)."""
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: object = None, line: str | None = None) -> None:
        if Path(filename).resolve().is_relative_to(PACKAGE):
            print(f"{prefix}: warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)  # type: ignore[arg-type]

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


if __name__ == "__main__":
    sys.exit(main())
