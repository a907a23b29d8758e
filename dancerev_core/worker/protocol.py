"""The worker's side of the wire: a clean stdout for protocol lines, and request fields.

The protocol itself is described in the package docstring (`dancerev_core/worker/__init__.py`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ..errors import DanceRevError
from ..files import json_ready

PROTOCOL_VERSION = 1
EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


class RequestError(DanceRevError):
    """A request the protocol does not allow (a bug in the parent, not the user's input)."""


def protect_stdout() -> IO[bytes]:
    """Take file descriptor 1 for the protocol and point everything else at stderr.

    Redirecting the descriptor (not just `sys.stdout`) also catches C libraries and child
    processes that write to stdout, so no stray line can ever break the protocol.
    """
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb")


def encode(event: str, fields: dict[str, Any]) -> bytes:
    """One protocol line (ASCII, newline-terminated)."""
    return (json.dumps({"event": event, **json_ready(fields)}, ensure_ascii=True,
                       allow_nan=False) + "\n").encode("ascii")


class Channel:
    """Writes protocol lines; a parent that went away (broken pipe) silences it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def emit(self, event: str, **fields: Any) -> None:
        line = encode(event, fields)
        with self._lock:
            self._write(line)

    def emit_last(self, event: str, timeout: float, **fields: Any) -> None:
        """Emit from another thread just before a hard exit, not waiting long for the lock."""
        line = encode(event, fields)
        locked = self._lock.acquire(timeout=timeout)
        try:
            self._write(line)
        finally:
            if locked:
                self._lock.release()

    def _write(self, line: bytes) -> None:
        if self.closed:
            return
        try:
            self._stream.write(line)
            self._stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.closed = True


def parse_request(raw: bytes, jobs: dict[str, frozenset[str]]) -> Request:
    """The first stdin line as a Request for one of `jobs` (name -> allowed fields)."""
    if not raw.strip():
        raise RequestError("no request: stdin closed before the first line")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(f"the request is not a JSON line ({error})") from None
    if not isinstance(data, dict):
        raise RequestError("the request must be a JSON object {\"job\": ...}")
    job = data.get("job")
    if job not in jobs:
        raise RequestError(f"unknown job {job!r} (known: {', '.join(sorted(jobs))})")
    unknown = sorted(set(data) - jobs[job] - {"job"})
    if unknown:
        raise RequestError(f"job {job}: unknown field(s) {', '.join(unknown)}")
    return Request(job, data)


class Request:
    """Typed access to a request's fields; a wrong type is a one-line RequestError."""

    def __init__(self, job: str, data: dict[str, Any]) -> None:
        self.job = job
        self.data = data

    def _get(self, key: str, default: Any, required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise RequestError(f"job {self.job}: {key!r} is required")
            return default
        return value

    def _wrong(self, key: str, expected: str) -> RequestError:
        return RequestError(f"job {self.job}: {key!r} must be {expected}, "
                            f"got {self.data[key]!r}")

    def path(self, key: str, *, required: bool = True) -> Path | None:
        value = self._get(key, None, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self._wrong(key, "a path (text)")
        return Path(value).expanduser()

    def text(self, key: str, default: str | None = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> str | None:
        value = self._get(key, default, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._wrong(key, "text")
        if choices is not None and value not in choices:
            raise self._wrong(key, f"one of {', '.join(choices)}")
        return value

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self._get(key, default, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int | None:
        value = self._get(key, default, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "a whole number")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool | None:
        value = self._get(key, default, False)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value
