"""What a warm worker keeps between jobs: loaded checkpoints and analysed songs.

An animator clicks Generate, changes the seed and clicks again dozens of times; loading
the model (and preparing its int8 decoder, which `model.fast_decode` caches per loaded
model), decoding the song and reading its features are the same every time. A `Kept` holds
the last few of each, keyed by the file's identity (path, size, modification time, inode),
so an edited or replaced file is loaded again. A checkpoint's weights file is named by its
hash in the JSON, so the JSON's identity covers the weights too.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model.checkpoint import Checkpoint
    from ..music.features import MusicFeatures

MAX_MODELS = 2
MAX_SONGS = 8


def file_identity(path: Path) -> tuple:
    """(resolved path, size, mtime_ns, inode): changes whenever the file is rewritten."""
    resolved = path.resolve()
    stat = os.stat(resolved)
    return (str(resolved), stat.st_size, stat.st_mtime_ns, stat.st_ino)


class Kept:
    """Least recently used checkpoints and songs, loaded on a miss."""

    def __init__(self, max_models: int = MAX_MODELS, max_songs: int = MAX_SONGS) -> None:
        self.max_models = max_models
        self.max_songs = max_songs
        self._models: OrderedDict[tuple, Checkpoint] = OrderedDict()
        self._songs: OrderedDict[tuple, MusicFeatures] = OrderedDict()
        self.hits = {"model": 0, "song": 0}

    def checkpoint(self, path: str | Path, *, expect_joint_set: str | None = None,
                   device: str | None = None) -> Checkpoint:
        from ..model.checkpoint import checkpoint_json, load_checkpoint

        path = Path(path)
        json_path = path if path.is_file() else checkpoint_json(path)
        if not json_path.is_file():  # load_checkpoint says what is wrong, in one line
            return load_checkpoint(path, expect_joint_set=expect_joint_set, device=device)
        key = (file_identity(json_path), device)
        found = self._models.get(key)
        if found is None:
            found = load_checkpoint(json_path, device=device)
            _remember(self._models, key, found, self.max_models)
        else:
            self._models.move_to_end(key)
            self.hits["model"] += 1
        if expect_joint_set is not None and found.config.joint_set != expect_joint_set:
            # the same one-line refusal as a fresh load
            return load_checkpoint(json_path, expect_joint_set=expect_joint_set, device=device)
        return found

    def music(self, path: str | Path, *, fps: float, use_cache: bool = True) -> MusicFeatures:
        from ..music.analysis import analyse_song

        path = Path(path)
        if not path.is_file():
            return analyse_song(path, fps=fps, use_cache=use_cache)
        key = (file_identity(path), float(fps), use_cache)
        found = self._songs.get(key)
        if found is None:
            found = analyse_song(path, fps=fps, use_cache=use_cache)
            _remember(self._songs, key, found, self.max_songs)
        else:
            self._songs.move_to_end(key)
            self.hits["song"] += 1
        return found

    def clear(self) -> None:
        self._models.clear()
        self._songs.clear()


def _remember(store: OrderedDict, key: tuple, value: Any, limit: int) -> None:
    store[key] = value
    while len(store) > limit:
        store.popitem(last=False)
