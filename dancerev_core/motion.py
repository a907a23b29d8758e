"""The motion value passed between every stage: joint positions over time.

A `Motion` holds positions (T x J x D, float32) sampled at `fps`, the name of its joint set
and the joint names in order, with optional per-keypoint confidence (0 = not detected). All
operations return new values; nothing is modified in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import DanceRevError
from .skeletons import JOINT_SETS, JointSet

RAW_SKELETON = "raw"


def fps_fraction(fps: float) -> Fraction:
    """An exact rational frame rate, so that shared instants of two rates compare exactly."""
    return Fraction(fps).limit_denominator(10_000)


@dataclass(frozen=True, eq=False)
class Motion:
    """Joint positions over time.

    `skeleton` names a joint set from `skeletons.JOINT_SETS` or is "raw" for a source's own
    joints, whose tree is then given by `parents`. `root_relative` marks the paper's
    normalisation: the root keeps its position, every other joint is stored as an offset
    from the root.
    """

    positions: np.ndarray
    fps: float
    skeleton: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...] = ()
    confidence: np.ndarray | None = None
    root_relative: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions, dtype=np.float32)
        if positions.ndim != 3 or positions.shape[2] not in (2, 3):
            raise DanceRevError(
                f"motion positions must be T x J x 2 or T x J x 3, got shape {positions.shape}")
        if positions.shape[0] == 0:
            raise DanceRevError("motion has zero frames")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise DanceRevError(f"motion fps must be positive, got {self.fps}")
        joint_names = tuple(str(name) for name in self.joint_names)
        if len(joint_names) != positions.shape[1]:
            raise DanceRevError(
                f"motion has {positions.shape[1]} joints but {len(joint_names)} joint names")
        parents = tuple(int(p) for p in self.parents)
        known = JOINT_SETS.get(self.skeleton)
        if known is not None:
            if joint_names != known.joint_names:
                raise DanceRevError(f"joint names do not match the {known.name} joint set")
            parents = known.parents
        elif not parents:
            parents = (-1,) + tuple(range(len(joint_names) - 1))
        if len(parents) != len(joint_names):
            raise DanceRevError("motion parents and joint names differ in length")
        confidence = self.confidence
        if confidence is not None:
            confidence = np.asarray(confidence, dtype=np.float32)
            if confidence.shape != positions.shape[:2]:
                raise DanceRevError(
                    f"confidence shape {confidence.shape} does not match positions "
                    f"{positions.shape[:2]}")
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "joint_names", joint_names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "confidence", confidence)

    # ------------------------------------------------------------------ basic facts
    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def num_joints(self) -> int:
        return self.positions.shape[1]

    @property
    def dims(self) -> int:
        return self.positions.shape[2]

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the last."""
        return (self.num_frames - 1) / self.fps

    @property
    def joint_set(self) -> JointSet | None:
        return JOINT_SETS.get(self.skeleton)

    @property
    def root(self) -> int:
        return self.joint_set.root if self.joint_set else self.parents.index(-1)

    def times(self) -> np.ndarray:
        """Time of each frame in seconds (frame k is at k / fps)."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def with_positions(self, positions: np.ndarray, **changes: Any) -> Motion:
        return replace(self, positions=positions, **changes)

    # ------------------------------------------------------------------ operations
    def resample(self, fps: float) -> Motion:
        """Linear interpolation to another frame rate.

        Frame k of the result is at time k / fps; where that instant is also a frame of the
        source, the source values are copied exactly. A confidence is kept where both
        neighbours were seen, so a missing keypoint stays missing.
        """
        if not np.isfinite(fps) or fps <= 0:
            raise DanceRevError(f"target fps must be positive, got {fps}")
        source_rate, target_rate = fps_fraction(self.fps), fps_fraction(fps)
        step = source_rate / target_rate  # source frames per target frame
        count = int((self.num_frames - 1) / step) + 1
        indices = [k * step for k in range(count)]
        lower = np.array([int(u) for u in indices], dtype=np.int64)
        weight = np.array([float(u - int(u)) for u in indices], dtype=np.float64)
        upper = np.minimum(lower + 1, self.num_frames - 1)
        w = weight[:, None, None]
        source = self.positions.astype(np.float64)
        blended = source[lower] * (1.0 - w) + source[upper] * w
        exact = weight == 0.0
        blended[exact] = source[lower[exact]]
        confidence = None
        if self.confidence is not None:
            neighbour_min = np.minimum(self.confidence[lower], self.confidence[upper])
            confidence = np.where(exact[:, None], self.confidence[lower], neighbour_min)
        return replace(self, positions=blended.astype(np.float32), fps=float(fps),
                       confidence=confidence)

    def to_root_relative(self) -> Motion:
        """The paper's normalisation: root absolute, every other joint relative to it."""
        if self.root_relative:
            return self
        root = self.root
        positions = self.positions - self.positions[:, root:root + 1]
        positions[:, root] = self.positions[:, root]
        return replace(self, positions=positions, root_relative=True)

    def to_absolute(self) -> Motion:
        """Inverse of `to_root_relative`."""
        if not self.root_relative:
            return self
        root = self.root
        positions = self.positions + self.positions[:, root:root + 1]
        positions[:, root] = self.positions[:, root]
        return replace(self, positions=positions, root_relative=False)

    def missing_mask(self) -> np.ndarray:
        """T x J booleans: keypoints with confidence 0 or non-finite coordinates."""
        missing = ~np.isfinite(self.positions).all(axis=2)
        if self.confidence is not None:
            missing |= self.confidence <= 0
        return missing

    def fill_missing(self) -> Motion:
        """Fill missing keypoints by linear interpolation over time, per joint.

        Before the first and after the last detection a joint holds its nearest detected
        value. A joint never detected in the whole clip takes its parent's track, so the
        skeleton collapses there instead of jumping to the origin. The confidence array is
        kept as it was: it records what was observed.
        """
        if self.root_relative:
            return self.to_absolute().fill_missing().to_root_relative()
        missing = self.missing_mask()
        if not missing.any():
            return self
        if missing.all():
            raise DanceRevError("motion has no detected keypoint in any frame")
        frames = np.arange(self.num_frames, dtype=np.float64)
        filled = self.positions.astype(np.float64).copy()
        never_seen = []
        for joint in range(self.num_joints):
            seen = ~missing[:, joint]
            if not seen.any():
                never_seen.append(joint)
                continue
            if seen.all():
                continue
            for axis in range(self.dims):
                filled[:, joint, axis] = np.interp(
                    frames, frames[seen], filled[seen, joint, axis])
        order = self.joint_set.topological_order if self.joint_set else range(self.num_joints)
        pending = set(never_seen)
        for joint in order:
            if joint in pending:
                parent = self.parents[joint]
                if parent == -1:
                    # The root itself was never seen: use the mean of its detected children.
                    children = [c for c, p in enumerate(self.parents)
                                if p == joint and c not in pending]
                    if not children:
                        raise DanceRevError("motion's root and its children are never detected")
                    filled[:, joint] = filled[:, children].mean(axis=1)
                else:
                    filled[:, joint] = filled[:, parent]
                pending.discard(joint)
        return replace(self, positions=filled.astype(np.float32))

    def mirrored(self) -> Motion:
        """Swap left and right: reflect x (the lateral axis) and exchange joint pairs.

        x is reflected about 0, right for canonical 3D and for normalised 2D ([-1, 1],
        centred); normalise pixel coordinates first (`normalize_image_coordinates`).
        """
        joint_set = self.joint_set
        if joint_set is None:
            raise DanceRevError("a raw motion has no left/right pairs; convert it to a "
                                "named joint set before mirroring")
        permutation = list(joint_set.mirror_permutation)
        positions = self.positions[:, permutation].copy()
        positions[..., 0] *= -1.0
        confidence = None if self.confidence is None else self.confidence[:, permutation]
        return replace(self, positions=positions, confidence=confidence)

    def trimmed(self, start: int, stop: int | None = None) -> Motion:
        """Frames [start, stop) as a new motion."""
        positions = self.positions[start:stop]
        confidence = None if self.confidence is None else self.confidence[start:stop]
        return replace(self, positions=positions, confidence=confidence)


