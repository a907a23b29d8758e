"""What a running job sees: progress and log events, and the cancel check built into them."""

from __future__ import annotations

import time
from typing import Any

from .control import Control
from .protocol import Channel

PROGRESS_INTERVAL = 0.1  # seconds between progress lines of one stage (the UI redraws ~10/s)


class Context:
    """Emits a job's events; every progress call is also a cancellation point."""

    def __init__(self, channel: Channel, control: Control) -> None:
        self.channel = channel
        self.control = control
        self.cancel_info: dict[str, Any] = {}  # added to the `cancelled` event
        self._last_stage: str | None = None
        self._last_time = 0.0

    def emit(self, event: str, **fields: Any) -> None:
        with self.control.shield():  # a line is never cut in half by an interrupt
            self.channel.emit(event, **fields)

    def progress(self, stage: str, done: float, total: float, message: str = "", *,
                 force: bool = False, **extra: Any) -> None:
        """Report progress (throttled per stage) and stop here if a cancel is pending."""
        self.control.check()
        now = time.monotonic()
        if (not force and stage == self._last_stage and done < total
                and now - self._last_time < PROGRESS_INTERVAL):
            return
        self._last_stage, self._last_time = stage, now
        self.emit("progress", stage=stage, done=done, total=total, message=message, **extra)

    def log(self, message: str) -> None:
        self.control.check()
        self.emit("log", message=str(message))

    def check(self) -> None:
        self.control.check()
