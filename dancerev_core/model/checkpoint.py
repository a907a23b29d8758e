"""Checkpoints: weights in safetensors plus a JSON config, never a pickle.

A checkpoint called NAME is two files in one folder:
- `NAME.json`: what the weights are (format tag, model config, feature layout, fps, joint set,
  pose layout, a free `training` dict) and which weights file belongs to it, with that file's
  size and sha256;
- `NAME.<first 16 hex of sha256>.safetensors`: the tensors (model weights, plus optional
  extra tensors such as optimizer state under `extra/`).

Atomicity: the weights file is named by its content, so a new save never overwrites the file
the current JSON points to. A save writes the new weights (temp file, fsync, rename), then the
new JSON (temp file, fsync, rename: the commit point), then deletes the old weights. A kill at
any moment leaves `NAME.json` pointing at a complete weights file, the old one or the new one;
at worst an orphan file remains, which the next save of NAME removes. One writer per NAME.

Loading reads the whole weights file into memory (no mmap, no file lock on Windows), checks
its size and sha256 against the JSON, and refuses pickles (torch.save's `.pt`, zip or raw
pickle) by their first bytes without ever unpickling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ..errors import DanceRevError, InputFileError
from ..music.features import FEATURE_BLOCKS, NUM_FEATURES
from ..weights_pair import checked_weights, save_pair, shape_mismatch
from ..weights_pair import json_path as pair_json_path
from .config import ModelConfig
from .network import Seq2Seq, default_device

FORMAT = "dancerev-checkpoint"
VERSION = 1
EXTRA_PREFIX = "extra/"
MAX_JSON_BYTES = 16 << 20
POSE_LAYOUT = ("joint-major flattening of T x J x D positions; root joint absolute, "
               "every other joint relative to the root; the decoder's frames are this layout "
               "encoded and scaled as model.pose_encoding, pose_mean and pose_scale say")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode) and what the JSON says about it."""

    path: Path
    config: ModelConfig
    model: Seq2Seq
    training: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


def checkpoint_json(path: str | Path) -> Path:
    """`runs/last`, `runs/last.json` -> `runs/last.json`."""
    return pair_json_path(path)


def save_checkpoint(path: str | Path, model: Seq2Seq, training: dict[str, Any] | None = None,
                    extra_tensors: dict[str, torch.Tensor] | None = None,
                    weights_dtype: torch.dtype | None = None) -> Path:
    """Save atomically as NAME.json + NAME.<hash>.safetensors; returns the JSON's path.

    `training` is free JSON (data summary, epoch, optimizer scalars...); `extra_tensors` are
    stored beside the weights and come back as `Checkpoint.extra`, committed together.
    `weights_dtype` (e.g. torch.float16, for a shipped model: half the bytes) stores the
    model's floating-point weights in that type; loading turns them back into the model's.
    """
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    if weights_dtype is not None:
        tensors = {name: _stored_as(name, t, weights_dtype) for name, t in tensors.items()}
    for name, tensor in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + name] = tensor.detach().to("cpu").contiguous()
    data = save_safetensors(tensors, metadata={"format": FORMAT})
    config = model.config
    header = {
        "format": FORMAT,
        "version": VERSION,
        "model": config.to_dict(),
        "features": {
            "num_features": config.num_features,
            "blocks": ([list(b) for b in FEATURE_BLOCKS]
                       if config.num_features == NUM_FEATURES else None),
            "fps": config.fps,
        },
        "motion": {"joint_set": config.joint_set, "fps": config.fps,
                   "pose_size": config.pose_size, "layout": POSE_LAYOUT},
        "training": training or {},
    }
    return save_pair(path, data, header)


_REFUSED = {
    "pickle": ("is a pickle (e.g. a torch.save .pt file); DanceRev never unpickles checkpoints: "
               "use a DanceRev checkpoint (.json with its .safetensors)"),
    "zip": ("is a zip archive (torch.save writes .pt files as zipped pickles); DanceRev never "
            "unpickles checkpoints: use a DanceRev checkpoint (.json with its .safetensors)"),
    "safetensors": "is a safetensors weights file; load its checkpoint's .json instead",
}


def _sniff(head: bytes) -> str | None:
    """'pickle', 'zip' or 'safetensors' by a file's first bytes; None for anything else.

    Safetensors is tested first: its 8-byte header length can begin with 0x80 (a length of
    128 mod 256), which is also the first byte of a pickle.
    """
    if len(head) >= 9 and head[8:9] == b"{" and not head.lstrip().startswith(b"{"):
        return "safetensors"  # 8-byte little-endian header size, then the JSON header
    if head[:1] == b"\x80":  # PROTO opcode, first byte of every pickle of protocol 2+
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    return None


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file() and checkpoint_json(path).is_file():
        path = checkpoint_json(path)
    if not path.is_file():
        raise InputFileError(path, "checkpoint not found")
    return path


