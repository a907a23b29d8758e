"""Issue 16: every bad input is refused in one line, and the user's files survive it.

The table runs `dancerev` in-process as a hostile or clumsy user would: an output that is an
input (by name, relative path, symlink or hard link), an absurd number, an output that is a
folder or lies under a file or in a read-only folder. Each case must exit 2 with one line on
stderr naming the file or the option, and leave every file in the folder as it was, with
nothing added. Then: a resumed run takes the config it began with (refuses a changed one), a
killed checkpoint write's temp file is cleaned up, and a truncated song is analysed with a
warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.commands import convert
from dancerev_core.formats.motion_npz import save_motion
from dancerev_core.formats.reading import read_motion
from dancerev_core.music.audio import load_audio
from dancerev_core.weights_pair import remove_stale_temps, save_pair
from tests.conftest import shared_data, song_excerpt
from tests.core.test_training import TINY_MODEL, TINY_TRAINING, write_takes

SONG = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg"
WEIGHTS = "m.0123456789abcdef.safetensors"
LONG_AGO = 1_000_000_000  # 2001: an mtime older than any live process


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """Real inputs: a song, a CMU BVH, an OpenPose JSON, a dance .npz and a checkpoint pair
    (its JSON names its weights; the commands refuse before reading them)."""
    folder = tmp_path_factory.mktemp("sources")
    shutil.copy(shared_data("music", SONG), folder / "song.ogg")
    shutil.copy(shared_data("mocap", "cmu", "05", "005_01.bvh"), folder / "in.bvh")
    openpose = sorted(shared_data("openpose").glob("*.json"))[0]
    shutil.copy(openpose, folder / "op.json")
    save_motion(read_motion(folder / "in.bvh", joints="canonical"), folder / "dance.npz")
    (folder / "m.json").write_text(json.dumps({"format": "dancerev-checkpoint",
                                               "weights": WEIGHTS}))
    (folder / WEIGHTS).write_bytes(b"weights")
    return folder


@pytest.fixture
def workspace(sources, tmp_path, monkeypatch) -> Path:
    """A copy of the sources as the current folder, with symlinks and a hard link to the
    song, an empty folder, and a feature cache elsewhere."""
    for path in sources.iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "link.npz").symlink_to("song.ogg")
    (tmp_path / "song_2.npz").symlink_to("song.ogg")  # `generate -o song.npz --num 2` writes
    os.link(tmp_path / "song.ogg", tmp_path / "hard.npz")
    (tmp_path / "folder").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path.parent / f"{tmp_path.name}-cache"))
    return tmp_path


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with its content's digest (folders and links by name)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            state[key] = f"-> {os.readlink(path)}"
        elif path.is_file():
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[key] = "folder"
    return state


def refused(args: list[str], folder: Path, capsys) -> str:
    """Run the command; assert the refusal and that nothing changed; the error line."""
    before = snapshot(folder)
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert snapshot(folder) == before
    return err


CASES = {
    # 1. an output that is one of the command's inputs
    "features over the song": ("features song.ogg -o song.ogg", "song.ogg: is an input"),
    "features over the song, relative": ("features song.ogg -o sub/../song.ogg",
                                         "sub/../song.ogg: is an input"),
    "features over the song, symlink": ("features song.ogg -o link.npz", "link.npz: is an input"),
    "features over the song, hard link": ("features song.ogg -o hard.npz",
                                          "hard.npz: is an input"),
    "generate over the checkpoint": ("generate song.ogg --model m.json -o m.json",
                                     "m.json: is an input"),
    "generate over the weights": (f"generate song.ogg --model m -o {WEIGHTS}",
                                  f"{WEIGHTS}: is an input"),
    "generate over the song, a variation": ("generate song.ogg --model m.json -o song.npz "
                                            "--num 2", "song_2.npz: is an input"),
    "convert over the BVH": ("convert in.bvh -o in.bvh", "in.bvh: is an input"),
    "lift over the OpenPose JSON": ("lift op.json -o op.json", "op.json: is an input"),
    "retarget over the skeleton": ("retarget dance.npz --skeleton in.bvh -o in.bvh",
                                   "in.bvh: is an input"),
    "retarget over the dance": ("retarget dance.npz --skeleton in.bvh -o ./dance.npz",
                                "dance.npz: is an input"),
    "train over its config": ("train . -o m.json --config m.json", "m.json: is an input"),
    "export over its source": ("recipe export . --checkpoint m -o m.json",
                               "m.json: is an input"),
    "choose over a checkpoint": ("recipe choose m.json --data . -o m.json",
                                 "m.json: is an input"),
    # 2. and 8. absurd numbers, refused by the parser before any work
    "features fps 1e9": ("features song.ogg -o x.npz --fps 1e9", "--fps: must be a number in "
                                                                  "(0, 240], got '1e9'"),
    "convert fps 1e7": ("convert in.bvh -o x.npz --fps 1e7", "--fps: must be a number in "
                                                             "(0, 240]"),
    "convert video fps 0": ("convert op.json -o x.npz --video-fps 0", "--video-fps"),
    "retarget smoothing -3": ("retarget dance.npz --skeleton in.bvh -o x.bvh --smoothing -3",
                              "--smoothing: must be a number in [0, 100], got '-3'"),
    "lift smoothing nan": ("lift op.json -o x.npz --smoothing nan",
                           "--smoothing: must be a number in [0, 100], got 'nan'"),
    "lift image size": ("lift op.json -o x.npz --image-size 1e9x1", "--image-size must be "
                                                                    "WIDTHxHEIGHT"),
    "generate seconds 1e9": ("generate song.ogg --model m.json -o x.npz --seconds 1e9",
                             "--seconds: must be a number in (0, 3600]"),
    "generate num 1e6": ("generate song.ogg --model m.json -o x.npz --num 1000000",
                         "--num: must be a whole number in [1, 100]"),
    "generate seed -1": ("generate song.ogg --model m.json -o x.npz --seed -1", "--seed"),
    "generate start inf": ("generate song.ogg --model m.json -o x.npz --start inf",
                           "--start"),
    "train epochs 1e7": ("train . -o run --epochs 10000000",
                         "training epochs must be at most 1000000"),
    "train batch 1e6": ("train . -o run --batch-size 1000000",
                        "training batch_size must be at most 4096"),
    "train image size": ("train . -o run --image-size 0x0", "--image-size must be"),
    "train-classifier epochs 0": ("eval train-classifier . -o c --epochs 0", "--epochs"),
    "train-classifier batch": ("eval train-classifier . -o c --batch-size 100000",
                               "--batch-size: must be a whole number in [1, 4096]"),
    "eval fps": ("eval --real . --generated . -o report --fps -15", "--fps"),
    "ablate epochs": ("ablate . -o out --epochs 0", "--epochs"),
    "lift-train threads": ("lift-train . -o out --threads 100000", "--threads"),
    "batch jobs": ("batch m.json --jobs 0", "--jobs"),
    "a missing argument": ("features song.ogg", "required: -o/--output"),
    # 5. outputs that cannot be written
    "features into a folder": ("features song.ogg -o folder", "folder: is a folder"),
    "convert into a folder": ("convert in.bvh -o folder", "folder: is a folder"),
    "generate into a folder": ("generate song.ogg --model m.json -o folder",
                               "folder: is a folder"),
    "retarget into a folder": ("retarget dance.npz --skeleton in.bvh -o folder",
                               "folder: is a folder"),
    "features under a file": ("features song.ogg -o in.bvh/x.npz",
                              "in.bvh/x.npz: cannot be written: "),
    "convert under a file": ("convert in.bvh -o song.ogg/x/y.npz", "is a file, not a folder"),
    "generate under a file": ("generate song.ogg --model m.json -o in.bvh/x.npz",
                              "in.bvh/x.npz: cannot be written"),
    "retarget under a file": ("retarget dance.npz --skeleton in.bvh -o song.ogg/x.bvh",
                              "song.ogg/x.bvh: cannot be written"),
    "eval under a file": ("eval --real . --generated . -o in.bvh/report",
                          "in.bvh/report: cannot be written"),
    "train under a file": ("train . -o in.bvh/run", "in.bvh/run: cannot be written"),
    "train into an existing file": ("train . -o dance.npz", "dance.npz: is a file, not a "
                                                            "folder"),
    "eval into an existing file": ("eval --real . --generated . -o song.ogg",
                                   "song.ogg: is a file, not a folder"),
}


@pytest.mark.parametrize("command, message", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_one_line_and_loses_nothing(workspace, capsys, command,
                                                            message):
    err = refused(command.split(), workspace, capsys)
    assert message in err and err.startswith("dancerev "), err


def test_a_read_only_folder_is_refused_before_any_work(workspace, capsys, monkeypatch):
    """As root a read-only folder is still writable, so the permission check is shown
    refusing with os.access saying no (the real folder test follows)."""
    locked = workspace / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked
                        and real_access(path, mode))
    for command in (f"features song.ogg -o {locked}/x.npz", f"train . -o {locked}/run",
                    f"eval --real . --generated . -o {locked}/report"):
        err = refused(command.split(), workspace, capsys)
        assert f"no permission to write in {locked}" in err, err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders: covered by the os.access test")
def test_a_really_read_only_folder_is_refused(workspace, capsys):
    locked = workspace / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for command in ("features song.ogg -o locked/x.npz",
                        "convert in.bvh -o locked/x.npz",
                        "retarget dance.npz --skeleton in.bvh -o locked/x.bvh"):
            assert "no permission to write in" in refused(command.split(), workspace, capsys)
    finally:
        locked.chmod(0o755)


def test_a_write_the_system_refuses_midway_is_one_line(workspace, capsys, monkeypatch):
    """What the early check cannot foresee (the folder locked while the command ran) is
    still one line: atomic_output names the file, and cli.py any OSError naming one."""
    def locked(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", locked)
        err = refused(["convert", "in.bvh", "-o", "x.npz"], workspace, capsys)
    assert "x.npz: cannot be written (Permission denied)" in err, err

    def full_disk(motion, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(convert, "save_motion", full_disk)
    err = refused(["convert", "in.bvh", "-o", "x.npz"], workspace, capsys)
    assert "error: x.npz: No space left on device" in err, err


def test_the_bounds_are_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["features", "--help"])
    assert "in (0, 240]" in " ".join(capsys.readouterr().out.split())


# ------------------------------------------------------------------- a truncated song
def test_a_truncated_song_is_analysed_with_a_one_line_warning(workspace, capsys):
    data = (workspace / "song.ogg").read_bytes()
    cut = workspace / "cut.ogg"
    cut.write_bytes(data[:len(data) // 50])
    assert main(["features", "cut.ogg", "-o", "cut.npz"]) == 0
    said = capsys.readouterr()
    assert said.err == ("dancerev features: warning: cut.ogg: the Ogg stream ends in the middle "
                        "of a page (truncated file?); using the 0.4 s that decode\n")
    assert "0.36 s" in said.out
    assert main(["features", "song.ogg", "-o", "whole.npz", "--no-cache"]) == 0
    assert capsys.readouterr().err == ""  # the whole file: no warning


@pytest.mark.parametrize("cut_at", ["page", "between pages"])
def test_an_ogg_cut_anywhere_and_a_short_wav_warn(workspace, cut_at):
    data = (workspace / "song.ogg").read_bytes()
    end = len(data) // 3
    if cut_at == "between pages":  # complete pages, no end-of-stream page
        end = data.rfind(b"OggS", 0, end)
    cut = workspace / "cut.ogg"
    cut.write_bytes(data[:end])
    wav = song_excerpt(SONG, workspace / "excerpt.wav", 0, 8)
    short = workspace / "short.wav"
    short.write_bytes(wav.read_bytes()[:wav.stat().st_size // 2])
    expected = {cut: "ends without its end-of-stream page" if cut_at == "between pages"
                else "ends in the middle of a page", short: "its RIFF header declares",
                wav: None, workspace / "song.ogg": None}
    for path, note in expected.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            samples = load_audio(path, 22050)
        messages = [str(warning.message) for warning in caught]
        assert len(samples) > 22050 and np.isfinite(samples).all()
        assert (messages == []) if note is None else (len(messages) == 1
                                                      and note in messages[0]), messages


# ------------------------------------------------------------------- stale temp files
def test_a_save_removes_only_its_own_stale_temp_files(tmp_path):
    """A killed write leaves `.NAME.….tmp`; the next save of NAME removes those older than
    the process, and nothing else."""
    stale = [tmp_path / ".best.json.ab12cd34.tmp",
             tmp_path / ".best.0123456789abcdef.safetensors.k_9zq2mx.tmp"]
    kept = [tmp_path / ".best.json.fresh123.tmp",  # written now: a live writer's
            tmp_path / ".last.json.ab12cd34.tmp",  # another pair's
            tmp_path / ".bestish.json.ab12cd34.tmp", tmp_path / "best.json.ab12cd34.tmp",
            tmp_path / ".best.json.tmp", tmp_path / "notes.tmp"]
    for path in stale + kept:
        path.write_bytes(b"half a checkpoint")
    for path in stale + kept[1:]:
        os.utime(path, (LONG_AGO, LONG_AGO))
    save_pair(tmp_path / "best", b"weights", {"format": "test", "version": 1})
    assert [path for path in stale if path.exists()] == []
    assert [path for path in kept if not path.exists()] == []
    assert remove_stale_temps(tmp_path, "best") == []


# ------------------------------------------------------------------- resuming a run
@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """test_training's 4 CMU takes with 12 s of a real song each."""
    return write_takes(tmp_path_factory.mktemp("resume") / "dataset")


