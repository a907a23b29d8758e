"""Signals handled one way for the length of a block, and the old handlers back after.

Python runs signal handlers only in the main thread; called from another thread (a test
runner's, an embedding application's) the blocks run with the handlers as they are.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NoReturn

Handler = Callable[[int, Any], None] | int
# What a command says when a signal stops it; its exit status is 128 + the signal number.
STOPPED = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` runs: temp files go, outputs
    stay as they were."""


def raise_stop(signum: int, frame: object = None) -> None:
    """The exception a stop signal unwinds with: KeyboardInterrupt, or Terminated."""
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


@contextmanager
def handled(signum: int, handler: Handler) -> Iterator[None]:
    """`handler` (a function, or signal.SIG_IGN) for `signum` while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    original = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, original)


@contextmanager
def recorded(signums: tuple[int, ...] = tuple(STOPPED)) -> Iterator[list[int]]:
    """Within the block these signals are only noted, in the list it yields.

    For a long call into C that runs Python callbacks (Blender's render runs app handlers
    between frames): an exception raised by a signal handler inside such a callback is
    printed and dropped by the C side, so Ctrl-C would be lost. The caller checks the list
    in its callbacks and after the call, and stops the way it can.
    """
    received: list[int] = []

    def note(signum: int, frame: object) -> None:
        received.append(signum)

    with ExitStack() as stack:
        for signum in signums:
            stack.enter_context(handled(signum, note))
        yield received


def exit_now(code: int, remove: tuple[str | Path, ...] = ()) -> NoReturn:
    """End the process with `code` at once, skipping the interpreter's shutdown.

    For where unwinding is not possible (inside a C call that cannot be cancelled from
    Python) or the shutdown itself fails (bpy 4.2's crash). Files and folders in `remove`
    go first, since no `finally` runs after this.
    """
    for path in remove:
        path = Path(path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
