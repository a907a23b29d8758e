"""One error type for everything a user can get wrong.

The command line prints these as a single line and exits with status 2; anything else that
escapes is a bug in DanceRev, not in the user's input.
"""

from __future__ import annotations

from pathlib import Path


class DanceRevError(Exception):
    """A problem with the user's input or settings, described in one line."""


class InputFileError(DanceRevError):
    """A file that cannot be used; the message always starts with the file's path."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OutputFileError(DanceRevError):
    """An output that must not or cannot be written; the message starts with its path."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