def _read_header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        data = f.read(MAX_JSON_BYTES + 1)
    kind = _sniff(data[:16])
    if kind:
        raise InputFileError(path, _REFUSED[kind])
    if len(data) > MAX_JSON_BYTES:
        raise InputFileError(path, "is not a DanceRev checkpoint (too large for its JSON)")
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(path, f"is not a DanceRev checkpoint (not JSON: {error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputFileError(path, "is not a DanceRev checkpoint (no 'format': "
                                   f"'{FORMAT}' in its JSON)")
    if header.get("version") != VERSION:
        raise InputFileError(path, f"checkpoint version {header.get('version')!r} is not "
                                   f"supported (this DanceRev reads version {VERSION})")
    for key, kind in (("weights", str), ("weights_bytes", int), ("weights_sha256", str),
                      ("model", dict), ("features", dict), ("training", dict)):
        if not isinstance(header.get(key), kind):
            raise InputFileError(path, f"checkpoint JSON lacks a valid {key!r}")
    return header


def _refuse_archives(weights: Path, data: bytes) -> None:
    kind = _sniff(data[:16])
    if kind in ("pickle", "zip"):
        raise InputFileError(weights, _REFUSED[kind])


def _stored_as(name: str, tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A floating-point weight in `dtype`, refused if it does not fit there."""
    if not tensor.is_floating_point():
        return tensor
    stored = tensor.to(dtype)
    if not torch.isfinite(stored).all():
        raise DanceRevError(f"weight {name} does not fit in {dtype} (too large)")
    return stored


def _read_weights(json_path: Path, header: dict[str, Any]) -> dict[str, torch.Tensor]:
    weights, data = checked_weights(json_path, header, refuse=_refuse_archives)
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise InputFileError(weights, f"not a readable safetensors file ({error})") from None


def load_checkpoint(path: str | Path, expect_features: int | None = NUM_FEATURES,
                    expect_joint_set: str | None = None,
                    device: torch.device | str | None = None) -> Checkpoint:
    """Load a checkpoint (NAME, NAME.json) for use, refusing anything that does not fit.

    Refusals, each a one-line InputFileError naming the file: not found; a pickle or zip
    (torch.save) or bare weights file; JSON that is not ours; a model config we cannot build;
    features other than `expect_features` or another feature layout; another joint set than
    `expect_joint_set`; weights that are missing, truncated, modified or do not fit the config.
    """
    json_path = _resolve(path)
    header = _read_header(json_path)
    try:
        # written before pose_encoding existed: the paper's absolute, unscaled layout
        config = ModelConfig.from_dict({"pose_encoding": "absolute", **header["model"]})
    except DanceRevError as error:
        raise InputFileError(json_path, f"bad model config: {error}") from None
    blocks = header["features"].get("blocks")
    if expect_features is not None and config.num_features != expect_features:
        raise InputFileError(json_path, f"model takes {config.num_features} music features "
                                        f"per frame, these features have {expect_features}")
    if blocks is not None and blocks != [list(b) for b in FEATURE_BLOCKS]:
        raise InputFileError(json_path, "model was trained on another music feature layout "
                                        f"({', '.join(str(b[0]) for b in blocks)})")
    if expect_joint_set is not None and config.joint_set != expect_joint_set:
        raise InputFileError(json_path, f"model makes joint set {config.joint_set!r}, "
                                        f"{expect_joint_set!r} was expected")
    tensors = _read_weights(json_path, header)
    weights = json_path.parent / header["weights"]
    extra = {k[len(EXTRA_PREFIX):]: t for k, t in tensors.items() if k.startswith(EXTRA_PREFIX)}
    state = {k: t for k, t in tensors.items() if not k.startswith(EXTRA_PREFIX)}
    model = Seq2Seq(config)
    differs = shape_mismatch({k: tuple(t.shape) for k, t in model.state_dict().items()},
                             {k: tuple(t.shape) for k, t in state.items()})
    if differs:
        raise InputFileError(weights, f"weights do not fit the model config ({differs})")
    model.load_state_dict(state)
    model.to(default_device() if device is None else device).eval()
    return Checkpoint(path=json_path, config=config, model=model,
                      training=header["training"], extra=extra)
