"""BODY_25 2D motion in, canonical 3D motion out: the whole lifting path in one call.

1. Check the input is BODY_25 2D; make it absolute; fill missing keypoints over time (they
   still place the root and set the body's size) and remember which were seen.
2. Resample to the lifter's 30 fps; pixels, or [-1, 1] coordinates with the image's aspect
   ratio (from the motion's `image_size`, else the caller's, else 16:9), to the image plane.
3. Lift to root-relative joints in the view frame: the learned network
   (`network.Lifter`), or the geometric fallback (`geometric`), which needs no weights and
   is used, with a warning, when the shipped lifter cannot be loaded.
4. Optional Gaussian smoothing; bones at constant lengths; a path over the floor and the
   lowest sole on z = 0 (`postprocess`); back to the input's frame rate.
The answer is an absolute canonical motion in metres, Z up, for the standard body, with the
camera looking along +Y: a dancer facing the camera faces -Y, DanceRev's front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DanceRevError
from ..motion import Motion
from ..skeletons import BODY_25, CANONICAL_24
from ..smoothing import smooth_over_time
from . import network, postprocess
from .features import DEFAULT_ASPECT, LIFTER_FPS, body_size, image_plane, network_input
from .geometric import geometric_lift
from .network import Lifter, load_lifter
from .skeleton import INPUT_KEYPOINTS, ROOT_KEYPOINT

Method = Literal["learned", "geometric"]


@dataclass
class Lifted:
    """A lifted motion, the method that made it, and anything the user should know."""

    motion: Motion
    method: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImagePlane:
    """Keypoints at the lifter's rate in half image heights, y up (T x 25 x 2)."""

    points: np.ndarray
    seen: np.ndarray  # T x 25 booleans
    aspect: float | None  # width / height used to undo [-1, 1] normalisation (None: pixels)


def check_body25(motion: Motion, source: str = "input") -> None:
    if motion.skeleton != BODY_25.name or motion.dims != 2:
        raise DanceRevError(
            f"{source}: lifting needs BODY_25 2D keypoints, this motion has "
            f"{motion.num_joints} {motion.dims}D joints ({motion.skeleton})")


def to_image_plane(motion: Motion, aspect: float | None = None) -> ImagePlane:
    """Steps 1-2 of the module docstring."""
    check_body25(motion, str(motion.meta.get("source") or "input"))
    motion = motion.to_absolute()
    seen = ~motion.missing_mask()
    if not seen.any():
        raise DanceRevError("no keypoint is detected in any frame")
    filled = motion.fill_missing()
    filled = filled.with_positions(filled.positions, confidence=seen.astype(np.float32))
    if abs(filled.fps - LIFTER_FPS) > 1e-9:
        filled = filled.resample(LIFTER_FPS)
    positions = filled.positions.astype(np.float64)
    seen = filled.confidence > 0
    if motion.meta.get("coordinates") == "pixels":
        points = positions * np.array([1.0, -1.0])
        used = None
    else:
        size = motion.meta.get("image_size")
        if aspect is None and isinstance(size, list | tuple) and len(size) == 2:
            aspect = float(size[0]) / float(size[1])
        used = DEFAULT_ASPECT if aspect is None else float(aspect)
        points = image_plane(positions, used)
    return ImagePlane(points, seen, used)


def lift_plane(plane: ImagePlane, method: Method = "learned",
               lifter: Lifter | None = None) -> np.ndarray:
    """Root-relative canonical joints (T x 24 x 3, view frame) at the lifter's rate."""
    if method == "geometric":
        return geometric_lift(plane.points)
    if lifter is None:
        raise DanceRevError("the learned method needs a lifter")
    inputs, _, _ = network_input(plane.points, plane.seen, lifter.config.scale_window)
    return lifter.predict(inputs)


def finish(relative: np.ndarray, plane: ImagePlane, smoothing: float = 0.0) -> np.ndarray:
    """Step 4 at the lifter's rate: absolute joints (T x 24 x 3)."""
    relative = smooth_over_time(relative, smoothing)
    relative = postprocess.constant_bone_lengths(relative - relative[:, :1])
    root = plane.points[:, ROOT_KEYPOINT]
    size = body_size(plane.points[:, INPUT_KEYPOINTS] - root[:, None])
    path = postprocess.floor_path(root, size, relative)
    return postprocess.place_on_floor(relative, path, LIFTER_FPS)


def shipped_lifter() -> Lifter:
    """The shipped lifter, loaded (and its checksum verified) once per process and path."""
    return _load_once(network.PRETRAINED)


@lru_cache(maxsize=2)
def _load_once(path: Path) -> Lifter:
    return load_lifter(path)


def lift(motion: Motion, method: Method = "learned", lifter: Lifter | str | Path | None = None,
         aspect: float | None = None, smoothing: float = 0.0) -> Lifted:
    """Lift a BODY_25 2D motion to an absolute canonical 3D motion (see the module).

    `lifter`: a loaded Lifter or the path of one, which must load; by default the shipped
    weights, and when those cannot be loaded the geometric fallback, with a warning;
    `smoothing`: Gaussian sigma in frames of the input's rate (0: none).
    """
    if method not in ("learned", "geometric"):
        raise DanceRevError(f"unknown lifting method {method!r} (learned or geometric)")
    plane = to_image_plane(motion, aspect)
    warnings = []
    if method == "learned" and lifter is None:
        try:
            lifter = shipped_lifter()
        except DanceRevError as error:
            warnings.append(f"no learned lifter ({error}); using the geometric fallback")
            method = "geometric"
    elif method == "learned" and not isinstance(lifter, Lifter):
        lifter = load_lifter(lifter)  # a lifter the caller names must load
    relative = lift_plane(plane, method, lifter if isinstance(lifter, Lifter) else None)
    sigma = smoothing * LIFTER_FPS / motion.fps
    absolute = finish(relative, plane, sigma)
    meta = {"source": motion.meta.get("source", ""), "lifted_from": BODY_25.name,
            "lifting_method": method, "units": "metres",
            "view": "camera looks along +Y; standard body size"}
    if plane.aspect is not None:
        meta["assumed_aspect"] = plane.aspect
    lifted = Motion(positions=absolute.astype(np.float32), fps=LIFTER_FPS,
                    skeleton=CANONICAL_24.name, joint_names=CANONICAL_24.joint_names,
                    meta=meta)
    if abs(motion.fps - LIFTER_FPS) > 1e-9:
        lifted = lifted.resample(motion.fps)
        missing = motion.num_frames - lifted.num_frames  # a last frame between 30 fps frames
        if missing > 0:
            tail = np.repeat(lifted.positions[-1:], missing, axis=0)
            lifted = lifted.with_positions(np.concatenate([lifted.positions, tail]))
    return Lifted(lifted, method, warnings)
