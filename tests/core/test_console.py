"""Readable output: progress as whole lines at 10 % or 10 s steps, Blender's chatter in a log."""

from __future__ import annotations

import os
import subprocess
import sys

from dancerev_core import console


def test_progress_lines_every_tenth_or_ten_seconds_and_each_stage_once():
    shown, now = [], [0.0]
    lines = console.ProgressLines(shown.append, clock=lambda: now[0])
    lines.update("load", 0, 1, "loading the model")
    for frame in range(0, 1001, 8):  # a progress event every 8 of 1000 frames
        lines.update("generate", frame, 1000, f"frame {frame} of 1000")
    assert shown[0] == "  loading the model"  # a stage's first line has no percentage
    generate = shown[1:]
    assert len(generate) == 11 and generate[-1] == "  frame 1000 of 1000 100%"
    assert all("\r" not in line for line in shown)
    # a slow stage still says something every 10 s
    lines.update("render", 0, 100, "rendering")
    for second in range(1, 31):
        now[0] = second
        lines.update("render", 1, 100, "rendered 1")
    assert shown[-4:] == ["  rendering 0%"] + ["  rendered 1 1%"] * 3


def test_blenders_output_goes_to_the_log_and_ours_to_the_terminal(tmp_path):
    """In a process of its own, as `dancerev dance` runs: descriptors 1 and 2 are real."""
    log = tmp_path / "run.log"
    script = f"""
import os, subprocess, sys
from dancerev_core import console
with console.output_to_log({str(log)!r}) as terminal:
    print("Video append frame 1")  # Python's stdout
    os.write(2, b"EGL Error (0x3009)\\n")  # C code writing to the descriptor
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child\\\\n')"])
    print("our line", file=terminal, flush=True)
print("after")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert run.stderr == "our line\n" and run.stdout == "after\n"
    assert log.read_text().splitlines() == ["Video append frame 1", "EGL Error (0x3009)",
                                            "child"]


def test_an_error_inside_is_printed_where_the_user_sees_it(tmp_path, capfd):
    try:
        with console.output_to_log(tmp_path / "run.log"):
            raise ValueError("boom")
    except ValueError:
        print("error: boom", file=sys.stderr)
    assert "error: boom" in capfd.readouterr().err


def test_log_files_are_named_per_run_and_the_oldest_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path))
    made = []
    for index in range(console.KEPT_LOGS + 5):
        path = tmp_path / "logs" / f"old-{index:02d}.log"
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
        os.utime(path, (index, index))
        made.append(path)
    new = console.log_file("dance")
    assert new.parent == tmp_path / "logs" and new.name.startswith("dance-")
    left = sorted(p.name for p in (tmp_path / "logs").glob("*.log"))
    assert len(left) == console.KEPT_LOGS - 1 and "old-00.log" not in left


def test_a_log_pruned_meanwhile_by_a_parallel_job_does_not_fail_this_one(tmp_path,
                                                                         monkeypatch):
    # a dangling symlink: found by the folder's listing, gone when its time is read, as a
    # log another job of the batch removed between the two
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path))
    (tmp_path / "logs").mkdir()
    for index in range(console.KEPT_LOGS + 2):
        (tmp_path / "logs" / f"old-{index:02d}.log").write_text("x")
    (tmp_path / "logs" / "gone.log").symlink_to(tmp_path / "nowhere.log")
    assert console.log_file("dance").name.startswith("dance-")
    assert not (tmp_path / "logs" / "gone.log").is_symlink()  # the first to go


def test_bars_are_lines_when_the_output_is_not_a_terminal(tmp_path):
    with open(tmp_path / "log.txt", "w") as stream:
        for _ in console.progress_bar(range(200), desc="style classifier", unit="epoch",
                                      stream=stream):
            pass
        bar = console.progress_bar(total=50, unit="job", stream=stream)
        for _ in range(50):
            bar.set_postfix_str("a.blend done")
            bar.update()
        bar.close()
    lines = (tmp_path / "log.txt").read_text().splitlines()
    # each bar: its first update, one per further 10 % (from there), and its end
    assert "\r" not in "".join(lines) and len(lines) == 11 + 11
    assert lines[10] == "  style classifier: 200/200 epoch 100%"
    assert lines[-1] == "  50/50 job (a.blend done) 100%"
