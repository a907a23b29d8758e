"""`python -m dancerev_core.worker --warm`: one process for many jobs, one after another.

The add-on keeps this process while Blender runs, so the second Generate finds torch
imported, the model loaded with its int8 decoder prepared, and the song analysed
(`generation.kept`). The protocol is the one-job worker's (package docstring) with three
differences:
- `hello` says `"warm": true`;
- after a job's last line (result, error or cancelled) the worker waits for the next
  request line; EOF on stdin ends the process (exit 0), and cancels a job that is running;
- a cancel stops the job, not the process: the worker answers `cancelled` and takes the
  next request. Only a job that ignores the cancel for GRACE_SECONDS + HARD_SECONDS ends
  the process (exit 130), as in the one-job worker; the add-on then starts a fresh one.
A request that arrives while a job runs is answered with the `busy` log line and dropped.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import IO, Any

from .context import Context
from .control import GRACE_SECONDS, Cancelled, Control, hard_exit, is_cancel_line
from .jobs import FIELDS
from .protocol import EXIT_CANCELLED, EXIT_OK, Channel, RequestError, parse_request, protect_stdout
from .run import cancelled_outcome, hello, run_job


class Inbox:
    """Reads stdin in a daemon thread: requests queue up for the main loop; a cancel goes to
    the job that is running; EOF ends the loop (None in the queue)."""

    def __init__(self, stream: IO[bytes], channel: Channel) -> None:
        self.requests: queue.Queue[bytes | None] = queue.Queue()
        self._stream = stream
        self._channel = channel
        self._lock = threading.Lock()
        self._control: Control | None = None
        self._job = ""
        self._ctx: Context | None = None

    def start(self) -> None:
        threading.Thread(target=self._read, name="warm-inbox", daemon=True).start()

    def begin(self, control: Control, job: str, ctx: Context) -> None:
        with self._lock:
            self._control, self._job, self._ctx = control, job, ctx

    def end(self) -> None:
        """Before the job's last line is written: the next request may follow it at once."""
        with self._lock:
            self._control = None

    def _read(self) -> None:
        for raw in iter(self._stream.readline, b""):
            if not raw.strip():
                continue
            with self._lock:
                control, job = self._control, self._job
            if is_cancel_line(raw):
                if control is not None and control.request("cancel requested"):
                    control.watch_in_thread(self._give_up)
            elif control is not None:
                self._channel.emit("log", level="error", kind="busy",
                                   message=f"ignored a request while the {job} job runs: "
                                           "send the next one after its result")
            else:
                self.requests.put(raw)
        with self._lock:
            control = self._control
        if control is not None and control.request("stdin closed (the add-on went away)"):
            control.watch_in_thread(self._give_up)
        self.requests.put(None)

    def _give_up(self) -> None:
        """A job ignored its cancel: say so and end the process (the parent starts anew)."""
        with self._lock:
            job, ctx = self._job, self._ctx
        extra: dict[str, Any] = ctx.cancel_info if ctx is not None else {}
        self._channel.emit_last("cancelled", timeout=GRACE_SECONDS,
                                message=f"{job} cancelled; it did not stop in time and the "
                                        "worker was restarted", **extra)
        hard_exit(EXIT_CANCELLED)


def serve_requests(stream: IO[bytes], channel: Channel) -> None:
    """Hello, then every request read from `stream` answered on `channel`, until EOF."""
    channel.emit("hello", **hello(), warm=True)
    inbox = Inbox(stream, channel)
    inbox.start()
    while True:
        raw = inbox.requests.get()
        if raw is None:
            return
        try:
            request = parse_request(raw, FIELDS)
        except RequestError as error:
            channel.emit("error", message=str(error), kind="request")
            continue
        control = Control()
        control.install()  # signals now reach this job's control
        ctx = Context(channel, control)
        inbox.begin(control, request.job, ctx)
        try:
            event, fields, _code = run_job(request, ctx)
        except Cancelled:  # one that arrived while the first was being handled
            event, fields, _code = cancelled_outcome(request.job, ctx)
        control.seal()
        inbox.end()
        channel.emit(event, **fields)


def main() -> int:
    channel = Channel(protect_stdout())
    # Unbuffered: a daemon thread blocked in a buffered reader aborts interpreter shutdown.
    serve_requests(os.fdopen(os.dup(0), "rb", buffering=0), channel)
    return EXIT_OK


def listen(path: str) -> int:
    """`--listen PATH`: the same conversation over a Unix socket, one client at a time, so
    that other processes (each job of `dancerev batch`) share this warm worker. A client
    that disconnects mid-job cancels it, as EOF does; the worker then takes the next one.
    It ends when its stdin closes (the process that started it went away)."""
    import socket

    protect_stdout()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(4)
    stdin = os.fdopen(os.dup(0), "rb", buffering=0)

    def end_with_parent() -> None:
        for _line in iter(stdin.readline, b""):
            pass
        hard_exit(EXIT_OK)

    threading.Thread(target=end_with_parent, name="parent-watch", daemon=True).start()
    while True:
        connection, _ = server.accept()
        with connection, connection.makefile("rb", buffering=0) as reader, \
                connection.makefile("wb", buffering=0) as writer:
            serve_requests(reader, Channel(writer))


def serve() -> None:
    """Serve until stdin closes, then end at once (nothing is left to commit)."""
    arguments = sys.argv[1:]
    listening = "--listen" in arguments
    code = listen(arguments[arguments.index("--listen") + 1]) if listening else main()
    sys.stdout.flush()
    hard_exit(code)