def normalize_image_coordinates(motion: Motion, width: float, height: float) -> Motion:
    """Pixel coordinates to [-1, 1] by image width and height, as the paper's data is."""
    if width <= 0 or height <= 0:
        raise DanceRevError(f"image size must be positive, got {width} x {height}")
    if motion.dims != 2:
        raise DanceRevError("image coordinates are 2D; this motion is 3D")
    if motion.root_relative:
        return normalize_image_coordinates(motion.to_absolute(), width, height).to_root_relative()
    scale = np.array([2.0 / width, 2.0 / height], dtype=np.float64)
    positions = motion.positions.astype(np.float64) * scale - 1.0
    return motion.with_positions(positions.astype(np.float32),
                                 meta={**motion.meta, "image_size": [width, height],
                                       "coordinates": "normalized [-1,1]"})


def parse_image_size(text: str | None) -> tuple[float, float] | None:
    """--image-size WIDTHxHEIGHT as numbers (None when not given), checked."""
    if text is None:
        return None
    try:
        width, height = (float(part) for part in text.lower().split("x"))
    except ValueError:
        raise DanceRevError(f"--image-size must be WIDTHxHEIGHT, e.g. 1280x720, not "
                            f"{text!r}") from None
    if width <= 0 or height <= 0:
        raise DanceRevError(f"--image-size must be positive, not {text!r}")
    return width, height
