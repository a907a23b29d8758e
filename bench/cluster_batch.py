#!/usr/bin/env python3
"""`dancerev batch --cluster` against the local `dancerev batch --jobs 2`, on one machine.

    bash .ci/with-venv python bench/cluster_batch.py [--jobs 12] [--seconds 10] [--repeats 2]

The same manifest both ways: 12 jobs (the shared songs, several seeds each), 10-s dances
with the built-in model, no render. The cluster is a LocalCluster of 2 worker processes with
one task thread each (as `--jobs 2` runs two at a time), on loopback; its workers are
restarted before every cluster run (then SETTLE seconds, untimed, for them to finish
starting), so each starts its warm dance workers cold as the local batch does (a long-lived
studio cluster keeps them warm from batch to batch, which only helps it). One untimed local
run first fills the feature cache; then local and cluster runs alternate, --repeats each.
Figures: each run's wall time (the whole command, start to exit), medians, the ratio
cluster/local (goal <= 1.15) and the overhead the cluster run prints: once per batch
(importing distributed, connecting, submitting) and the median per job (the client's wall
time per job minus the job's own process time).
The machine is shared and noisy: read medians, and rerun when a figure looks odd.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", ROOT.parent / "shared" / "data"))
GOAL = 1.15
SETTLE = 5.0  # seconds after restarting the cluster's workers, untimed
JOB_ROW = re.compile(r"^\d+\s+\S+\s+done\s+([0-9.]+)\s", re.MULTILINE)
OVERHEAD = re.compile(r"cluster overhead: (-?[0-9.]+) s to connect and submit, then per job "
                      r"median (-?[0-9.]+) s")


def write_manifest(folder: Path, jobs: int, seconds: float) -> Path:
    songs = sorted((SHARED / "music").glob("*.ogg"))
    if not songs:
        sys.exit(f"no songs in {SHARED / 'music'} (set DANCEREV_SHARED_DATA)")
    entries = [{"song": str(songs[number % len(songs)]), "seed": number // len(songs),
                "output": f"out/job{number + 1:02d}.blend"} for number in range(jobs)]
    path = folder / "jobs.json"
    path.write_text(json.dumps({"defaults": {"seconds": seconds, "start": 10},
                                "jobs": entries}))
    return path


def job_seconds(printed: str) -> float:
    """The sum of the done jobs' own process seconds in a batch's summary table."""
    return sum(float(seconds) for seconds in JOB_ROW.findall(printed))


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one whole batch command, and what it printed; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=12, help="jobs in the manifest")
    parser.add_argument("--seconds", type=float, default=10.0, help="each dance's length")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    folder = Path(tempfile.mkdtemp(prefix="dancerev-bench-cluster-"))
    manifest = write_manifest(folder, args.jobs, args.seconds)
    # the cluster's workers inherit this: a cache of their own, as the batches get
    os.environ["DANCEREV_CACHE_DIR"] = str(folder / "cache")
    env = dict(os.environ)
    batch = [sys.executable, "-m", "dancerev_core", "batch", str(manifest), "--force"]
    with (LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                       dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster,
          Client(cluster) as client):
        local_command = [*batch, "--jobs", "2"]
        cluster_command = [*batch, "--cluster", cluster.scheduler_address]
        print(f"{args.jobs} jobs of {args.seconds:g}-s dances, no render; the commands:\n  "
              f"{' '.join(local_command)}\n  {' '.join(cluster_command)}", flush=True)
        timed(local_command, env)  # untimed: the songs' features into the cache
        local, remote, overheads, setups, work = [], [], [], [], {"local": [], "cluster": []}
        for repeat in range(args.repeats):
            seconds, printed = timed(local_command, env)
            local.append(seconds)
            work["local"].append(job_seconds(printed))
            print(f"  run {repeat + 1}: local {seconds:.1f} s (jobs' own "
                  f"{work['local'][-1]:.1f} s)", flush=True)
            client.restart()  # fresh worker processes: their warm dance workers start cold
            time.sleep(SETTLE)  # they finish starting, as a studio's did long before a batch
            seconds, printed = timed(cluster_command, env)
            remote.append(seconds)
            found = OVERHEAD.search(printed)
            if found is None:
                sys.exit(f"no overhead line in the cluster batch's output:\n{printed}")
            setups.append(float(found.group(1)))
            overheads.append(float(found.group(2)))
            work["cluster"].append(job_seconds(printed))
            print(f"  run {repeat + 1}: cluster {seconds:.1f} s (jobs' own "
                  f"{work['cluster'][-1]:.1f} s), connect and submit {setups[-1]:.2f} s, "
                  f"overhead per job {overheads[-1]:.2f} s", flush=True)
    report(local, remote, overheads, setups)
    print(f"the jobs' own process seconds, summed per batch (medians): local "
          f"{statistics.median(work['local']):.1f} s, cluster "
          f"{statistics.median(work['cluster']):.1f} s")


def report(local: list[float], remote: list[float], overheads: list[float],
           setups: list[float]) -> None:
    rows = [("", "wall s per run", "median s"),
            ("local batch --jobs 2", ", ".join(f"{s:.1f}" for s in local),
             f"{statistics.median(local):.1f}"),
            ("cluster (2 workers x 1)", ", ".join(f"{s:.1f}" for s in remote),
             f"{statistics.median(remote):.1f}")]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    ratio = statistics.median(remote) / statistics.median(local)
    print(f"ratio cluster/local: {ratio:.3f} (goal <= {GOAL}: "
          f"{'met' if ratio <= GOAL else 'missed'})")
    print(f"median per-job overhead on the cluster: {statistics.median(overheads):.2f} s "
          f"(runs: {', '.join(f'{o:.2f}' for o in overheads)}); once per batch, connecting "
          f"and submitting: {statistics.median(setups):.2f} s")


if __name__ == "__main__":
    main()
