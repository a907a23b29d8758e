"""File helpers: a failed write never costs the old file, and JSON never meets numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dancerev_core.errors import InputFileError
from dancerev_core.files import atomic_output, json_ready, load_json, staged_outputs


def test_a_failed_write_leaves_the_old_file_and_no_leftovers(tmp_path):
    target = tmp_path / "dance.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target, "w") as stream:
        stream.write("half of the new")
        raise RuntimeError("crash mid-write")
    with pytest.raises(RuntimeError), staged_outputs([target]) as partials:
        partials[target].write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    with atomic_output(target, "w") as stream:
        stream.write("new")
    assert target.read_text() == "new" and sorted(tmp_path.iterdir()) == [target]


def test_json_ready_turns_numpy_paths_and_non_finite_numbers_into_plain_json():
    value = {1: np.float32(0.5), "a": np.arange(3), "p": Path("x/y.npz"),
             "bad": [float("nan"), np.float64("inf")], "t": (np.int64(2), None)}
    ready = json_ready(value)
    assert ready == {"1": 0.5, "a": [0, 1, 2], "p": "x/y.npz", "bad": [None, None],
                     "t": [2, None]}
    json.dumps(ready, allow_nan=False)


def test_load_json_names_the_file_in_one_line(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    for path in (broken, tmp_path / "missing.json"):
        with pytest.raises(InputFileError) as error:
            load_json(path)
        assert path.name in str(error.value) and "\n" not in str(error.value)


def test_remove_scratch_takes_a_killed_writers_temp_file_and_leaves_the_rest(tmp_path):
    from dancerev_core.files import remove_scratch, scratch_folder

    folder = scratch_folder(tmp_path / "job.blend")
    folder.mkdir()
    (folder / "dance-0.npz").write_bytes(b"npz")
    (folder / ".dance-1.npz.k3j9x2ab.tmp").write_bytes(b"half")  # atomic_output's temp name
    remove_scratch(folder)
    assert not folder.exists()
    folder.mkdir()
    (folder / "notes.txt").write_text("not ours")
    remove_scratch(folder)
    assert sorted(path.name for path in folder.iterdir()) == ["notes.txt"]