def write_config(path: Path, model: dict, training: dict) -> Path:
    path.write_text(json.dumps({"model": model, "training": training}))
    return path


def test_resume_takes_the_runs_own_config_and_refuses_a_changed_one(
        dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    config = write_config(tmp_path / "tiny.json", TINY_MODEL, TINY_TRAINING)
    run = tmp_path / "run"
    train = ["train", str(dataset), "-o", str(run), "--quiet"]
    assert main([*train, "--config", str(config), "--epochs", "1"]) == 0
    # a killed write of `last` left its temp files; one of another name stays
    stale = [run / ".last.json.ab12cd34.tmp", run / ".last.0123456789abcdef.safetensors."
                                                    "zz99yy88.tmp"]
    other = run / ".history.jsonl.ab12cd34.tmp"
    for path in (*stale, other):
        path.write_bytes(b"half")
        os.utime(path, (LONG_AGO, LONG_AGO))
    capsys.readouterr()

    # the very config the run began with (and its schedule), epochs from the file: accepted
    same = write_config(tmp_path / "same.json", TINY_MODEL, {**TINY_TRAINING, "epochs": 2})
    assert main([*train, "--resume", "--config", str(same), "--schedule", "linear"]) == 0
    said = capsys.readouterr().out
    assert "resuming" in said and "not bit-for-bit" not in said
    last = json.loads((run / "last.json").read_text())
    assert last["training"]["epoch"] == 2
    assert [path for path in stale if path.exists()] == [] and other.exists()

    # a change is refused, naming what changed, before any work
    changed = write_config(tmp_path / "changed.json", {**TINY_MODEL, "d_model": 64},
                           {**TINY_TRAINING, "lr": 1e-3, "snapshot_every": 5})
    before = snapshot(run)
    assert main([*train, "--resume", "--config", str(changed), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot change a run being resumed" in err, err
    assert "model d_model 32 -> 64" in err and "training lr 0.003 -> 0.001" in err, err
    assert "snapshot_every" not in err  # untimed: a resumed run may change it
    assert snapshot(run) == before
    assert main([*train, "--resume", "--schedule", "const"]) == 2
    assert "model schedule 'linear' -> 'const'" in capsys.readouterr().err
