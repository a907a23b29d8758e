"""`dancerev batch MANIFEST`: many `dancerev dance` jobs, in parallel processes.

The manifest is JSON: {"defaults": {...}, "jobs": [{...}, ...]} (or just the list), each job
the options of `dancerev dance`: song, output (.blend) and optionally character, render,
bvh, model, map, seconds, start, seed, num, fps, size, and the switches beat_sync (default
true), nla, in_place, keep_turning and loop (default false), each true or false. For
production it may instead (or as well) give "songs" and "characters" (every pair, or
"pairs"), "seeds", naming templates such as "output": "out/{song}_{character}_{seed}.blend",
and "overrides" (see manifest.py); --dry-run lists the expanded jobs. Relative
paths start at the manifest's folder. Each job runs in its own process (its own bpy), so a
job that fails or crashes stops nobody else; the dances are made by one warm worker per
parallel job (`WarmWorkers`), kept from job to job with the model and songs loaded, and
started again if one dies. Its full output goes to
OUTPUT.log beside its .blend. Jobs whose outputs all exist are skipped (--force runs them again).
Ctrl-C (or SIGTERM) stops the batch within 2 s: finished jobs' outputs are kept, the running
jobs are stopped and their partial files removed, the summary is printed, and the exit status
is 130 (143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

from .. import files, signals
from .manifest import Job, read_manifest
from .options import WORKERS, add_number

__all__ = ["Job", "JobRunner", "Outcome", "WarmWorkers", "read_manifest", "summary_table"]

STOP_GRACE = 1.5  # seconds a stopped job gets to clean up itself before it is killed


@dataclass
class Outcome:
    job: Job
    status: str  # done, skipped, failed, stopped (interrupted while running), not run
    seconds: float = 0.0
    message: str = ""


class JobRunner:
    """Runs jobs as child processes and stops them all on request.

    Each job gets its own session (process group: the dance and its worker), so a stop
    reaches both and a terminal's Ctrl-C reaches only the batch, which decides: a SIGINT to
    every running job, SIGKILL to any still running after STOP_GRACE, then their partial
    files removed by name (`files.partial_path`, `files.scratch_folder`).
    """

    def __init__(self, threads: int, workers: WarmWorkers | None = None) -> None:
        self.threads = threads
        self.workers = workers
        self.stopping = threading.Event()
        self._running: dict[int, tuple[Job, subprocess.Popen]] = {}
        self._lock = threading.Lock()

    def run(self, job: Job) -> Outcome:
        """One job in its own process, its dances made by a warm worker when there are some;
        its output goes to its log file."""
        if self.workers is None:
            return self._run(job, {})
        with self.workers.slot() as path:
            return self._run(job, {"DANCEREV_WORKER_SOCKET": path})

    def _run(self, job: Job, extra_env: dict[str, str]) -> Outcome:
        if self.stopping.is_set():
            return Outcome(job, "not run", message="batch interrupted")
        started = time.perf_counter()
        job.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), **extra_env}
        with open(job.log, "w", encoding="utf-8") as log, self._lock:
            if self.stopping.is_set():
                return Outcome(job, "not run", message="batch interrupted")
            process = subprocess.Popen(job.command(), stdout=log, stderr=subprocess.STDOUT,
                                       env=env, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
            self._running[job.number] = (job, process)
        returncode = process.wait()
        with self._lock:
            self._running.pop(job.number, None)
        seconds = time.perf_counter() - started
        if self.stopping.is_set() and returncode != 0:
            return Outcome(job, "stopped", seconds, "batch interrupted; partial files removed")
        if returncode == 0:
            return Outcome(job, "done", seconds)
        lines = [line for line in job.log.read_text(errors="replace").splitlines()
                 if line.strip()]
        return Outcome(job, "failed", seconds, lines[-1] if lines else f"exit code {returncode}")

    def stop(self) -> None:
        """Stop every running job, at most STOP_GRACE seconds from now, and remove its
        partial outputs; no new job starts."""
        with self._lock:
            self.stopping.set()
            running = list(self._running.values())
        for _, process in running:
            _signal_group(process, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE
        for _, process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        for job, _ in running:
            for output in job.outputs:
                files.remove_partial(files.partial_path(output))
            files.remove_scratch(files.scratch_folder(job.settings["output"]))


class WarmWorkers:
    """One warm worker (`worker --warm --listen SOCKET`) per parallel job: the jobs that run
    one after another in a slot share its loaded model and analysed songs. A worker that has
    died is started again for the next job; all end with `close` (their stdin closes)."""

    def __init__(self, count: int, threads: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dancerev-batch-"))
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


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with suppress(ProcessLookupError):  # it ended meanwhile
        os.killpg(process.pid, signum)


def summary_table(outcomes: list[Outcome]) -> str:
    rows = [("#", "job", "status", "seconds", "note")]
    for outcome in sorted(outcomes, key=lambda o: o.job.number):
        note = outcome.message if outcome.status == "failed" else ", ".join(
            path.name for path in outcome.job.outputs)
        rows.append((str(outcome.job.number), outcome.job.name, outcome.status,
                     f"{outcome.seconds:.1f}", note))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths,
                                                                          strict=True))
                     + "  " + row[4] for row in rows)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="run many dance jobs (song, character, settings) from a manifest",
        description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("manifest", help="JSON manifest of jobs")
    add_number(parser, "--jobs", bounds=WORKERS, default=max(1, (os.cpu_count() or 2) // 2),
               help="jobs at once (default: half the CPU cores)")
    parser.add_argument("--force", action="store_true", help="run jobs whose outputs exist")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the expanded jobs (and which would be skipped); run none")
    parser.add_argument("--render-with", choices=("preview", "scene"),
                        help="how jobs with a render make it, unless the manifest says: "
                             "preview (Workbench) or scene (each character .blend's own "
                             "camera, engine and output); see `dancerev dance --help`")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="a Dask scheduler address (tcp://host:8786); jobs run on its "
                             "workers (their task threads, not --jobs, set how many at once)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    jobs = read_manifest(args.manifest)
    if args.render_with is not None:  # the batch's default; a job's own setting wins
        jobs = [replace(job, settings={"render_with": args.render_with, **job.settings})
                for job in jobs]
    outcomes, pending = [], []
    for job in jobs:
        if not args.force and all(path.exists() for path in job.outputs):  # frames: a folder
            outcomes.append(Outcome(job, "skipped", message="outputs exist"))
        else:
            pending.append(job)
    if args.dry_run:
        from .manifest import dry_run_table

        skipped = {outcome.job.number for outcome in outcomes}
        print(dry_run_table(jobs, skipped))
        print(f"{len(jobs)} jobs: {len(pending)} would run, {len(skipped)} would be skipped "
              "(outputs exist)")
        return 0
    if args.cluster is not None:
        from .cluster import run_batch

        return run_batch(args.cluster, pending, outcomes)
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    workers = WarmWorkers(min(args.jobs, len(pending)), threads) if pending else None
    runner = JobRunner(threads=threads, workers=workers)
    try:
        return _run_all(args, runner, pending, outcomes)
    finally:
        if workers is not None:
            workers.close()


def _run_all(args: argparse.Namespace, runner: JobRunner, pending: list[Job],
             outcomes: list[Outcome]) -> int:
    from ..console import progress_bar

    interrupted: KeyboardInterrupt | None = None
    with (progress_bar(total=len(pending), unit="job") as bar,
          ThreadPoolExecutor(max_workers=args.jobs) as pool):
        futures = [pool.submit(runner.run, job) for job in pending]
        collected = set()
        try:
            for future in as_completed(futures):
                collected.add(future)
                outcome = future.result()
                outcomes.append(outcome)
                bar.set_postfix_str(f"{outcome.job.name} {outcome.status}")
                bar.update()
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (cli.Terminated)
            interrupted = stop
            # a second Ctrl-C must not cut the cleanup short
            with signals.handled(signal.SIGINT, signal.SIG_IGN):
                runner.stop()
                outcomes += [future.result() for future in futures if future not in collected]
    return report(outcomes, interrupted, summary_table(outcomes))


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
