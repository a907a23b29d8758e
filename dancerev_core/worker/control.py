"""Cancelling a job within a second, wherever it is, without leaving a partial file.

Three steps, each a fallback for the one before:
1. A reader thread watches stdin; `{"cancel": true}` or EOF sets the request, and the job's
   progress callbacks (`check`) raise `Cancelled` at their next call.
2. GRACE_SECONDS later, if the job is still running, the main thread is interrupted like
   Ctrl-C (`_thread.interrupt_main`): our signal handler raises `Cancelled` at the next
   bytecode, even inside a long analysis or a training step. The project's writers are
   atomic and clean up on any exception, so nothing partial is left.
3. HARD_SECONDS after that, a job stuck in native code is abandoned: `cancelled` is
   emitted and the process exits.
Sections that must not be cut (writing a protocol line, committing outputs) are shielded:
an interrupt arriving there is deferred or, once `seal` is called, ignored.
"""

from __future__ import annotations

import _thread
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

GRACE_SECONDS = 0.15
HARD_SECONDS = 5.0


class Cancelled(BaseException):  # noqa: N818 - a signal, not an error
    """Raised in the job's thread to stop it.

    A BaseException (like KeyboardInterrupt) so that library code catching `Exception`
    cannot swallow it.
    """


class Control:
    """The cancel request shared by the stdin reader, the watchdog and the job."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.finished = threading.Event()
        self.reason = ""
        self._shielded = 0
        self._deferred = False
        self._sealed = False
        self._interrupted = False

    # -- main thread ------------------------------------------------------------------------
    def install(self) -> None:
        """Route SIGINT (Ctrl-C, our own interrupt) and SIGTERM to the cancel logic.

        SIGTERM is what the add-on sends a worker that overran its cancel time: it still gets
        the clean-up of an interrupt before the add-on's SIGKILL half a second later.
        """
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def check(self) -> None:
        """Raise Cancelled if a cancel was requested (the cooperative path)."""
        if self.requested.is_set() and not self._shielded and not self._sealed:
            self._interrupted = True
            raise Cancelled

    @contextmanager
    def shield(self) -> Iterator[None]:
        """No Cancelled inside; one that arrives is raised on leaving (unless sealed)."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
            if (not self._shielded and self._deferred and not self._sealed
                    and not self._interrupted):
                self._deferred = False
                self._interrupted = True
                raise Cancelled

    def seal(self) -> None:
        """From now on the job finishes by itself: cancels are too late and are ignored."""
        self._sealed = True
        self.finished.set()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.request("terminated" if signum == signal.SIGTERM else "interrupted")
        if self._sealed or self._interrupted:
            return
        if self._shielded:
            self._deferred = True
            return
        self._interrupted = True
        raise Cancelled

    # -- any thread -------------------------------------------------------------------------
    def request(self, reason: str) -> bool:
        """Ask the job to stop; True the first time."""
        if self.requested.is_set():
            return False
        self.reason = reason
        self.requested.set()
        return True

    def listen(self, stream: IO[bytes], give_up: Callable[[], None],
               refuse: Callable[[bytes], None] | None = None) -> None:
        """Read cancel lines (and EOF) from `stream` in a daemon thread.

        `give_up` runs in that thread when the job ignored the cancel for GRACE_SECONDS plus
        HARD_SECONDS; it must end the process. `refuse(line)` answers any other line (a
        second request, say) without stopping the job.
        """
        threading.Thread(target=self._read, args=(stream, give_up, refuse),
                         name="cancel-listener", daemon=True).start()

    def _read(self, stream: IO[bytes], give_up: Callable[[], None],
              refuse: Callable[[bytes], None] | None = None) -> None:
        reason = "stdin closed (the add-on went away)"
        for raw in iter(stream.readline, b""):
            if is_cancel_line(raw):
                reason = "cancel requested"
                break
            print(f"dancerev worker: ignored stdin line {raw[:200]!r}", file=sys.stderr)
            if refuse is not None:
                refuse(raw)
        if self.request(reason):
            self._watch(give_up)

    def watch_in_thread(self, give_up: Callable[[], None]) -> None:
        """The escalation of a cancel just requested (interrupt, then `give_up`), in a thread
        of its own, for a reader that must go on reading (the warm worker's)."""
        threading.Thread(target=self._watch, args=(give_up,), name="cancel-watch",
                         daemon=True).start()

    def _watch(self, give_up: Callable[[], None]) -> None:
        if self.finished.wait(GRACE_SECONDS):
            return
        if not self._sealed:
            _thread.interrupt_main(signal.SIGINT)
        if not self.finished.wait(HARD_SECONDS):
            give_up()


def is_cancel_line(raw: bytes) -> bool:
    """Whether a stdin line is the protocol's `{"cancel": true}`."""
    try:
        message = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(message, dict) and message.get("cancel") is True


def hard_exit(code: int) -> None:
    """End the process now (from any thread), without running cleanup that may hang."""
    sys.stderr.flush()
    os._exit(code)
