"""The warm worker (`python -m dancerev_core.worker --warm`), run for real: many jobs in one
process, the model and the song kept, cancel without a restart, EOF, bad lines.

Speaks to it as the add-on's `WarmJob` does; every test has a deadline (pytest-timeout).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from dancerev_core.formats.motion_npz import load_motion
from dancerev_core.generation.kept import Kept
from dancerev_core.worker import EXIT_OK
from dancerev_core.worker.control import GRACE_SECONDS, HARD_SECONDS
from tests.conftest import shared_data
from tests.core import test_worker as one_shot
from tests.core.test_worker import CANCEL_LATENCY, SONG, TERMINAL, checkpoint, leftovers, run

# the one-shot worker tests' fixtures: the feature cache, the worker starter, the song
cache, start, excerpt = one_shot.cache, one_shot.start, one_shot.excerpt

pytestmark = pytest.mark.timeout(120, method="signal")
WARM = [sys.executable, "-m", "dancerev_core.worker", "--warm"]


def job(worker, request) -> list[dict]:
    """Send one request and read up to its last line."""
    import json

    worker.send(json.dumps(request))
    return worker.until(lambda e: e["event"] in TERMINAL)


def generate_request(song, model, out, **fields) -> dict:
    return {"job": "generate", "song": str(song), "checkpoint": str(model),
            "output": str(out), "seconds": 4.0, "device": "cpu", **fields}


def test_many_jobs_in_one_process_give_what_one_shot_workers_give(start, excerpt, tmp_path):
    model = checkpoint(tmp_path)
    worker = start(None, command=WARM)
    hello = worker.next_event()
    assert hello["event"] == "hello" and hello["warm"] is True
    analysed = job(worker, {"job": "analyse", "song": str(excerpt)})[-1]
    assert analysed["event"] == "result" and analysed["fps"] == 15.0
    dances = []
    for seed in (1, 2, 1):  # the model and the song are loaded once; seeds still differ
        out = tmp_path / f"warm-{len(dances)}"
        events = job(worker, generate_request(excerpt, model, out, seed=seed))
        assert events[-1]["event"] == "result", events[-1]
        dances.append(load_motion(events[-1]["files"][0]).positions)
    assert worker.process.poll() is None  # still there for the next job
    np.testing.assert_array_equal(dances[0], dances[2])
    assert not np.allclose(dances[0], dances[1])
    # a one-shot worker makes exactly the same dance
    events, code, _ = run(start, generate_request(excerpt, model, tmp_path / "once", seed=1))
    assert code == EXIT_OK
    np.testing.assert_array_equal(load_motion(events[-1]["files"][0]).positions, dances[0])
    worker.process.stdin.close()  # EOF while idle: the worker ends cleanly
    assert worker.process.wait(30) == EXIT_OK


def test_cancel_stops_the_job_not_the_worker(start, excerpt, tmp_path):
    big = checkpoint(tmp_path, decoder_hidden=768)
    worker = start(generate_request(shared_data("music", SONG), big, tmp_path / "long",
                                    seconds=None, num=32), command=WARM)
    worker.until(lambda e: e["event"] == "progress" and e["stage"] == "generate"
                 and e["done"] > 0)
    began = time.perf_counter()
    worker.send('{"cancel": true}')
    events = worker.until(lambda e: e["event"] in TERMINAL)
    seconds = time.perf_counter() - began
    print(f"warm cancel latency {seconds:.3f} s")
    assert events[-1]["event"] == "cancelled" and "cancel requested" in events[-1]["message"]
    assert seconds < CANCEL_LATENCY < GRACE_SECONDS + HARD_SECONDS
    assert leftovers(tmp_path / "long") == []
    assert worker.process.poll() is None
    # the next job runs in the same process, and a cancel while idle changes nothing
    worker.send('{"cancel": true}')
    small = checkpoint(tmp_path / "small")
    events = job(worker, generate_request(excerpt, small, tmp_path / "next"))
    assert events[-1]["event"] == "result", events[-1]


def test_requests_while_busy_bad_lines_and_eof_mid_job(start, excerpt, tmp_path):
    worker = start(None, command=WARM)
    worker.next_event()
    bad = job(worker, {"job": "dance"})[-1]
    assert bad["event"] == "error" and bad["kind"] == "request" and "unknown job" in bad[
        "message"]
    big = checkpoint(tmp_path, decoder_hidden=768)
    worker.send(__import__("json").dumps(generate_request(
        shared_data("music", SONG), big, tmp_path / "long", seconds=None, num=32)))
    worker.until(lambda e: e["event"] == "progress" and e["stage"] == "generate")
    worker.send('{"job": "check"}')
    busy = worker.until(lambda e: e["event"] == "log" and e.get("kind") == "busy")[-1]
    assert busy["level"] == "error" and "generate job runs" in busy["message"]
    assert worker.process.poll() is None
    worker.process.stdin.close()  # the add-on went away mid-job: cancelled, then the end
    events, code = worker.finish()
    assert events[-1]["event"] == "cancelled" and "stdin closed" in events[-1]["message"]
    assert code == EXIT_OK and leftovers(tmp_path / "long") == []


def test_kept_reloads_a_rewritten_checkpoint_and_refuses_another_joint_set(tmp_path, excerpt):
    from dancerev_core.errors import DanceRevError

    kept = Kept()
    path = checkpoint(tmp_path)
    first = kept.checkpoint(path)
    assert kept.checkpoint(path) is first and kept.hits["model"] == 1
    assert kept.music(excerpt, fps=15.0) is kept.music(excerpt, fps=15.0)
    assert kept.music(excerpt, fps=30.0).fps == 30.0 and kept.hits["song"] == 1
    with pytest.raises(DanceRevError, match="joint set 'canonical24', 'body25' was expected"):
        kept.checkpoint(path, expect_joint_set="body25")
    time.sleep(0.01)  # a new modification time even on coarse clocks
    again = checkpoint(tmp_path)  # the same name written anew
    assert again == path and kept.checkpoint(path) is not first
    with pytest.raises(DanceRevError, match="checkpoint not found"):
        kept.checkpoint(tmp_path / "missing")
