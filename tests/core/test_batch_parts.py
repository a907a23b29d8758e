"""What the local and cluster batches share: warm workers' folders left by killed batches."""

from __future__ import annotations

import os
import subprocess
import sys

from dancerev_core.commands.batch_parts import WARM_FOLDER_PREFIX, remove_orphaned_folders


def test_a_killed_batchs_warm_folder_goes_and_a_live_ones_stays(tmp_path):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid names a process that is gone
    orphan = tmp_path / f"{WARM_FOLDER_PREFIX}{ended.pid}-abc"
    live = tmp_path / f"{WARM_FOLDER_PREFIX}{os.getpid()}-def"
    unnamed = tmp_path / f"{WARM_FOLDER_PREFIX}x1-ghi"  # not a pid: not ours to judge
    other = tmp_path / "dancerev-cache"
    for folder in (orphan, live, unnamed, other):
        folder.mkdir()
        (folder / "worker-0.log").write_text("log")
    (tmp_path / f"{WARM_FOLDER_PREFIX}{ended.pid}-file").write_text("a file, not a folder")
    assert remove_orphaned_folders(tmp_path) == [orphan]
    assert not orphan.exists() and live.exists() and unnamed.exists() and other.exists()
    assert (tmp_path / f"{WARM_FOLDER_PREFIX}{ended.pid}-file").exists()
