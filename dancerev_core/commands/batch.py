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
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace

from .. import signals
from .batch_parts import (
    STOP_GRACE,
    Outcome,
    WarmWorkers,
    failure_message,
    remove_partials,
    report,
    signal_group,
    start_job,
    summary_table,
)
from .manifest import Job, read_manifest
from .options import WORKERS, add_number

__all__ = ["STOP_GRACE", "Job", "JobRunner", "Outcome", "WarmWorkers", "read_manifest",
           "summary_table"]

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
        with self._lock:
            if self.stopping.is_set():
                return Outcome(job, "not run", message="batch interrupted")
            process = start_job(job, self.threads, extra_env)
            self._running[job.number] = (job, process)
        returncode = process.wait()
        with self._lock:
            self._running.pop(job.number, None)
        seconds = time.perf_counter() - started
        if self.stopping.is_set() and returncode != 0:
            return Outcome(job, "stopped", seconds, "batch interrupted; partial files removed")
        if returncode == 0:
            return Outcome(job, "done", seconds)
        return Outcome(job, "failed", seconds, failure_message(job, returncode))

    def stop(self) -> None:
        """Stop every running job, at most STOP_GRACE seconds from now, and remove its
        partial outputs; no new job starts."""
        with self._lock:
            self.stopping.set()
            running = list(self._running.values())
        for _, process in running:
            signal_group(process, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE
        for _, process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(process, signal.SIGKILL)
                process.wait()
        for job, _ in running:
            remove_partials(job)


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
