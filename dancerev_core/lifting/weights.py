"""The lifter's weights file: safetensors read and written with numpy alone, plus its JSON.

A lifter called NAME is `NAME.json` (what the network is, how its input is made, how it was
trained) beside its weights, the pair written and checked as every DanceRev model's is
(`weights_pair.py`). Nothing here unpickles, and nothing
needs torch or the safetensors package, so the lifter loads inside Blender's Python.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from ..files import load_json
from ..weights_pair import checked_weights, json_path, save_pair

FORMAT = "dancerev-lifter"
VERSION = 1
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
           "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
MAX_HEADER = 16 << 20


def encode_safetensors(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
                       ) -> bytes:
    """Tensors (sorted by name, little-endian, contiguous) as safetensors bytes."""
    header: dict[str, Any] = {"__metadata__": dict(metadata or {})}
    chunks, offset = [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = array.dtype.newbyteorder("<")
        if dtype not in _NAMES:
            raise ValueError(f"tensor {name}: unsupported dtype {array.dtype}")
        data = array.astype(dtype, copy=False).tobytes()
        header[name] = {"dtype": _NAMES[dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def decode_safetensors(data: bytes, path: Path) -> dict[str, np.ndarray]:
    """Tensors from safetensors bytes; anything malformed is a one-line error on `path`."""
    if len(data) < 8:
        raise InputFileError(path, "not a safetensors file (too short)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(MAX_HEADER, len(data) - 8):
        raise InputFileError(path, "not a safetensors file (bad header size)")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputFileError(path, "not a safetensors file (header is not JSON)") from None
    body = memoryview(data)[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[info["dtype"]]
            begin, end = (int(v) for v in info["data_offsets"])
            shape = tuple(int(v) for v in info["shape"])
        except (KeyError, TypeError, ValueError):
            raise InputFileError(path, f"tensor {name!r}: unsupported or malformed "
                                       f"entry") from None
        count = int(np.prod(shape)) if shape else 1
        if not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
            raise InputFileError(path, f"tensor {name!r}: data out of bounds")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
    return tensors


def save_weights(path: str | Path, tensors: dict[str, np.ndarray],
                 description: dict[str, Any]) -> Path:
    """Write NAME.<hash>.safetensors then NAME.json (the commit); returns the JSON's path."""
    data = encode_safetensors(tensors, {"format": FORMAT})
    return save_pair(path, data, {"format": FORMAT, "version": VERSION, **description})


def load_weights(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON description, tensors) of a lifter, checked against each other."""
    target = json_path(path)
    header = load_json(target)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputFileError(target, f"not a DanceRev lifter (no 'format': '{FORMAT}')")
    if header.get("version") != VERSION:
        raise InputFileError(target, f"lifter version {header.get('version')!r} is not "
                                     f"supported (this DanceRev reads version {VERSION})")
    weights, data = checked_weights(target, header)
    return header, decode_safetensors(data, weights)
