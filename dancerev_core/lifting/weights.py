"""The lifter's weights file: safetensors read and written with numpy alone, plus its JSON.

A lifter called NAME is `NAME.json` (what the network is, how its input is made, how it was
trained, and which weights file belongs to it with that file's size and sha256) beside
`NAME.<first 16 hex of sha256>.safetensors`, as the Seq2Seq checkpoints are
(`model/checkpoint.py`): the weights are written first under their content's name, the
JSON last, so a crash leaves the previous pair intact. Nothing here unpickles, and nothing
needs torch or the safetensors package, so the lifter loads inside Blender's Python.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from ..files import atomic_output, load_json

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


def json_path(path: str | Path) -> Path:
    """`pretrained/lifter` or `pretrained/lifter.json` -> `pretrained/lifter.json`."""
    path = Path(path)
    return path if path.suffix == ".json" else path.with_name(path.name + ".json")


def save_weights(path: str | Path, tensors: dict[str, np.ndarray],
                 description: dict[str, Any]) -> Path:
    """Write NAME.<hash>.safetensors then NAME.json (the commit); returns the JSON's path."""
    target = json_path(path)
    stem = target.name[:-len(".json")]
    data = encode_safetensors(tensors, {"format": FORMAT})
    digest = hashlib.sha256(data).hexdigest()
    weights_name = f"{stem}.{digest[:16]}.safetensors"
    header = {"format": FORMAT, "version": VERSION, "weights": weights_name,
              "weights_bytes": len(data), "weights_sha256": digest, **description}
    text = json.dumps(header, indent=2, allow_nan=False) + "\n"
    with atomic_output(target.parent / weights_name) as stream:
        stream.write(data)
    with atomic_output(target, "w") as stream:
        stream.write(text)
    pattern = re.compile(re.escape(stem) + r"\.[0-9a-f]{16}\.safetensors")
    for old in target.parent.iterdir():
        if old.name != weights_name and pattern.fullmatch(old.name):
            old.unlink(missing_ok=True)
    return target


def load_weights(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON description, tensors) of a lifter, checked against each other."""
    target = json_path(path)
    header = load_json(target)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputFileError(target, f"not a DanceRev lifter (no 'format': '{FORMAT}')")
    if header.get("version") != VERSION:
        raise InputFileError(target, f"lifter version {header.get('version')!r} is not "
                                     f"supported (this DanceRev reads version {VERSION})")
    name = header.get("weights")
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(
            ".safetensors"):
        raise InputFileError(target, "'weights' must name a .safetensors file beside it")
    weights = target.parent / name
    if not weights.is_file():
        raise InputFileError(weights, f"weights file of {target.name} not found")
    data = weights.read_bytes()
    if len(data) != header.get("weights_bytes"):
        raise InputFileError(weights, f"truncated or wrong size: {len(data)} bytes, "
                                      f"{target.name} says {header.get('weights_bytes')}")
    if hashlib.sha256(data).hexdigest() != header.get("weights_sha256"):
        raise InputFileError(weights, f"corrupted or modified: sha256 differs from "
                                      f"{target.name}")
    return header, decode_safetensors(data, weights)
