"""`dancerev batch MANIFEST --cluster ADDRESS`: the batch's jobs on a Dask distributed cluster.

Each job is one Dask task that runs the job's `dancerev dance` command as a process on the
worker's machine, exactly as the local batch does (its log beside its output, its own
session, OMP_NUM_THREADS), with one warm dance worker per Dask worker process kept from task
to task, so a job costs about what it costs in a local `batch --jobs N`. The outputs are
written where the job ran, atomically (`dance` writes every output under a partial name and
renames them together); the manifest's paths are absolute, so with a folder shared at the
same path on every machine they all land in one place. The summary names the worker that
ran each job.

Two kinds of failure, handled differently:
- a job that fails by itself (its process exits non-zero: a bad song, a broken character)
  is `failed` with its log's last line and is not tried again: it would fail again;
- a worker that dies while running a job (a crash, a machine switched off, a kill) takes the
  job's process with it (Linux: PR_SET_PDEATHSIG), and the scheduler runs the job again on
  another worker, which first removes the dead run's partial files. It gives up after
  `distributed.scheduler.allowed-failures` lost workers (Dask's default 3: set on the
  scheduler's machine); the job is then `failed` with "worker lost N times". A worker shut
  down on purpose (`dask worker` stopped) stops its job cleanly and hands it back to the
  scheduler (Reschedule) instead of waiting for it to end.

Dask and distributed are imported here only, and only when a batch uses a cluster.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import signals
from ..errors import DanceRevError
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
from .manifest import Job

CONNECT_SECONDS = 10.0  # to reach the scheduler before the address is called unreachable
WORKER_WAIT_SECONDS = 60.0  # for the first worker to join a scheduler that has none
POLL_SECONDS = 0.2  # how often a running job checks that its task is still wanted
STOPPED_WAIT = STOP_GRACE + 3.0  # seconds the client waits for stopped jobs' cleanup
PR_SET_PDEATHSIG = 1  # linux/prctl.h

_warm: WarmWorkers | None = None  # this Dask worker process's warm dance workers
_warm_lock = threading.Lock()


@dataclass
class ClusterOutcome(Outcome):
    """An Outcome with where and how the job ran: `seconds` is the job's own process time
    (as in a local batch), `wall` the client's time for it (see `slot_walls`)."""

    worker: str = ""  # the Dask worker's address
    host: str = ""
    pid: int = 0  # the job's process, on `host`
    wall: float = 0.0
    setup: float = 0.0  # the batch's seconds before any job could start (see run_on_cluster)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during `run_on_cluster`, after it stopped the jobs: the outcomes so
    far (done, stopped, not run) and the interrupt itself, to be raised again once they are
    reported (its type sets the exit status)."""

    def __init__(self, outcomes: list[Outcome], cause: KeyboardInterrupt) -> None:
        super().__init__()
        self.outcomes = outcomes
        self.cause = cause


# -------------------------------------------------------------------- the client's side
def run_batch(address: str, pending: list[Job], outcomes: list[Outcome]) -> int:
    """`batch --cluster`: the pending jobs on the cluster, then the summary (the skipped
    jobs in `outcomes` included) and the exit status, as the local batch reports them."""
    interrupted: KeyboardInterrupt | None = None
    ran: list[Outcome] = []
    if pending:
        try:
            ran = run_on_cluster(address, pending, threads=0)
        except BatchInterrupted as stop:
            ran, interrupted = stop.outcomes, stop.cause
    outcomes = outcomes + ran
    return report(outcomes, interrupted, cluster_summary(outcomes), overhead_line(ran))


def run_on_cluster(address: str, jobs: list[Job], *, threads: int) -> list[Outcome]:
    """Run `jobs` on the Dask scheduler at `address`, a progress bar meanwhile; one Outcome
    per job (ClusterOutcome for those that reached a worker).

    `threads` is each job's OMP_NUM_THREADS; 0 lets each machine decide: its cores divided
    by the task threads of the Dask workers on it (as local batch divides by --jobs).
    Ctrl-C or SIGTERM cancels the tasks: the running jobs are stopped and their partial
    files removed by their workers, the others do not run, and BatchInterrupted is raised.
    Each outcome's `setup` is the time from this call to the first tasks' submission:
    importing distributed, connecting, asking the workers for their cores.
    """
    began = time.perf_counter()
    from distributed import as_completed

    from ..console import progress_bar

    client = connect(address)
    try:
        per_host = threads or _threads_per_worker(client)
        feed = Feed(client, jobs, per_host)
        arrivals = as_completed(loop=client.loop)
        feed.top_up(arrivals)
        started = time.perf_counter()
        outcomes: list[ClusterOutcome] = []
        try:
            with progress_bar(total=len(jobs), unit="job") as bar:
                for future in arrivals:
                    outcome = collect(future, feed.submitted.pop(future))
                    outcome.wall, outcome.setup = time.perf_counter(), started - began
                    outcomes.append(outcome)
                    feed.top_up(arrivals)
                    bar.set_postfix_str(f"{outcome.job.name} {outcome.status}")
                    bar.update()
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (signals.Terminated)
            with signals.handled(signal.SIGINT, signal.SIG_IGN):  # the cleanup runs whole
                rest = stop_jobs(client, feed.submitted)
            rest += [Outcome(job, "not run", message="batch interrupted") for job in feed.jobs]
            slot_walls(outcomes, started)
            raise BatchInterrupted([*outcomes, *rest], stop) from None
        slot_walls(outcomes, started)
        return list(outcomes)
    finally:
        client.close()


class Feed:
    """Submits the jobs as the cluster's task threads free up, as the local batch starts a
    job when a slot frees, rather than all at once: the scheduler would send each worker
    one more task than it has threads (distributed.scheduler.worker-saturation), so at the
    end one worker could sit idle while another still has a job queued, and a lost worker
    would count against the job waiting in its queue too."""

    def __init__(self, client: Any, jobs: list[Job], threads: dict[str, int] | int) -> None:
        self.client = client
        self.jobs = list(jobs)  # not yet submitted, in the manifest's order
        self.threads = threads
        self.submitted: dict[Any, Job] = {}  # future: job, until its outcome is collected
        self.batch = uuid.uuid4().hex[:8]

    def top_up(self, arrivals: Any) -> None:
        """Submit jobs until as many run as the workers have task threads (at least one, so
        a batch whose workers all left waits for a new one)."""
        room = max(1, sum(self.client.nthreads().values())) - len(self.submitted)
        for _ in range(min(room, len(self.jobs))):
            job = self.jobs.pop(0)
            future = self.client.submit(run_job, job, self.threads, pure=False, retries=0,
                                        key=f"dancerev-{self.batch}-{job.number}-{job.name}")
            self.submitted[future] = job
            arrivals.add(future)


def connect(address: str) -> Any:
    """A distributed Client on `address` with at least one worker; an address nobody
    answers at, or a scheduler without workers, is a one-line error naming it."""
    from distributed import Client

    if not address.strip():  # Client("") would start a cluster of its own, here
        raise DanceRevError("--cluster: expected a Dask scheduler address such as "
                            "tcp://host:8786, got ''")
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DanceRevError(f"--cluster {address}: cannot reach a Dask scheduler there "
                            f"({reason})") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except (OSError, TimeoutError):
        client.close()
        raise DanceRevError(f"--cluster {address}: the scheduler has no workers (waited "
                            f"{WORKER_WAIT_SECONDS:.0f} s); start some with `dask worker "
                            f"{address}`") from None
    return client


def _threads_per_worker(client: Any) -> dict[str, int]:
    """{worker address: OMP threads per job}: the machine's cores shared among the task
    threads of all the Dask workers on it. A worker that joins later divides its own."""
    machines = client.run(_machine)
    threads_on: dict[str, int] = {}
    for host, _cores, nthreads in machines.values():
        threads_on[host] = threads_on.get(host, 0) + nthreads
    return {address: max(1, cores // threads_on[host])
            for address, (host, cores, _) in machines.items()}


def collect(future: Any, job: Job) -> ClusterOutcome:
    """The outcome of a finished task: the job's own report, or why the task itself
    failed (its worker lost too often; an error before or after the job's process)."""
    from distributed import KilledWorker

    if future.status == "finished":
        report = future.result()
        return ClusterOutcome(job, report["status"], report["seconds"], report["message"],
                              worker=report["worker"], host=report["host"], pid=report["pid"])
    error = future.exception()
    if isinstance(error, KilledWorker):
        remove_partials(job)  # where this machine sees them (a shared folder)
        lost = error.allowed_failures + 1
        return ClusterOutcome(job, "failed", message=f"worker lost {lost} time"
                              f"{'s' if lost > 1 else ''}: the scheduler gave up (distributed."
                              f"scheduler.allowed-failures is {error.allowed_failures})",
                              worker=error.last_worker.address,
                              host=getattr(error.last_worker, "host", ""))  # its IP
    message = str(error).splitlines()[0] if str(error) else ""
    return ClusterOutcome(job, "failed", message=f"{type(error).__name__}: {message}")


def stop_jobs(client: Any, rest: dict[Any, Job]) -> list[Outcome]:
    """After Ctrl-C: cancel the submitted unfinished tasks and wait (a few seconds at most)
    for the running ones' workers to stop their processes and remove their partial files."""
    keys = {future.key: job for future, job in rest.items()}
    running = _executing(client, set(keys))
    client.cancel(list(rest))
    deadline = time.monotonic() + STOPPED_WAIT
    while running and _executing(client, running) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    return [Outcome(job, "stopped", message="batch interrupted; partial files removed")
            if key in running else Outcome(job, "not run", message="batch interrupted")
            for key, job in keys.items()]


def _executing(client: Any, keys: set[str]) -> set[str]:
    """Which of `keys` some worker is running now (cancelled ones that have not ended too)."""
    try:
        running = client.run(_executing_keys)
    except (OSError, TimeoutError):  # the scheduler went away: nothing to wait for
        return set()
    return {key for found in running.values() for key in found if key in keys}


def slot_walls(outcomes: list[ClusterOutcome], started: float) -> None:
    """Turn each outcome's arrival time into the client's wall time for the job: from when
    its worker's previous result arrived (or the batch began) to its own arrival. The sum
    per worker is that worker's share of the batch, so `wall - seconds` is what the cluster
    adds per job: submitting, scheduling, messages, the task's start and its result's way
    back."""
    previous: dict[str, float] = {}
    for outcome in sorted(outcomes, key=lambda o: o.wall):
        arrived = outcome.wall
        outcome.wall = arrived - previous.get(outcome.worker, started)
        previous[outcome.worker] = arrived


def overheads(outcomes: list[Outcome]) -> list[float]:
    """Per job that ran to its end: the client's wall seconds minus the job's own."""
    return [outcome.wall - outcome.seconds for outcome in outcomes
            if isinstance(outcome, ClusterOutcome) and outcome.status in ("done", "failed")
            and outcome.seconds > 0]


def overhead_line(outcomes: list[Outcome]) -> str:
    """What the cluster added: once per batch (connecting...) and per job (the median)."""
    values = overheads(outcomes)
    if not values:
        return ""
    setup = max(o.setup for o in outcomes if isinstance(o, ClusterOutcome))
    median = round(statistics.median(values), 2) + 0.0  # no "-0.00"
    return (f"cluster overhead: {setup:.2f} s to connect and submit, then per job median "
            f"{median:.2f} s (the client's wall time per job minus the job's own process "
            f"time, {len(values)} jobs)")


def cluster_summary(outcomes: list[Outcome]) -> str:
    """The local batch's summary table with a column naming the worker that ran each job."""
    lines = summary_table(outcomes).splitlines()
    ordered = sorted(outcomes, key=lambda o: o.job.number)
    width = max(len(line) for line in lines)
    where = ["worker"] + [f"{o.host} {o.worker}".strip() if isinstance(o, ClusterOutcome)
                          else "" for o in ordered]
    return "\n".join(f"{line.ljust(width)}  {name}".rstrip()
                     for line, name in zip(lines, where, strict=True))


# ------------------------------------------------------------ the Dask worker's side
def _machine(dask_worker: Any) -> tuple[str, int, int]:
    """(host, cores, task threads) of a Dask worker (`client.run` passes `dask_worker`)."""
    return dask_worker.ip, os.cpu_count() or 1, dask_worker.state.nthreads


def _executing_keys(dask_worker: Any) -> list[str]:
    return [str(task.key) for task in dask_worker.state.executing]


def run_job(job: Job, threads: dict[str, int] | int) -> dict[str, Any]:
    """The Dask task: one job's `dance` process on this worker's machine, its dances made
    by this worker process's warm dance worker. A job that fails by itself is reported,
    not raised, so the scheduler does not run it again; only a lost worker makes it rerun.
    Module-level and pure Python, so Dask pickles it by reference."""
    from distributed import Reschedule, get_worker
    from distributed.worker import thread_state

    worker = get_worker()
    key = thread_state.key
    nthreads = worker.state.nthreads
    if isinstance(threads, dict):
        threads = threads.get(worker.address) or max(1, (os.cpu_count() or 1) // nthreads)
    with warm_workers(nthreads, threads).slot() as path:
        report = run_process(job, threads, {"DANCEREV_WORKER_SOCKET": path},
                             stop=lambda: _unwanted(worker, key))
    if report["status"] == "stopped" and _closing(worker):
        raise Reschedule  # stopped cleanly for the worker's shutdown: run it elsewhere
    return {**report, "worker": worker.address, "host": socket.gethostname()}


def warm_workers(slots: int, threads: int) -> WarmWorkers:
    """This process's warm dance workers, one per task thread, started with the first job
    and closed when the process exits (if it is killed instead, each one ends by itself:
    its stdin, a pipe from this process, closes)."""
    global _warm
    with _warm_lock:
        if _warm is None:
            _warm = WarmWorkers(slots, threads)
            atexit.register(_warm.close)
        return _warm


def _unwanted(worker: Any, key: str) -> bool:
    """Nobody waits for this task any more: its client cancelled it (Ctrl-C) or went away,
    or the worker is closing (its job should stop cleanly before the scheduler reruns it).
    Reads the worker's state from the task's thread: one attribute, no locks needed."""
    task = worker.state.tasks.get(key)
    return task is None or task.state == "cancelled" or _closing(worker)


def _closing(worker: Any) -> bool:
    return worker.status.name in ("closing", "closed", "failed")


def run_process(job: Job, threads: int, extra_env: dict[str, str],
                stop: Callable[[], bool]) -> dict[str, Any]:
    """The job's process, as `JobRunner._run` runs it, plus two things a cluster needs: it
    dies with this worker process (`die_with_parent`), and it is stopped like a Ctrl-C'd
    local job (SIGINT, SIGKILL after STOP_GRACE, partial files removed) once `stop()`."""
    started = time.perf_counter()
    process = start_job(job, threads, extra_env, die_with_parent())
    report = {"pid": process.pid}
    while True:
        try:
            returncode = process.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if stop():
                _stop(process)
                remove_partials(job)
                return {**report, "status": "stopped", "seconds": time.perf_counter() - started,
                        "message": "batch interrupted; partial files removed"}
    seconds = time.perf_counter() - started
    if returncode == 0:
        return {**report, "status": "done", "seconds": seconds, "message": ""}
    return {**report, "status": "failed", "seconds": seconds,
            "message": failure_message(job, returncode)}


def _stop(process: subprocess.Popen) -> None:
    signal_group(process, signal.SIGINT)
    try:
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        signal_group(process, signal.SIGKILL)
        process.wait()


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGKILL when its parent dies (Linux only:
    prctl(PR_SET_PDEATHSIG); elsewhere None, and a killed worker's job runs on to its end,
    its outputs still renamed into place whole, while the rerun writes the same partials).

    A Dask worker that dies (killed, out of memory) would otherwise leave its job's process
    running, an orphan writing the same partial files as the job's rerun elsewhere. The
    signal comes when the thread that started the child ends, which here is the task's
    thread, waiting for the child; the prctl function is looked up before the fork, so the
    child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(int(signal.SIGKILL)))
        if os.getppid() != parent:  # the parent died before the prctl: no signal will come
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec
