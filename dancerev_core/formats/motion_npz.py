"""The motion `.npz` file: DanceRev's own format, versioned, read without pickle.

Keys (format version 1):
  format          "dancerev.motion"
  format_version  1
  positions       float32, T x J x D (D = 2 or 3)
  fps             float64 scalar
  skeleton        joint-set name ("body25", "canonical24") or "raw"
  joint_names     unicode array of J names
  parents         int32, J (-1 for the root)
  root_relative   bool scalar: the paper's normalisation (root absolute, others relative)
  meta_json       JSON text: free-form facts (source file, units, image size, ...)
  confidence      float32, T x J (optional; 0 marks a keypoint that was not detected)
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DanceRevError, InputFileError
from ..files import atomic_output
from ..motion import Motion

FORMAT_NAME = "dancerev.motion"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("positions", "fps", "skeleton", "joint_names")


def save_motion(motion: Motion, path: str | Path) -> Path:
    """Write atomically (temp file then rename), so a crash never leaves half a file."""
    arrays = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "positions": motion.positions.astype(np.float32),
        "fps": np.array(motion.fps, dtype=np.float64),
        "skeleton": np.array(motion.skeleton),
        "joint_names": np.array(motion.joint_names, dtype=np.str_),
        "parents": np.array(motion.parents, dtype=np.int32),
        "root_relative": np.array(motion.root_relative),
        "meta_json": np.array(json.dumps(motion.meta, sort_keys=True)),
    }
    if motion.confidence is not None:
        arrays["confidence"] = motion.confidence.astype(np.float32)
    with atomic_output(path) as stream:
        np.savez(stream, **arrays)
    return Path(path)


def load_motion(path: str | Path) -> Motion:
    """Read a motion file; any problem is reported as one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    with open(path, "rb") as stream:
        if not zipfile.is_zipfile(stream):
            raise InputFileError(path, "not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputFileError(path, f"not a readable .npz file ({error})") from None
    except ValueError as error:
        raise InputFileError(path, f"contains pickled objects, which are never loaded "
                                   f"({error})") from None
    missing = [key for key in REQUIRED_KEYS if key not in contents]
    if missing:
        raise InputFileError(path, f"not a motion file: missing {', '.join(missing)}")
    version = int(contents.get("format_version", 1))
    if version > FORMAT_VERSION:
        raise InputFileError(path, f"motion format version {version} is newer than this "
                                   f"DanceRev reads ({FORMAT_VERSION}); update DanceRev")
    positions = contents["positions"]
    if not np.issubdtype(positions.dtype, np.floating):
        raise InputFileError(path, f"positions have type {positions.dtype}, expected float")
    confidence = contents.get("confidence")
    finite = np.isfinite(positions).all(axis=-1) if positions.ndim == 3 else None
    if finite is not None and not finite.all():
        detected = np.ones(finite.shape, bool) if confidence is None else confidence > 0
        if (~finite & detected).any():
            raise InputFileError(path, "positions contain NaN or infinite values at "
                                       "detected keypoints")
    try:
        meta = json.loads(str(contents["meta_json"])) if "meta_json" in contents else {}
        return Motion(
            positions=positions,
            fps=float(contents["fps"]),
            skeleton=str(contents["skeleton"]),
            joint_names=tuple(str(n) for n in contents["joint_names"]),
            parents=tuple(int(p) for p in contents.get("parents", ())),
            confidence=confidence,
            root_relative=bool(contents.get("root_relative", False)),
            meta=meta,
        )
    except (DanceRevError, ValueError, TypeError) as error:
        raise InputFileError(path, str(error)) from None
