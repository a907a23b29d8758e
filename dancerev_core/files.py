"""Reading and writing files so that a failure never costs the user a file.

Writes go to a temporary file beside the target and are renamed over it only when complete
(`os.replace` is atomic on one file system): a crash, a kill or a full disk leaves either
the old file or the new one, never half of either. Two processes writing the same target
both leave a complete file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import InputFileError


@contextmanager
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success it replaces `path`, else it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode any new file would get.
        os.fchmod(handle, 0o666 & ~_current_umask())
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A hidden temporary path beside `path` for a writer that takes a file name (Blender's
    save, render and exporters); on success it replaces `path`, else it vanishes. The name
    keeps the suffix, which such writers read the format from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_json(path: str | Path) -> Any:
    """Parse a JSON file; every failure is one line naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error})") from None
    if not raw.strip():
        raise InputFileError(path, "file is empty")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(path, f"not valid JSON ({error})") from None
    except RecursionError:
        raise InputFileError(path, "not valid JSON (nested too deeply)") from None


def json_ready(value: Any) -> Any:
    """JSON without surprises: numpy scalars and arrays to Python, paths to text, NaN and
    infinities to None (no numpy import: the add-on's side reads this module too)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_ready(value.tolist())
    return value
