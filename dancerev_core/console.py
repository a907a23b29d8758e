"""Output a person can read: one line per stage, progress every 10 % or 10 s, and Blender's own
chatter (a line per rendered frame, EGL errors, exporters' notes) in a log file instead.

Standard library only, so the add-on's headless commands use it inside Blender's process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

STEP_SHARE = 0.1  # a progress line every 10 % of a stage ...
STEP_SECONDS = 10.0  # ... or every 10 s, whichever comes first
KEPT_LOGS = 20  # the newest logs kept in the log folder


class ProgressLines:
    """Progress as whole lines, never carriage-return bars: the first report of each stage,
    then one whenever another STEP_SHARE of it is done or STEP_SECONDS have passed, and its
    end. Works the same in a terminal, a log file and a CI page."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.write = write
        self.clock = clock
        self._stage: str | None = None
        self._shown_share = 0.0
        self._shown_at = 0.0

    def update(self, stage: str, done: float, total: float, text: str = "") -> None:
        share = done / total if total else 0.0
        now = self.clock()
        fresh = stage != self._stage
        if not (fresh or share >= 1.0 > self._shown_share
                or share - self._shown_share >= STEP_SHARE - 1e-9
                or now - self._shown_at >= STEP_SECONDS):
            return
        self._stage, self._shown_share, self._shown_at = stage, share, now
        percent = f" {100 * share:.0f}%" if total > 1 else ""  # not on a stage's first line
        self.write(f"  {text or stage}{percent}")


def log_file(name: str) -> Path:
    """A new log file's path in the DanceRev cache's `logs` folder, the oldest pruned."""
    from .music.cache import cache_dir

    folder = cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    logs = sorted(folder.glob("*.log"), key=_modified)
    for old in logs[:max(0, len(logs) - KEPT_LOGS + 1)]:
        with contextlib.suppress(OSError):
            old.unlink()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"{name}-{stamp}-{os.getpid()}.log"


def _modified(path: Path) -> float:
    """A log's modification time; one gone meanwhile (parallel jobs, `batch`, prune the same
    folder) sorts first, so that its stat cannot fail the job that is starting."""
    try:
        return path.stat().st_mtime
    except OSError:
        return float("-inf")


@contextlib.contextmanager
def output_to_log(path: Path) -> Iterator[IO[str]]:
    """Send everything written to file descriptors 1 and 2 (Python's prints, Blender's C
    code, libraries) to `path`, and yield a stream to the terminal's stderr for our own
    lines. Restored on every exit, so an error is printed where the user sees it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield terminal
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved_out, 1)
                os.dup2(saved_err, 2)
    finally:
        os.close(saved_out)
        os.close(saved_err)
        terminal.close()


class LineBar:
    """The part of tqdm's interface DanceRev uses, printed as `ProgressLines`: what a bar
    becomes when its output is not a terminal (a log file, CI, a pipe), where tqdm's
    carriage returns pile every update onto one endless line."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: float | None = None,
                 desc: str = "", unit: str = "it", stream: IO[str] | None = None) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total or 0
        self.n = 0
        self.desc, self.unit, self.postfix = desc, unit, ""
        target = stream if stream is not None else sys.stderr
        self._lines = ProgressLines(lambda text: print(text, file=target, flush=True))

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update()

    def __enter__(self) -> LineBar:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def update(self, count: float = 1) -> None:
        self.n += count
        total = f"/{self.total:g}" if self.total else ""
        text = f"{self.desc + ': ' if self.desc else ''}{self.n:g}{total} {self.unit}"
        self._lines.update("bar", self.n, self.total,
                           text + (f" ({self.postfix})" if self.postfix else ""))

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def close(self) -> None:
        pass


def progress_bar(iterable: Iterable[Any] | None = None, *, total: float | None = None,
                 desc: str = "", unit: str = "it", disable: bool = False,
                 stream: IO[str] | None = None) -> Any:
    """A tqdm bar on a terminal; `LineBar` lines anywhere else; nothing when `disable`."""
    target = stream if stream is not None else sys.stderr
    if disable or target.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc or None, unit=unit, disable=disable,
                    dynamic_ncols=True, file=target)
    return LineBar(iterable, total=total, desc=desc, unit=unit, stream=target)


def text_table(rows: list[tuple[str, ...]]) -> str:
    """Rows as aligned columns; the last column, free text, is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width
                               in zip(row[:-1], widths, strict=True))
                     + "  " + row[-1] for row in rows)
