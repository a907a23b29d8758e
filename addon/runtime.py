"""Install the worker's runtime (torch, librosa and the other ML pins) with pip.

The pins have one home, the `ml` extra in pyproject.toml. The extension zip does not carry
pyproject.toml, so `build.py` writes them into `runtime_requirements.txt` beside this file;
in the repository this module reads pyproject.toml itself. pip installs them with
`--target` into a folder the caller chooses (the extension's user folder), which the worker
then gets on its PYTHONPATH (`jobs.worker_environment`).

Pure Python (no bpy); `RuntimeInstall` streams pip's output without blocking, like
`jobs.WorkerJob`.
"""

from __future__ import annotations

import os
import queue
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .jobs import read_lines

REQUIREMENTS_FILE = "runtime_requirements.txt"
EXTRA = "ml"


def requirements_from_pyproject(pyproject: str | os.PathLike) -> list[str]:
    """The `ml` extra of a pyproject.toml (what build.py writes to REQUIREMENTS_FILE)."""
    import tomllib

    with open(pyproject, "rb") as stream:
        document = tomllib.load(stream)
    return list(document["project"]["optional-dependencies"][EXTRA])


def runtime_requirements() -> list[str]:
    """The runtime's pinned requirements, from the built file or the repository's pyproject."""
    here = Path(__file__).resolve().parent
    built = here / REQUIREMENTS_FILE
    if built.is_file():
        lines = built.read_text(encoding="utf-8").splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    pyproject = here.parent / "pyproject.toml"
    if pyproject.is_file():
        return requirements_from_pyproject(pyproject)
    raise FileNotFoundError(f"{built} is missing: this DanceRev build is incomplete")


def pip_command(python: str | os.PathLike, target: str | os.PathLike,
                requirements: Sequence[str] | None = None,
                extra_args: Sequence[str] = ()) -> list[str]:
    """`python -m pip install --target TARGET ...pins`; `extra_args` e.g. an index URL."""
    return [str(python), "-m", "pip", "install", "--upgrade", "--no-input",
            "--disable-pip-version-check", "--target", str(target), *extra_args,
            *(runtime_requirements() if requirements is None else requirements)]


class RuntimeInstall:
    """pip running in the background; `poll()` returns its new output lines.

    `state`: running, done, failed or cancelled; `message` is one line for the UI.
    """

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        self.state = "running"
        self.message = ""
        self.returncode: int | None = None
        self._lines: queue.Queue = queue.Queue()
        self._reading = True
        try:
            self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             env=env)
        except OSError as error:
            self._process = None
            self.state = "failed"
            self.message = f"cannot run {self.command[0]}: {error.strerror or error}"
            return
        read_lines(self._process.stdout, self._lines, "pip")

    @property
    def finished(self) -> bool:
        return self.state != "running"

    def poll(self) -> list[str]:
        lines = []
        while self._reading:
            try:
                _tag, line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._reading = False
            else:
                lines.append(line)
                if line.strip():
                    self.message = line.strip()
        if self._process is not None and not self._reading and self.state == "running":
            self.returncode = self._process.wait()
            if self.returncode == 0:
                self.state, self.message = "done", "the runtime is installed"
            else:
                self.state = "failed"
                self.message = f"pip failed (exit code {self.returncode}): {self.message}"
        return lines

    def cancel(self) -> None:
        if self._process is not None and self.state == "running":
            self._process.terminate()
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self.state, self.message = "cancelled", "the installation was cancelled"


def install_runtime(python: str | os.PathLike, target: str | os.PathLike,
                    on_line: Callable[[str], None] = print,
                    requirements: Sequence[str] | None = None,
                    extra_args: Sequence[str] = ()) -> int:
    """Install the runtime, blocking and streaming pip's output to `on_line`; pip's exit code."""
    install = RuntimeInstall(pip_command(python, target, requirements, extra_args))
    while True:
        for line in install.poll():
            on_line(line)
        if install.finished:
            break
        time.sleep(0.05)
    if install.state != "done":
        on_line(install.message)
    return 0 if install.state == "done" else (install.returncode or 1)
