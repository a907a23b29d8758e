"""What the decoder reads and writes per frame: the pose layout, re-encoded and scaled.

The paper's layout (config.py) keeps the root joint's absolute position and every other joint
relative to it. Two things in it make long free-running dances freeze on real data (issue
15, measured by `bench/real_data_training.py`):
- a dancer who travels puts metres on the root's channels while a wrist moves centimetres
  about it: the L1 loss is dominated by where the dancer stands, and the easiest way to
  lower it is to stand still near the average place;
- the decoder's first input is the all-zero frame, which in metres is every joint on the
  floor origin: a pose no dancer takes, so every dance opens with a rush out of it.

So, with `pose_encoding` "displacement" (the default for new models):
1. the root's horizontal channels hold its per-frame displacement (metres per frame; 0 at a
   clip's first frame), integrated back at generation; its height stays absolute (floor
   contact is an absolute fact);
2. every channel is scaled to zero mean and unit spread over the training windows
   (`fit_scaling`; the statistics are stored in the model config, so a checkpoint decodes
   itself). The all-zero first input is then the average training pose.
"absolute" is the paper's layout without scaling: checkpoints written before this module
(no `pose_encoding` in their config) are read as that and decode exactly as before.

numpy only: training data, the health check and generation all use it.
"""

from __future__ import annotations

import numpy as np

from ..skeletons import joint_set
from .config import ModelConfig

SPREAD_FLOOR = 0.1  # a channel's scale is at least this share of the median channel's


def travel_channels(joint_set_name: str) -> list[int]:
    """The root's horizontal channels in the flat pose: x, y for Z-up 3D; x for image 2D."""
    js = joint_set(joint_set_name)
    base = js.root * js.dims
    return [base, base + 1] if js.dims == 3 else [base]


def encode_layout(poses: np.ndarray, joint_set_name: str, encoding: str) -> np.ndarray:
    """One clip's poses (T x P, the paper's layout) in `encoding`'s layout (unscaled)."""
    out = np.array(poses, dtype=np.float32)
    if encoding == "displacement" and len(out):
        channels = travel_channels(joint_set_name)
        travel = out[:, channels].copy()
        out[0, channels] = 0.0
        out[1:, channels] = np.diff(travel, axis=0)
    return out


def decode_layout(encoded: np.ndarray, joint_set_name: str, encoding: str) -> np.ndarray:
    """Inverse of `encode_layout` along the frame axis (-2), the travel starting at 0."""
    out = np.array(encoded, dtype=np.float64)
    if encoding == "displacement":
        channels = travel_channels(joint_set_name)
        out[..., channels] = np.cumsum(out[..., channels], axis=-2)
    return out.astype(np.float32)


def fit_scaling(values: np.ndarray, floor_share: float = SPREAD_FLOOR
                ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and scale of training values (..., C), poses or music features, the
    scale floored at `floor_share` x the median channel's so that a near-constant channel
    is not blown up."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1, np.shape(values)[-1])
    mean = flat.mean(axis=0)
    spread = flat.std(axis=0)
    floor = floor_share * float(np.median(spread)) if spread.size else 0.0
    scale = np.maximum(spread, max(floor, 1e-6))
    return tuple(float(v) for v in mean), tuple(float(v) for v in scale)


def scale_poses(poses: np.ndarray, mean: tuple[float, ...],
                scale: tuple[float, ...]) -> np.ndarray:
    """(poses - mean) / scale; unchanged when there are no statistics."""
    if not scale:
        return np.asarray(poses, dtype=np.float32)
    return ((np.asarray(poses, dtype=np.float64) - np.asarray(mean))
            / np.asarray(scale)).astype(np.float32)


def unscale_poses(scaled: np.ndarray, mean: tuple[float, ...],
                  scale: tuple[float, ...]) -> np.ndarray:
    """Inverse of `scale_poses`."""
    if not scale:
        return np.asarray(scaled, dtype=np.float32)
    return (np.asarray(scaled, dtype=np.float64) * np.asarray(scale)
            + np.asarray(mean)).astype(np.float32)


def model_poses_to_layout(output: np.ndarray, config: ModelConfig) -> np.ndarray:
    """The decoder's output (..., T, P) back in the paper's layout (root absolute)."""
    unscaled = unscale_poses(output, config.pose_mean, config.pose_scale)
    return decode_layout(unscaled, config.joint_set, config.pose_encoding)

