"""`python -m dancerev_core.worker`: hello, read the request, run the job, end with one line."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import traceback
from typing import Any

from .. import __version__
from ..errors import DanceRevError
from .context import Context
from .control import GRACE_SECONDS, Cancelled, Control, hard_exit
from .jobs import FIELDS, JOBS
from .protocol import (
    EXIT_CANCELLED,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    PROTOCOL_VERSION,
    Channel,
    RequestError,
    parse_request,
    protect_stdout,
)


def hello() -> dict[str, Any]:
    """The first line: who is speaking, and whether the runtime is there (nothing imported)."""
    return {"protocol": PROTOCOL_VERSION, "dancerev": __version__,
            "python": platform.python_version(), "executable": sys.executable,
            "pid": os.getpid(),
            "torch": importlib.util.find_spec("torch") is not None,
            "librosa": importlib.util.find_spec("librosa") is not None}


def serve() -> None:
    """Run `main` and end the process at once: everything it wrote is committed by then,
    and tearing down torch's thread pools would add half a second to every cancel."""
    code = main()
    sys.stdout.flush()
    hard_exit(code)


def main() -> int:
    channel = Channel(protect_stdout())
    control = Control()
    control.install()
    channel.emit("hello", **hello())
    # Unbuffered: a daemon thread blocked in a buffered reader aborts interpreter shutdown.
    stdin = os.fdopen(os.dup(0), "rb", buffering=0)
    try:
        request = parse_request(stdin.readline(), FIELDS)
    except RequestError as error:
        channel.emit("error", message=str(error), kind="request")
        return EXIT_INPUT
    ctx = Context(channel, control)

    def give_up() -> None:
        channel.emit_last("cancelled", timeout=GRACE_SECONDS,
                          message=f"{request.job} cancelled ({control.reason}); it did not "
                                  "stop in time and was abandoned", **ctx.cancel_info)
        hard_exit(EXIT_CANCELLED)

    def refuse(line: bytes) -> None:
        """A line that is not a cancel, while the job runs: answered, never silently lost."""
        channel.emit("log", level="error", kind="busy",
                     message=f"ignored a stdin line while the {request.job} job runs: a worker "
                             'takes one request, then only {"cancel": true} '
                             f"(got {line[:80].decode('utf-8', 'replace').strip()!r})")

    control.listen(stdin, give_up, refuse)
    try:
        event, fields, code = run_job(request, ctx)
    except Cancelled:  # at most one more can arrive while the first is being handled
        event, fields, code = cancelled_outcome(request.job, ctx)
    control.seal()
    channel.emit(event, **fields)
    return code


def run_job(request: Any, ctx: Context) -> tuple[str, dict[str, Any], int]:
    try:
        payload = JOBS[request.job](request, ctx)
        ctx.control.seal()
        return "result", payload, EXIT_OK
    except Cancelled:
        return cancelled_outcome(request.job, ctx)
    except RequestError as error:
        ctx.control.seal()
        return "error", {"message": str(error), "kind": "request"}, EXIT_INPUT
    except DanceRevError as error:
        ctx.control.seal()
        return "error", {"message": " ".join(str(error).split("\n")), "kind": "input"}, EXIT_INPUT
    except Exception as error:
        ctx.control.seal()
        traceback.print_exc(file=sys.stderr)
        missing = _missing_module(error)
        if missing:
            return "error", {"message": f"{request.job} needs {missing}, which this Python "
                                        f"({sys.executable}) does not have: install the "
                                        "runtime from DanceRev's preferences or choose an "
                                        "interpreter that has it", "kind": "runtime"}, EXIT_INPUT
        summary = str(error).splitlines()[0] if str(error) else ""
        return "error", {"message": f"internal error in {request.job}: "
                                    f"{type(error).__name__}: {summary} (details on stderr)",
                         "kind": "internal"}, EXIT_INTERNAL


def _missing_module(error: Exception) -> str | None:
    """The third-party package whose absence caused `error`, if that is what happened."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    root = error.name.split(".")[0]
    return None if root == __package__.split(".")[0] else root


def cancelled_outcome(job: str, ctx: Context) -> tuple[str, dict[str, Any], int]:
    ctx.control.seal()
    return "cancelled", {"message": f"{job} cancelled ({ctx.control.reason or 'interrupted'})",
                         **ctx.cancel_info}, EXIT_CANCELLED
