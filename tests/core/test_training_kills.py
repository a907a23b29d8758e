"""Real kills of `dancerev train`: SIGKILL at chosen moments, then check what the run left.

The README promises that a kill at any moment leaves the last good checkpoint loadable, and
that the temporary files of a checkpoint write killed halfway (`.NAME.*.tmp`, see
weights_pair.py) are removed by the next run of the same training. An exception raised from a
patched write (test_model_checkpoint.py) runs `finally` blocks and `except` cleanups; a SIGKILL
runs nothing, so here `python -m dancerev_core train` runs as a real process and is killed:

- mid-epoch, after at least one trained epoch is committed;
- during a checkpoint write (of `last`, `best` or a snapshot), with its temp file on disk;
- right after the first checkpoint (the initialised model, epoch 0) appears.

After each kill every checkpoint in the run folder loads with `load_checkpoint`, `last` holds
an epoch that finished, `--resume` continues it to a later epoch, and afterwards nothing a
killed write leaves (temp files, weights no JSON names) remains anywhere in the run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dancerev_core.model.checkpoint import load_checkpoint
from dancerev_core.training.progress import read_history
from tests.core.test_training import TINY_MODEL, TINY_TRAINING, write_takes

# d_inner 65536 (instead of 128) makes the encoder's feed-forward layer 4M weights, cheap to
# compute on 30-frame windows (about 0.6 s an epoch) but 50 MB for `last` (weights + Adam
# moments) and 9 MB for a float16 snapshot: their temp files then live for tens of ms (a few
# ms for a snapshot) instead of about one, long enough for a poll every millisecond to see.
KILL_MODEL = {**TINY_MODEL, "d_inner": 65536}
KILL_TRAINING = {**TINY_TRAINING, "snapshot_every": 1, "health_every": 0}
EPOCHS = 200  # far more than the run reaches before it is killed
POLL_SECONDS = 0.001
MOMENT_DEADLINE = 90.0  # seconds from the start of the run for the moment to come
RESUME_TIMEOUT = 120.0
WAIT_TIMEOUT = 30.0  # for a killed or stopped process to be reported as such


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """test_training's 4 CMU takes with 12 s of a real song each."""
    return write_takes(tmp_path_factory.mktemp("kills") / "dataset")


