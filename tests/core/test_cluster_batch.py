"""`dancerev batch --cluster`: real dance jobs on a real Dask cluster (a LocalCluster of two
worker processes on loopback), one of its workers killed mid-job.

Each dance job is a real `dancerev dance` process with a tiny untrained model and a 1 s
dance; every test has a deadline (pytest-timeout), and each cluster is closed at its end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dancerev_core.cli import main
from dancerev_core.commands import cluster as cluster_batch
from dancerev_core.commands.batch import read_manifest
from tests.conftest import shared_data

distributed = pytest.importorskip(
    "distributed", reason="distributed is not installed: pip install -e .[cluster]")
psutil = pytest.importorskip("psutil", reason="psutil (a dependency of distributed) missing")

# the slowest test here takes about 40 s on one free core
pytestmark = pytest.mark.timeout(180, method="signal")

SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
TINY_MODEL = dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32, window=4,
                  decoder_hidden=32)


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """What the cluster's workers (started after this) and their jobs inherit: one torch
    thread, a private feature cache and a throw-away Blender user folder."""
    folder = tmp_path_factory.mktemp("cluster-env")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.setenv("DANCEREV_CACHE_DIR", str(folder / "cache"))
        patch.setenv("BLENDER_USER_RESOURCES", str(folder / "blender-user"))
        yield


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny untrained canonical 3D model: real weights, real decoding, seconds to run."""
    import torch

    from dancerev_core.model import ModelConfig, Seq2Seq, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny",
                           Seq2Seq(ModelConfig(joint_set="canonical24", **TINY_MODEL)),
                           training={"epoch": 0})


def local_cluster():
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address=":0")


@pytest.fixture(scope="module")
def cluster(environment):
    with local_cluster() as running:
        yield running


def manifest(folder: Path, model: Path, count: int, **defaults) -> Path:
    path = folder / "jobs.json"
    path.write_text(json.dumps({
        "defaults": {"model": str(model), "seconds": 1, "song": str(shared_data("music", SONG)),
                     **defaults},
        "jobs": [{"output": f"out/job{number}.blend", "seed": number}
                 for number in range(1, count + 1)]}))
    return path


def leftovers(folder: Path) -> list[str]:
    """Partial outputs and scratch folders, as `dance` names them (.NAME.partial.SUFFIX,
    .NAME.dances)."""
    return sorted(path.name for path in folder.iterdir()
                  if ".partial." in path.name or path.name.endswith(".dances"))


def warm_worker_pid(log: Path) -> int:
    (line,) = [line for line in log.read_text().splitlines() if "batch's warm worker" in line]
    return int(line.split("pid ")[1].rstrip(")"))


