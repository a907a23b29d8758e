"""A restricted unpickler for public datasets that ship as pickles of numpy arrays (AIST++).

WARNING: use this ONLY for files from known public datasets (AIST++). NEVER point it at a
file a user hands you from an unknown origin: DanceRev's rule is that user files are never
unpickled (architecture.md). The allow-list below blocks the usual code-execution tricks (any
global outside it is refused before it is looked up), but pickle remains a program format:
a hostile file can still exhaust memory or hit bugs in numpy's reconstruction code.

Allowed globals: exactly what pickle protocols 0-5 need for numpy arrays, numpy scalars,
dtypes and plain containers (dict, list, tuple, set, frozenset, OrderedDict, bytes,
bytearray, complex); `_codecs.encode` is allowed for latin-1 only, which protocols 0-2 use
for bytes. Everything else is refused with a one-line `InputFileError`.
"""

from __future__ import annotations

import collections
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import InputFileError

_NUMPY_CORE = ("numpy.core", "numpy._core")  # numpy 1.x and 2.x spellings in pickles
_BUILTINS = ("builtins", "__builtin__")  # Python 3 and Python 2 (protocols 0-2) spellings


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocols 0-2 use it for bytes; no other codec is reachable."""
    spelled = str(encoding).lower().replace("-", "").replace("_", "")
    if spelled not in ("latin1", "iso88591") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refuses _codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Callable[..., Any]]:
    """The allow-list, resolved from numpy's own reductions so no module path is imported."""
    reconstruct = np.empty(0).__reduce__()[0]
    scalar = np.float64(0.0).__reduce__()[0]
    frombuffer = np.empty(1).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Callable[..., Any]] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in _NUMPY_CORE:
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    for module in _BUILTINS:
        for container in (set, frozenset, bytearray, complex):
            allowed[(module, container.__name__)] = container
    return allowed


class SafeUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only; see the module docstring."""

    def __init__(self, stream: BinaryIO, path: str | Path) -> None:
        # latin1 lets Python 2 pickles of numpy arrays load (numpy's own advice).
        super().__init__(stream, encoding="latin1")
        self._path = path
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise InputFileError(
                self._path, f"refuses to unpickle {module}.{name}: only numpy arrays and plain "
                            "containers are allowed") from None

    def persistent_load(self, pid: Any) -> Any:
        raise InputFileError(self._path, "refuses to unpickle a persistent reference: only "
                                         "numpy arrays and plain containers are allowed")


def safe_load_pickle(path: str | Path) -> Any:
    """Load a pickle from a known public dataset (AIST++), refusing anything but numpy data.

    NEVER use this for user-supplied files of unknown origin; see the module docstring.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        with path.open("rb") as stream:
            if not stream.read(1):
                raise InputFileError(path, "file is empty")
            stream.seek(0)
            return SafeUnpickler(stream, path).load()
    except InputFileError:
        raise
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error})") from None
    except Exception as error:  # a broken stream can fail in many ways; all are the file's fault
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputFileError(path, f"not a readable pickle ({detail})") from None
