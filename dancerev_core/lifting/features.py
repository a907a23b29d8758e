"""What the lifters read: BODY_25 keypoints made isotropic, y up, root-relative, unit size.

DanceRev's 2D data (and the paper's) is normalised to [-1, 1] by the image's width and
height separately, which squeezes x by the aspect ratio; `image_plane` undoes that (x times
width / height) and turns y up, giving coordinates in half image heights. The body's size
in the image (`body_size`: RMS distance of the lifter's keypoints from MidHip, averaged
over a 2 s window so a pose with raised arms does not shrink the body) then divides the
root-relative keypoints, so the camera's distance and focal length drop out and only the
pose remains. Training computes its inputs with these same functions.
"""

from __future__ import annotations

import numpy as np

from .skeleton import INPUT_KEYPOINTS, ROOT_KEYPOINT

LIFTER_FPS = 30.0
SCALE_WINDOW = 61  # frames at LIFTER_FPS
DEFAULT_ASPECT = 16 / 9  # image width / height assumed when a 2D file does not say
INPUT_CHANNELS = 3 * len(INPUT_KEYPOINTS)  # (x, y, seen) per keypoint


def image_plane(normalized: np.ndarray, aspect: float | np.ndarray) -> np.ndarray:
    """[-1, 1] coordinates (... x 25 x 2, absolute) to half image heights, y up."""
    normalized = np.asarray(normalized, dtype=np.float64)
    aspect = np.asarray(aspect, dtype=np.float64)
    plane = np.empty_like(normalized)
    plane[..., 0] = normalized[..., 0] * aspect
    plane[..., 1] = -normalized[..., 1]
    return plane


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over the last axis, edges held (window odd)."""
    half = window // 2
    if half == 0:
        return values
    padded = np.concatenate([np.repeat(values[..., :1], half, axis=-1), values,
                             np.repeat(values[..., -1:], half, axis=-1)], axis=-1)
    total = np.cumsum(padded, axis=-1)
    total = np.concatenate([np.zeros_like(total[..., :1]), total], axis=-1)
    return (total[..., window:] - total[..., :-window]) / window


def body_size(relative: np.ndarray, window: int = SCALE_WINDOW) -> np.ndarray:
    """Size of the body (... x T) from root-relative keypoints (... x T x K x 2 or 3)."""
    rms = np.sqrt(np.mean(np.sum(relative ** 2, axis=-1), axis=-1))
    return np.maximum(moving_average(rms, window), 1e-6)


def network_input(plane: np.ndarray, seen: np.ndarray | None = None,
                  window: int = SCALE_WINDOW) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs ... x T x 48, root ... x T x 2, size ... x T) from image-plane keypoints.

    `plane` is ... x T x 25 x 2 with missing keypoints already filled (they still set the
    root and the size); `seen` (... x T x 25) marks the detected ones: the others enter as
    zeros with their flag 0, so the network knows they are unknown.
    """
    plane = np.asarray(plane, dtype=np.float64)
    root = plane[..., ROOT_KEYPOINT, :]
    relative = plane[..., INPUT_KEYPOINTS, :] - root[..., None, :]
    size = body_size(relative, window)
    relative = relative / size[..., None, None]
    flags = (np.ones(relative.shape[:-1]) if seen is None
             else np.asarray(seen, dtype=np.float64)[..., INPUT_KEYPOINTS])
    relative = relative * flags[..., None]
    inputs = np.concatenate([relative, flags[..., None]], axis=-1)
    return inputs.reshape(inputs.shape[:-2] + (INPUT_CHANNELS,)), root, size