def test_a_batch_runs_on_the_cluster_workers_and_a_rerun_skips_it(cluster, model, tmp_path,
                                                                   capsys):
    path = manifest(tmp_path, model, 6)
    assert main(["batch", str(path), "--cluster", cluster.scheduler_address]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.blend")) == [f"job{n}.blend" for n in range(1, 7)]
    assert leftovers(out) == []
    assert "6 of 6 jobs succeeded" in printed
    assert "cluster overhead: " in printed and " then per job median " in printed
    rows = [line for line in printed.splitlines() if line.split()[1:2] in [[f"job{n}"]
                                                                          for n in range(1, 7)]]
    assert len(rows) == 6 and all(" done " in row for row in rows), printed
    addresses = {row.split()[-1] for row in rows}  # the worker column
    assert addresses == set(cluster.scheduler_info["workers"]), printed
    # one warm dance worker per Dask worker process made every job's dances there
    warm = {warm_worker_pid(out / f"job{n}.log") for n in range(1, 7)}
    assert len(warm) == len(addresses)

    assert main(["batch", str(path), "--cluster", cluster.scheduler_address]) == 0
    again = capsys.readouterr().out
    assert again.count(" skipped ") == 6 and "6 of 6 jobs succeeded" in again


def test_a_job_that_fails_by_itself_is_failed_not_rerun(cluster, model, tmp_path):
    path = manifest(tmp_path, model, 1, song=str(tmp_path / "missing.ogg"))
    (outcome,) = cluster_batch.run_on_cluster(cluster.scheduler_address, read_manifest(path),
                                              threads=1)
    assert outcome.status == "failed" and "song file not found" in outcome.message
    assert outcome.worker in cluster.scheduler_info["workers"] and outcome.pid > 0
    assert not (tmp_path / "out" / "job1.blend").exists()


def test_ctrl_c_stops_the_running_jobs_on_their_workers(cluster, model, tmp_path):
    """The batch's Ctrl-C cancels the tasks; each running job's worker stops its process
    (SIGINT, then SIGKILL) and removes its partial files; the summary and exit status are
    the local batch's."""
    from tests.conftest import REPO_ROOT

    path = manifest(tmp_path, model, 4)
    with distributed.Client(cluster) as client:
        worker_pids = client.run(os.getpid)
    batch = subprocess.Popen([sys.executable, "-m", "dancerev_core", "batch", str(path),
                              "--cluster", cluster.scheduler_address], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not dances_on(worker_pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert dances_on(worker_pids), "no job started"
        batch.send_signal(signal.SIGINT)
        printed, _ = batch.communicate(timeout=30)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 130, printed
    assert " stopped " in printed and "interrupted: " in printed, printed
    assert not dances_on(worker_pids) and leftovers(tmp_path / "out") == []


def dances_on(worker_pids: dict[str, int]) -> list:
    return [child for pid in worker_pids.values() for child in children(pid)
            if "dancerev_core dance" in command_of(child)]


def command_of(process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # it ended meanwhile
        return ""


@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["rerun", "given-up"])
def test_a_killed_worker_takes_its_job_along(cluster, model, tmp_path, monkeypatch,
                                             allowed_failures):
    """Dask's default (3 lost workers allowed) runs the killed job again elsewhere; with
    none allowed it is failed, "worker lost 1 time". Either way nothing partial stays.
    (The cluster's nanny starts a new worker for the killed one.)"""
    # the scheduler's setting distributed.scheduler.allowed-failures, on this one in-process
    monkeypatch.setattr(cluster.scheduler, "allowed_failures", allowed_failures)
    jobs = read_manifest(manifest(tmp_path, model, 4))
    out = tmp_path / "out"
    killed: dict = {}
    with distributed.Client(cluster) as client:
        worker_pids = client.run(os.getpid)
        killer = threading.Thread(target=kill_a_worker_mid_job,
                                  args=(worker_pids, out, killed))
        killer.start()
        try:
            outcomes = cluster_batch.run_on_cluster(cluster.scheduler_address, jobs, threads=1)
        finally:
            killer.join()
    assert "worker" in killed, "no worker was killed mid-job"
    print(killed, cluster_batch.cluster_summary(outcomes), sep="\n")
    for outcome in outcomes:
        assert outcome.status in ("done", "failed"), outcome
        assert outcome.status == "done" or outcome.message, outcome
    (hit,) = [o for o in outcomes if str(o.job.settings["output"]) == killed["output"]]
    if allowed_failures:
        assert hit.status == "done" and all(path.is_file() for path in hit.job.outputs)
        assert hit.pid != killed["dance"] and hit.worker != killed["worker"]  # it ran again
    else:
        assert hit.status == "failed" and hit.message.startswith("worker lost 1 time:"), hit
        assert hit.worker == killed["worker"] and not Path(killed["output"]).exists()
    for outcome in outcomes:
        if outcome.status == "done":
            assert all(path.is_file() for path in outcome.job.outputs)
        else:
            assert "worker lost" in outcome.message, outcome  # none failed by itself
    assert killed["partials_at_kill"] and leftovers(out) == []  # there were some; gone
    # PR_SET_PDEATHSIG: the job's process died with its worker (no orphan kept writing);
    # the warm dance worker ended too, its stdin closed
    for name in ("dance", "warm"):
        assert killed[name + " gone"], f"the killed worker's {name} process outlived it"


def kill_a_worker_mid_job(worker_pids: dict[str, int], out: Path, killed: dict) -> None:
    """SIGKILL a Dask worker process while its dance has partial files beside its outputs
    (the dances it saved, a half-written .blend), the worst moment; note the dance's output
    and pid, and whether it and the worker's warm dance worker ended with the worker."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for address, pid in worker_pids.items():
            for dance in children(pid):
                if "dancerev_core dance" not in command_of(dance):
                    continue
                output = output_of(dance)
                stem = Path(output).stem
                while output and not gone(dance, seconds=0):
                    own = [name for name in leftovers(out) if name.startswith(f".{stem}.")]
                    if own:
                        killed.update(worker=address, partials_at_kill=own, output=output)
                        return kill_worker(pid, dance, killed)
                    time.sleep(0.002)
        time.sleep(0.01)


def kill_worker(pid: int, dance, killed: dict) -> None:
    warm = [child for child in children(pid) if "dancerev_core.worker" in command_of(child)]
    killed["dance"] = dance.pid
    os.kill(pid, signal.SIGKILL)
    for name, process in (("dance", dance), ("warm", warm[0] if warm else None)):
        killed[name + " gone"] = process is None or gone(process)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_job_process_dies_with_the_process_that_started_it(tmp_path):
    """The mechanism alone: a parent started with die_with_parent's preexec_fn a `sleep 60`,
    then is SIGKILLed; the sleep must end at once instead of running on as an orphan."""
    script = ("import subprocess, sys\n"
              "from dancerev_core.commands.cluster import die_with_parent\n"
              "child = subprocess.Popen(['sleep', '60'], preexec_fn=die_with_parent(), "
              "start_new_session=True)\n"
              "print(child.pid, flush=True)\n"
              "sys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    assert gone(child, seconds=1.0)


def output_of(dance) -> str:
    """The output a running dance writes ("" once it has ended)."""
    try:
        command = dance.cmdline()
    except psutil.Error:
        return ""
    return command[command.index("-o") + 1]


def children(pid: int) -> list:
    try:
        return psutil.Process(pid).children()
    except psutil.Error:  # it ended meanwhile
        return []


def gone(process, seconds: float = 5.0) -> bool:
    """It ended within `seconds` (a zombie counts: an orphan waits there for its reaper)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.Error:  # no such process
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def test_an_unreachable_scheduler_is_a_one_line_error(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cluster_batch, "CONNECT_SECONDS", 1.0)
    path = manifest(tmp_path, model, 1)
    assert main(["batch", str(path), "--cluster", "tcp://127.0.0.1:9"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("dancerev batch: error: --cluster tcp://127.0.0.1:9: cannot "
                                "reach a Dask scheduler there ("), error
    assert not any("Traceback" in line for line in error)
    assert main(["batch", str(path), "--cluster", ""]) == 2
    assert "--cluster: expected a Dask scheduler address" in capsys.readouterr().err
