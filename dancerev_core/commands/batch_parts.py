"""What every way of running a batch shares: a job's outcome, warm dance workers, the summary.

Used by the local batch (`batch.py`) and the cluster's (`cluster.py`), so neither imports
the other.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from .. import files
from ..console import text_table
from .manifest import Job

STOP_GRACE = 1.5  # seconds a stopped job gets to clean up itself before it is killed


@dataclass
class Outcome:
    job: Job
    status: str  # done, skipped, failed, stopped (interrupted while running), not run
    seconds: float = 0.0
    message: str = ""


def start_job(job: Job, threads: int, extra_env: dict[str, str],
              preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen:
    """The job's own process, in a session of its own (so a stop reaches its children),
    its output in the job's log."""
    job.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **extra_env}
    with open(job.log, "w", encoding="utf-8") as log:
        return subprocess.Popen(job.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=preexec_fn)


def failure_message(job: Job, returncode: int) -> str:
    """Why a job failed: its log's last line (a DanceRev error is one line), else the code."""
    lines = [line for line in job.log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {returncode}"


WARM_FOLDER_PREFIX = "dancerev-batch-"  # + the owning process's pid + "-" + random


def remove_orphaned_folders(root: Path | None = None) -> list[Path]:
    """Remove the warm workers' folders (sockets, logs) of batches that died without
    `close`: killed, or on a cluster worker that was. Such a folder names its owner's pid;
    it is removed only when that process is gone and the folder is this user's."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{WARM_FOLDER_PREFIX}*-*"):
        owner = folder.name[len(WARM_FOLDER_PREFIX):].split("-", 1)[0]
        with suppress(OSError):
            if (not owner.isdigit() or not folder.is_dir() or folder.is_symlink()
                    or folder.stat().st_uid != os.getuid() or _alive(int(owner))):
                continue
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class WarmWorkers:
    """One warm worker (`worker --warm --listen SOCKET`) per parallel job: the jobs that run
    one after another in a slot share its loaded model and analysed songs. A worker that has
    died is started again for the next job; all end with `close` (their stdin closes)."""

    def __init__(self, count: int, threads: int) -> None:
        remove_orphaned_folders()
        self.folder = Path(tempfile.mkdtemp(prefix=f"{WARM_FOLDER_PREFIX}{os.getpid()}-"))
        self.threads = threads
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(count):
            self._free.put(slot)
        self._processes: dict[int, subprocess.Popen] = {}

    @contextmanager
    def slot(self) -> Iterator[str]:
        """A free worker's socket, live, for one job."""
        slot = self._free.get()
        try:
            yield str(self._live(slot))
        finally:
            self._free.put(slot)

    def _live(self, slot: int) -> Path:
        path = self.folder / f"worker-{slot}.sock"
        process = self._processes.get(slot)
        if process is None or process.poll() is not None:
            path.unlink(missing_ok=True)
            with open(self.folder / f"worker-{slot}.log", "ab") as log:
                self._processes[slot] = process = subprocess.Popen(
                    [sys.executable, "-m", "dancerev_core.worker", "--warm", "--listen",
                     str(path)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                    env={**os.environ, "OMP_NUM_THREADS": str(self.threads)},
                    start_new_session=True)  # a terminal's Ctrl-C is the batch's to handle
            deadline = time.monotonic() + 30
            while not path.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        return path  # if it failed to come up, the job starts a worker of its own

    def close(self) -> None:
        for process in self._processes.values():
            with suppress(OSError):
                process.stdin.close()
        for process in self._processes.values():
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def signal_group(process: subprocess.Popen, signum: int) -> None:
    with suppress(ProcessLookupError):  # it ended meanwhile
        os.killpg(process.pid, signum)


def remove_partials(job: Job) -> None:
    """A stopped or lost job's partial outputs and scratch folder, as `dance` names them."""
    for output in job.outputs:
        files.remove_partial(files.partial_path(output))
    files.remove_scratch(files.scratch_folder(job.settings["output"]))


def summary_table(outcomes: list[Outcome]) -> str:
    rows = [("#", "job", "status", "seconds", "note")]
    for outcome in sorted(outcomes, key=lambda o: o.job.number):
        note = outcome.message if outcome.status == "failed" else ", ".join(
            path.name for path in outcome.job.outputs)
        rows.append((str(outcome.job.number), outcome.job.name, outcome.status,
                     f"{outcome.seconds:.1f}", note))
    return text_table(rows)


def report(outcomes: list[Outcome], interrupted: KeyboardInterrupt | None, table: str,
           extra: str = "") -> int:
    """The summary every batch ends with, local or on a cluster: the table, an `extra` line,
    then what finished; the exit status, or the interrupt raised again once reported."""
    print(table)
    if extra:
        print(extra)
    failed = sum(outcome.status == "failed" for outcome in outcomes)
    done = sum(outcome.status in ("done", "skipped") for outcome in outcomes)
    if interrupted is not None:
        print(f"interrupted: {done} of {len(outcomes)} jobs finished and kept; the running "
              "jobs were stopped and their partial files removed")
        raise interrupted
    print(f"{len(outcomes) - failed} of {len(outcomes)} jobs succeeded"
          + ("; see the .log beside each failed job's output" if failed else ""))
    return 1 if failed else 0
