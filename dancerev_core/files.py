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
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from .errors import InputFileError, OutputFileError

MaybePath = str | Path | None


@contextmanager
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success it replaces `path`, else it vanishes."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
    except OSError as error:
        raise _unwritable(path, error) from error
    try:
        # mkstemp makes the file private (0600); give it the mode any new file would get.
        os.fchmod(handle, 0o666 & ~_current_umask())
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
        try:
            os.replace(temp_name, path)
        except OSError as error:  # e.g. `path` is a folder
            raise _unwritable(path, error) from error
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def partial_path(path: str | Path) -> Path:
    """The hidden name `path` is written under until complete: `.NAME.partial.SUFFIX` beside
    it. It is fixed, not random, so that whoever knows the output (a rerun, `batch` after a
    killed job) can remove what a killed writer left; the suffix stays, for writers that read
    the format from it."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}")


@contextmanager
def staged_outputs(paths: Iterable[str | Path]) -> Iterator[dict[Path, Path]]:
    """Write several outputs of one job, all or none: yields {output: partial path}.

    When the block ends normally every complete partial replaces its output, one rename
    after another with no work in between, so no output changes before every one is
    written. On any exception (Ctrl-C and SIGTERM included, as KeyboardInterrupt) the
    partials are removed and the outputs keep what they held. A partial left by an earlier,
    killed run is removed first. A partial the block did not write (an optional output) is
    skipped. A partial may be a folder (a render's image sequence): it replaces an earlier
    folder of that name, which is moved aside first and removed after.
    """
    partials = {Path(path): partial_path(path) for path in paths}
    try:
        for output, partial in partials.items():
            output.parent.mkdir(parents=True, exist_ok=True)
            remove_partial(partial)
    except OSError as error:
        raise _unwritable(output, error) from error
    try:
        yield partials
        replaced = []
        for output, partial in partials.items():
            if partial.exists():
                aside = output.with_name(f".{output.name}.replaced")
                try:
                    if partial.is_dir() and output.is_dir():
                        remove_partial(aside)
                        os.replace(output, aside)
                        replaced.append(aside)
                    os.replace(partial, output)
                except OSError as error:  # e.g. `output` is a folder and the partial a file
                    if aside in replaced and not output.exists():
                        os.replace(aside, output)  # the earlier frames, back where they were
                        replaced.remove(aside)
                    raise _unwritable(output, error) from error
        for aside in replaced:
            remove_partial(aside)
    finally:
        for partial in partials.values():
            remove_partial(partial)


def remove_partial(path: Path) -> None:
    """Remove a partial output: a file, or a folder of frames."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def scratch_folder(output: str | Path) -> Path:
    """Where a job keeps its intermediate files (the dances before they become keyframes):
    a hidden folder named after its output (DANCEREV_SCRATCH moves it), so that a rerun or
    `batch` can remove what a killed job left."""
    output = Path(output)
    return Path(os.environ.get("DANCEREV_SCRATCH") or output.parent) / f".{output.stem}.dances"


def remove_scratch(folder: Path) -> None:
    """Remove a job's scratch folder and the dance files in it, with what a writer killed
    mid-file left of one (`atomic_output`'s `.NAME.npz.XXXXXXXX.tmp`: a warm worker ends at
    once when the batch that started it is killed); anything else found there is not ours,
    and the folder is left."""
    if folder.is_dir():
        for name in (*folder.glob("*.npz"), *folder.glob(".*.npz.*.tmp")):
            name.unlink(missing_ok=True)
        with suppress(OSError):
            folder.rmdir()


def check_outputs(outputs: Iterable[MaybePath], inputs: Iterable[MaybePath] = (), *,
                  folders: Iterable[MaybePath] = ()) -> None:
    """Refuse, before any work, outputs that would destroy an input or cannot be written.

    `outputs` are the files a command writes, `folders` the folders it writes into, `inputs`
    every file or folder it reads (None: an option not given). An output that is one of the
    inputs (the same path, through a symlink, a relative path or a hard link) is refused,
    as is one given twice: atomic writes would otherwise replace the user's file with exit 0.
    Every error is one line naming the output.
    """
    sources = [Path(source) for source in inputs if source is not None]
    for folder in (Path(folder) for folder in folders if folder is not None):
        refuse_overwriting_inputs(folder, [source for source in sources if not source.is_dir()])
        check_writable(folder, folder=True)
    files = [Path(output) for output in outputs if output is not None]
    for index, output in enumerate(files):
        refuse_overwriting_inputs(output, sources)
        refuse_overwriting_inputs(output, files[:index], "is written twice by this command")
        check_writable(output)


def refuse_replacing_folder(folder: Path, kept: Iterable[MaybePath]) -> None:
    """Refuse a folder output (a render's frames, replaced as a whole) that holds any of
    `kept`: the command's inputs and its other outputs would go with it."""
    for path in (Path(p) for p in kept if p is not None):
        if path.resolve().is_relative_to(folder.resolve()):
            raise OutputFileError(folder, f"holds {path}, which replacing the folder would "
                                          "remove; choose another folder")


def refuse_overwriting_inputs(output: Path, inputs: Iterable[Path],
                              problem: str = "is an input of this command: writing the output "
                                             "there would destroy it") -> None:
    """Raise OutputFileError when `output` is the same file as one of `inputs`."""
    for source in inputs:
        if same_file(output, source):
            shown = "" if str(source) == str(output) else f" (as {source})"
            raise OutputFileError(output, f"{problem}{shown}; choose another output")


def same_file(a: Path, b: Path) -> bool:
    """One file under two names: equal resolved paths (symlinks, `..`), or a hard link."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:  # either is missing: compare the names only
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop: not a file anyone can read
        return a.absolute() == b.absolute()


def check_writable(path: Path, folder: bool = False) -> None:
    """Raise OutputFileError unless `path` can be written: a file (or with `folder`, a
    folder) whose nearest existing folder takes new files."""
    if path.is_dir() and not folder:
        raise OutputFileError(path, "is a folder; give the name of a file to write")
    if folder and path.exists() and not path.is_dir():
        raise OutputFileError(path, "is a file, not a folder to write into")
    existing = (path if folder else path.parent).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputFileError(path, f"cannot be written: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputFileError(path, f"cannot be written: no permission to write in {existing}")


def _unwritable(path: Path, error: OSError) -> OutputFileError:
    return OutputFileError(path, f"cannot be written ({error.strerror or error})")


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
