"""The model's sizes and curriculum settings, with the paper's released configuration as default.

numpy-free and torch-free, so a checkpoint's JSON can be read and checked anywhere.

Pose layout (what one decoder frame is): the motion's positions in the paper's normalisation
(`Motion.to_root_relative()`: the root joint keeps its absolute position, every other joint is
an offset from the root), flattened joint-major, `T x J x D -> T x (J * D)`:
`[x0, y0, x1, y1, ...]` for BODY_25 (25 x 2 = 50 values, root MidHip at values 16-17, as in
the paper) and `[x0, y0, z0, x1, ...]` for canonical24 (24 x 3 = 72 values, root pelvis at
values 0-2 holding the absolute root translation; no extra root slot). So `pose_size` follows
from the joint set and is not a setting. What the decoder itself reads and writes is that
layout re-encoded and scaled (`pose_encoding`, see pose_encoding.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import DanceRevError
from ..skeletons import JOINT_SETS, joint_set
from .curriculum import SCHEDULES

POSE_ENCODINGS = ("absolute", "displacement")  # see pose_encoding.py


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the Seq2Seq model and its curriculum; defaults are the paper's released model.

    `window` is the local attention's half-width w (frame i sees frames i-w .. i+w). The
    released checkpoint used 900 (a whole training minute, so effectively global attention);
    the default here is the authors' code default of 100 frames (+-6.7 s at 15 fps), which the
    paper's ablation found close to global attention at a fraction of the memory.
    """

    joint_set: str = "body25"
    num_features: int = 438
    fps: float = 15.0
    # encoder: transformer with local self-attention
    d_model: int = 200
    n_layers: int = 1
    n_heads: int = 8
    d_k: int = 64
    d_v: int = 64
    d_inner: int = 1024
    dropout: float = 0.1
    window: int = 100
    # decoder: stacked LSTM cells
    decoder_hidden: int = 1024
    decoder_layers: int = 3
    # the decoder's first LSTM layer also reads the encoder output of the frame it writes,
    # so the music can drive the motion's dynamics, not only shift each pose (the paper:
    # false, the music reaches the pose only through the output layer)
    decoder_reads_music: bool = False
    # the encoder also reads each frame's phase between beats, computed from the beat column
    # (beat_phase.py), so the timing of a move need not be learnt from a one-frame spike
    # (the paper: false)
    beat_phase: bool = False
    # dynamic auto-conditioning (see curriculum.py)
    condition_step: int = 10
    schedule: str = "linear"
    lam: float = 0.01
    curriculum_windows: int = 0  # 0: t counts epochs (the paper); N: per N windows seen
    self_fed_first: bool = True  # each period opens with its self-fed run (the authors' code)
    # what a decoder frame is (pose_encoding.py): the root's travel as per-frame displacement,
    # every channel scaled by the training data's statistics (empty: unscaled)
    pose_encoding: str = "displacement"
    pose_mean: tuple[float, ...] = ()
    pose_scale: tuple[float, ...] = ()
    # the encoder's input features scaled the same way (empty: as extracted, the paper's)
    music_mean: tuple[float, ...] = ()
    music_scale: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise DanceRevError(f"model config {f.name} must be an integer, got {value!r}")
            if f.type == "float":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise DanceRevError(f"model config {f.name} must be a number, got {value!r}")
                if not math.isfinite(value):
                    raise DanceRevError(f"model config {f.name} must be finite, got {value!r}")
                object.__setattr__(self, f.name, float(value))
            if f.type == "bool" and not isinstance(value, bool):
                raise DanceRevError(f"model config {f.name} must be true or false, "
                                    f"got {value!r}")
            if f.type == "str" and not isinstance(value, str):
                raise DanceRevError(f"model config {f.name} must be a string, got {value!r}")
        positive = ("num_features", "d_model", "n_layers", "n_heads", "d_k", "d_v", "d_inner",
                    "decoder_hidden", "decoder_layers", "condition_step")
        for name in positive:
            if getattr(self, name) < 1:
                raise DanceRevError(f"model config {name} must be at least 1, "
                                    f"got {getattr(self, name)}")
        if self.fps <= 0:
            raise DanceRevError(f"model config fps must be positive, got {self.fps}")
        if not 0.0 <= self.dropout < 1.0:
            raise DanceRevError(f"model config dropout must be in [0, 1), got {self.dropout}")
        if self.curriculum_windows < 0:
            raise DanceRevError(f"model config curriculum_windows must be 0 or more, "
                                f"got {self.curriculum_windows}")
        if self.window < 0:
            raise DanceRevError(f"model config window must be 0 or more, got {self.window}")
        if self.lam < 0:
            raise DanceRevError(f"model config lam must be 0 or more, got {self.lam}")
        if self.schedule not in SCHEDULES:
            raise DanceRevError(f"model config schedule {self.schedule!r} is unknown "
                                f"(known: {', '.join(SCHEDULES)})")
        if self.joint_set not in JOINT_SETS:
            raise DanceRevError(f"model config joint_set {self.joint_set!r} is unknown "
                                f"(known: {', '.join(sorted(JOINT_SETS))})")
        if self.pose_encoding not in POSE_ENCODINGS:
            raise DanceRevError(f"model config pose_encoding {self.pose_encoding!r} is unknown "
                                f"(known: {', '.join(POSE_ENCODINGS)})")
        self._check_scaling()

    def _check_scaling(self) -> None:
        """pose_mean/pose_scale and music_mean/music_scale: each pair both empty, or pose_size
        (num_features) finite numbers with positive scales."""
        for kind, size in (("pose", self.pose_size), ("music", self.num_features)):
            values = {}
            for name in (f"{kind}_mean", f"{kind}_scale"):
                value = getattr(self, name)
                if not isinstance(value, list | tuple) or not all(
                        isinstance(v, int | float) and not isinstance(v, bool)
                        and math.isfinite(v) for v in value):
                    raise DanceRevError(f"model config {name} must be a list of finite numbers")
                values[name] = tuple(float(v) for v in value)
                object.__setattr__(self, name, values[name])
            sizes = {len(v) for v in values.values()}
            if sizes != {0} and sizes != {size}:
                what = "the pose size" if kind == "pose" else "num_features"
                raise DanceRevError(f"model config {kind}_mean and {kind}_scale must both be "
                                    f"empty or both hold {size} values ({what})")
            if any(v <= 0 for v in values[f"{kind}_scale"]):
                raise DanceRevError(f"model config {kind}_scale values must be positive")

    @property
    def pose_size(self) -> int:
        """Values per decoder frame: joints x dims of the joint set (see the module docstring)."""
        js = joint_set(self.joint_set)
        return js.num_joints * js.dims

    @property
    def receptive_field(self) -> int:
        """How far (frames, each side) an encoder output can see: n_layers x window."""
        return self.n_layers * self.window

    def without_statistics(self) -> ModelConfig:
        """The config as a user writes it: without the data statistics training fills in."""
        return replace(self, pose_mean=(), pose_scale=(), music_mean=(), music_scale=())

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(value) if isinstance(value := getattr(self, f.name), tuple)
                else value for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """A config from (a subset of) its fields; missing ones take the released defaults."""
        return dataclass_from_dict(cls, values, "model config")


def dataclass_from_dict(cls: type, values: Any, what: str) -> Any:
    """`cls(**values)` for a config read from JSON, refusing non-mappings and unknown keys."""
    if not isinstance(values, dict):
        raise DanceRevError(f"{what} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(str(key) for key in values if key not in known)
    if unknown:
        raise DanceRevError(f"unknown {what} key(s) {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
    return cls(**values)