@pytest.fixture
def train_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the training processes: test_training's feature cache."""
    return {**os.environ, "DANCEREV_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "cache")}


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "kill.json"
    path.write_text(json.dumps({"model": KILL_MODEL, "training": KILL_TRAINING}))
    return path


# ------------------------------------------------------------------- what a run folder holds
def temp_files(run: Path, name: str = "") -> list[Path]:
    """Hidden temp files of atomic writes (`.NAME.*.tmp`, `.NAME.partial.SUFFIX`) anywhere in
    the run folder; with `name`, only those of that pair (`last`, `best`, `e0003`...)."""
    found = []
    for folder in (run, run / "snapshots"):
        with contextlib.suppress(FileNotFoundError):
            found += [folder / entry for entry in os.listdir(folder)
                      if entry.startswith(f".{name}") and (entry.endswith(".tmp")
                                                           or ".partial" in entry)]
    return found


def snapshot_temps(run: Path) -> list[Path]:
    return [path for path in temp_files(run) if path.parent.name == "snapshots"]


def leftovers(run: Path) -> list[str]:
    """What a killed write may leave: temp files, and weights files that no JSON names."""
    named = {json.loads(path.read_text())["weights"] for path in run.rglob("*.json")}
    orphans = [path for path in run.rglob("*.safetensors") if path.name not in named]
    return sorted(str(path.relative_to(run)) for path in [*run.rglob("*.tmp"), *orphans,
                                                          *run.rglob("*.partial*")])


def committed_epoch(run: Path) -> int:
    """The epoch `last.json` records (read without its weights, as a quick look)."""
    return json.loads((run / "last.json").read_text())["training"]["epoch"]


def finished_epochs(run: Path) -> list[int]:
    """The epochs of the history (one line per epoch, appended just before its `last`)."""
    return [entry["epoch"] for entry in read_history(run / "history.jsonl")]


# ------------------------------------------------------------------- the training process
@contextlib.contextmanager
def training_process(args: list[str], env: dict[str, str], logs: Path
                     ) -> Iterator[subprocess.Popen]:
    """`python -m dancerev_core train ARGS` in its own session; killed when the block ends."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "dancerev_core", "train", *args],
                                   stdout=out, stderr=err, env=env, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(WAIT_TIMEOUT)


def ended_early(process: subprocess.Popen, logs: Path) -> str:
    return (f"the training run ended (exit {process.returncode}) before it was killed; "
            f"stderr: {(logs / 'stderr').read_text()[-2000:]}")


def freeze(process: subprocess.Popen) -> bool:
    """SIGSTOP the run and wait until it is stopped; False when it exited instead."""
    os.killpg(process.pid, signal.SIGSTOP)
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WNOHANG | os.WUNTRACED)
        if pid and os.WIFSTOPPED(status):
            return True
        if pid:  # it exited: tell Popen, which can no longer wait for it
            process.returncode = os.waitstatus_to_exitcode(status)
            return False
        time.sleep(POLL_SECONDS)
    pytest.fail(f"the training run did not stop within {WAIT_TIMEOUT:g} s of SIGSTOP")


def kill_when(process: subprocess.Popen, run: Path, logs: Path, moment: Callable[[Path], bool],
              what: str) -> None:
    """Poll the run folder every millisecond until `moment(run)` holds, then SIGKILL the run.

    Between seeing the moment and the kill the run could move on (a temp file seen could be
    renamed into place), so the run is first frozen with SIGSTOP and the moment checked again
    while it cannot move: if it still holds, SIGKILL lands exactly there; if not, the run
    continues and the poll goes on. The moment not coming within MOMENT_DEADLINE fails.
    """
    deadline = time.monotonic() + MOMENT_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(ended_early(process, logs))
        if moment(run):
            if not freeze(process):
                pytest.fail(ended_early(process, logs))
            if moment(run):
                os.killpg(process.pid, signal.SIGKILL)
                assert process.wait(WAIT_TIMEOUT) == -signal.SIGKILL
                return
            os.killpg(process.pid, signal.SIGCONT)
        time.sleep(POLL_SECONDS)
    pytest.fail(f"could not catch the moment {what!r} within {MOMENT_DEADLINE:g} s "
                f"(epochs finished: {finished_epochs(run)})")


# ------------------------------------------------------------------- the moments of the kill
def mid_epoch() -> Callable[[Path], bool]:
    """Half an epoch after a trained epoch's history line, once `last` holds that epoch and
    while no file is being written."""
    line_seen_at: dict[int, float] = {}

    def moment(run: Path) -> bool:
        entries = read_history(run / "history.jsonl")
        if not entries:
            return False
        epoch = entries[-1]["epoch"]
        seen = line_seen_at.setdefault(epoch, time.monotonic())
        return (time.monotonic() - seen > entries[-1]["seconds"] / 2
                and not temp_files(run) and committed_epoch(run) == epoch)

    return moment


def during_write_of(name: str) -> Callable[[], Callable[[Path], bool]]:
    """While the temp file of a write of `name` (after the epoch-0 checkpoint) is on disk."""
    def moment(run: Path) -> bool:
        if name == "snapshot":
            return bool(snapshot_temps(run))
        return (run / "last.json").exists() and bool(temp_files(run, f"{name}."))

    return lambda: moment


def first_checkpoint() -> Callable[[Path], bool]:
    return lambda run: (run / "last.json").exists()


MOMENTS = {
    "mid-epoch": mid_epoch,
    "during-last-write": during_write_of("last"),
    "during-best-write": during_write_of("best"),
    "during-snapshot-write": during_write_of("snapshot"),
    "right-after-first-checkpoint": first_checkpoint,
}


# ------------------------------------------------------------------- the test
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_killed_run_keeps_its_last_checkpoint_and_resumes_clean(
        dataset, tmp_path, config_file, train_env, moment):
    run = tmp_path / "run"
    train = [str(dataset), "-o", str(run), "--quiet"]
    with training_process([*train, "--config", str(config_file), "--epochs", str(EPOCHS)],
                          train_env, tmp_path / "killed") as process:
        kill_when(process, run, tmp_path / "killed", MOMENTS[moment](), moment)
    left_by_kill = leftovers(run)
    if moment.startswith("during"):  # the kill landed mid-write: its temp file stays
        assert any(name.endswith(".tmp") for name in left_by_kill), left_by_kill

    # every checkpoint on disk loads (sizes and sha256 checked), `last` at a finished epoch
    checkpoints = {path.relative_to(run).as_posix(): load_checkpoint(path, device="cpu")
                   for path in sorted(run.rglob("*.json"))}
    assert "last.json" in checkpoints, sorted(checkpoints)
    epoch = checkpoints["last.json"].training["epoch"]
    history = finished_epochs(run)
    # an epoch's history line is appended just before its `last`: a kill between the two
    # leaves one line too many (which resuming drops), never one too few
    assert history in (list(range(1, epoch + 1)), list(range(1, epoch + 2))), (epoch, history)
    assert 0 <= epoch < EPOCHS
    if moment == "mid-epoch":
        assert epoch >= 1 and history == list(range(1, epoch + 1))
    if moment == "right-after-first-checkpoint":
        assert epoch == 0 and set(checkpoints) == {"last.json"}

    # --resume continues from it, and the files the kill left are gone afterwards
    target = epoch + 1
    with training_process([*train, "--resume", "--epochs", str(target)], train_env,
                          tmp_path / "resumed") as resumed:
        try:
            code = resumed.wait(RESUME_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the resumed run did not finish within {RESUME_TIMEOUT:g} s")
    stderr = (tmp_path / "resumed" / "stderr").read_text()
    assert code == 0, stderr
    assert f"resuming {run} after epoch {epoch}" in (tmp_path / "resumed" / "stdout").read_text()
    assert load_checkpoint(run / "last.json", device="cpu").training["epoch"] == target
    assert leftovers(run) == [], f"left by the kill: {left_by_kill}"
    assert finished_epochs(run) == list(range(1, target + 1))
    shutil.rmtree(run)  # some 150 MB of checkpoints; a failing test keeps them to look at
