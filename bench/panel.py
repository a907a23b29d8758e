#!/usr/bin/env python3
"""The panel's Generate, clicked as an animator does: from the click to the keyframes written.

    OMP_NUM_THREADS=1 bash .ci/with-venv python bench/panel.py [--seconds 60] [--repeats 5]

Issue 17: bpy as a module, the add-on registered, DanceRev's default dancer, the shipped
model and 60 s of Vibe Ace (its features cached first, as after any earlier use). Each
click runs `dancerev.generate` and ticks the add-on's timer until the run has written its
Action, a new seed each time. In the same process, in this order:
- cold: the first click on the warm worker (the process started, torch imported, the model
  loaded and its int8 decoder prepared, the song read);
- warm: the next `--repeats` clicks on that worker;
- per job: `--repeats` clicks with a worker process started for each job, as before the
  warm worker (what a click cost until then).
Medians are printed, and warm and cold against per job as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


SHARED = ROOT.parent / "shared" / "data"
SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


def click(scene, seed: int, runs) -> float:
    """One Generate, to its keyframes; its seconds."""
    import bpy

    scene.dancerev.seed = seed
    began = time.perf_counter()
    assert bpy.ops.dancerev.generate() == {"FINISHED"}
    while runs.is_running("generate"):
        runs.tick()
        time.sleep(0.005)  # the timer's own interval is 0.1 s; this measures the work
    seconds = time.perf_counter() - began
    if "Error" in scene.dancerev.status:
        raise SystemExit(f"generate failed: {scene.dancerev.status}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import bpy

    import addon

    addon.register()
    runs = addon.runs
    with tempfile.TemporaryDirectory(prefix="dancerev-panel-bench-") as scratch:
        addon.settings.user_folder = lambda: Path(scratch)  # this run's own folders
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        assert bpy.ops.dancerev.add_default_character() == {"FINISHED"}
        song = SHARED / "music" / SONG
        scene.dancerev.song_path = str(song)
        scene.dancerev.length = args.seconds
        # the song's features in the cache first, by a worker of its own
        job = runs.worker_job({"job": "analyse", "song": str(song)}).start()
        job.wait()
        if job.state != "done":
            raise SystemExit(f"analysing {song.name} failed: {job.error}")
        cold = click(scene, 0, runs)
        warm = [click(scene, seed, runs) for seed in range(1, args.repeats + 1)]
        worker = runs._warm[0]
        starts = worker.starts
        runs.stop_warm_worker()
        original = runs.worker_job
        runs.worker_job = lambda request, context=None, warm=False: original(
            request, context, warm=False)
        per_job = [click(scene, seed, runs) for seed in range(1, args.repeats + 1)]
        runs.worker_job = original
    addon.unregister()
    baseline = statistics.median(per_job)
    print(f"Generate to keyframes, {args.seconds:g} s of {SONG}, default dancer, shipped "
          f"model (median of {args.repeats}):")
    print(f"  per job (a process per click): {baseline:.2f} s "
          f"({', '.join(f'{s:.2f}' for s in per_job)})")
    print(f"  cold (first click, warm worker starting): {cold:.2f} s "
          f"= {cold / baseline:.2f}x per job")
    print(f"  warm: {statistics.median(warm):.2f} s ({', '.join(f'{s:.2f}' for s in warm)}) "
          f"= {statistics.median(warm) / baseline:.2f}x per job; worker processes started: "
          f"{starts}")


if __name__ == "__main__":
    main()
