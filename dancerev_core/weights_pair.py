"""A model on disk: NAME.json (what it is) beside NAME.<sha256[:16]>.safetensors (its weights).

Shared by the Seq2Seq checkpoints (`model/checkpoint.py`), the style classifier
(`evaluation/classifier.py`) and the lifter (`lifting/weights.py`), which differ only in how
they turn tensors into bytes and in their JSON's contents. The weights are written first under
their content's name, the JSON last (the commit), both fsynced, and older weights of the same
NAME are removed afterwards: a crash or a full disk leaves the previous pair intact. Loading
checks the JSON's size and sha256 of the weights before anything reads them. Standard library
only, so Blender's own Python can load a lifter.

A write killed halfway leaves its temporary file (`.NAME.json.xxxxxxxx.tmp`,
`.NAME.<hash>.safetensors.xxxxxxxx.tmp`: files.atomic_output's names); the next save of NAME
in that folder removes those older than its own process, which no live writer holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InputFileError
from .files import atomic_output

PROCESS_STARTED = time.time()  # (about) when this process began: older temp files are stale
TEMP_SUFFIX = r"\.[a-z0-9_]{8}\.tmp"  # tempfile.mkstemp's random part, atomic_output's suffix


def json_path(path: str | Path) -> Path:
    """`runs/last`, `runs/last.json` -> `runs/last.json`."""
    path = Path(path)
    return path if path.suffix == ".json" else path.with_name(path.name + ".json")


def pair_files(path: str | Path) -> list[Path]:
    """NAME.json and, when it names them, its weights: the files a reader of NAME reads (for
    refusing to overwrite them); never raises, the loader reports broken files."""
    target = json_path(path)
    try:
        name = json.loads(target.read_text(encoding="utf-8")).get("weights")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return [target]
    if isinstance(name, str) and name and Path(name).name == name:
        return [target, target.parent / name]
    return [target]


def save_pair(path: str | Path, data: bytes, header: dict[str, Any]) -> Path:
    """Write the weights `data` and NAME.json = {format, version, weights, weights_bytes,
    weights_sha256, ...the rest of `header`}; returns the JSON's path."""
    target = json_path(path)
    stem = target.name[:-len(".json")]
    digest = hashlib.sha256(data).hexdigest()
    weights_name = f"{stem}.{digest[:16]}.safetensors"
    full = {"format": header["format"], "version": header["version"], "weights": weights_name,
            "weights_bytes": len(data), "weights_sha256": digest, **header}
    text = json.dumps(full, indent=2, allow_nan=False) + "\n"  # fails before any write
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent, stem)
    _durable_write(target.parent / weights_name, data)
    _durable_write(target, text.encode("utf-8"))
    pattern = re.compile(re.escape(stem) + r"\.[0-9a-f]{16}\.safetensors")
    for old in target.parent.iterdir():
        if old.name != weights_name and pattern.fullmatch(old.name):
            with contextlib.suppress(OSError):  # e.g. open on Windows; the next save retries
                old.unlink()
    return target


def remove_stale_temps(folder: Path, stem: str) -> list[Path]:
    """Delete the temporary files that killed saves of NAME = `stem` left in `folder`: only
    names of this pair's own pattern, last written before this process started."""
    pattern = re.compile(re.escape(f".{stem}.") + r"(json|[0-9a-f]{16}\.safetensors)"
                         + TEMP_SUFFIX)
    removed = []
    for candidate in folder.iterdir():
        if not pattern.fullmatch(candidate.name):
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            if candidate.is_file() and candidate.stat().st_mtime < PROCESS_STARTED:
                candidate.unlink()
                removed.append(candidate)
    return removed


def checked_weights(target: Path, header: dict[str, Any],
                    refuse: Callable[[Path, bytes], None] | None = None) -> tuple[Path, bytes]:
    """(path, bytes) of the weights NAME.json names, refused with a one-line error unless
    they are a .safetensors file beside it with the size and sha256 it records. `refuse`
    looks at the bytes first (to name a pickle as one rather than as a wrong size)."""
    name = header.get("weights")
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(
            ".safetensors"):
        raise InputFileError(target, f"weights {name!r} must be a .safetensors file beside "
                                     "the JSON")
    weights = target.parent / name
    if not weights.is_file():
        raise InputFileError(weights, f"weights file of {target.name} not found")
    data = weights.read_bytes()
    if refuse is not None:
        refuse(weights, data)
    if len(data) != header.get("weights_bytes"):
        raise InputFileError(weights, f"truncated or wrong size: {len(data)} bytes, "
                                      f"{target.name} says {header.get('weights_bytes')}")
    if hashlib.sha256(data).hexdigest() != header.get("weights_sha256"):
        raise InputFileError(weights, f"corrupted or modified: sha256 differs from "
                                      f"{target.name}")
    return weights, data


def shape_mismatch(expected: dict[str, tuple[int, ...]], got: dict[str, tuple[int, ...]]
                   ) -> str | None:
    """None when the loaded tensors' shapes are the expected ones, else what differs."""
    if got == expected:
        return None
    wrong = sorted(set(expected) ^ set(got)) or sorted(
        name for name in expected if expected[name] != got[name])
    return f"{len(wrong)} tensors differ, e.g. {wrong[0]!r}"


def _durable_write(path: Path, data: bytes) -> None:
    """Atomically, and on disk (file and folder fsynced) before returning."""
    with atomic_output(path) as stream:  # files get the user's usual mode, not mkstemp's 0600
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    if os.name == "posix":
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
