"""The learned lifter at inference: a temporal convolution network in plain numpy.

The network is VideoPose3D's (Pavllo et al., CVPR 2019), smaller: a kernel-3 convolution
over the keypoint channels, then residual blocks, each a kernel-3 convolution dilated by 3,
9, ... and a 1 x 1 convolution, then a 1 x 1 convolution to the 23 non-root canonical joints
(pelvis-relative, metres, view frame). The shipped one is 192 wide with two blocks, so every
frame of the answer sees 27 input frames (0.9 s) centred on it: on this little data and a
few CPU minutes of training, more steps of a smaller network beat a wider context (81 and
243 frames were tried); the clip's ends are extended by repeating
the first and last frames, as in training. Batch normalisation is folded into the
convolutions when the weights are saved, so inference is convolutions, biases and ReLUs:
a one-minute clip takes a fraction of a second without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DanceRevError, InputFileError
from ..weights_pair import shape_mismatch
from .features import INPUT_CHANNELS, LIFTER_FPS, SCALE_WINDOW
from .skeleton import INPUT_KEYPOINTS
from .weights import load_weights

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained" / "lifter.json"
OUTPUT_CHANNELS = 23 * 3


@dataclass(frozen=True)
class LifterConfig:
    """Sizes of the network and how its input is made (stored in the lifter's JSON)."""

    channels: int = 192
    kernel: int = 3
    dilations: tuple[int, ...] = (3, 9)
    dropout: float = 0.0
    fps: float = LIFTER_FPS
    scale_window: int = SCALE_WINDOW
    input_keypoints: tuple[int, ...] = field(default=INPUT_KEYPOINTS)

    @property
    def receptive_field(self) -> int:
        return 1 + (self.kernel - 1) * (1 + sum(self.dilations))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "receptive_field": self.receptive_field,
                "input_channels": INPUT_CHANNELS, "output_channels": OUTPUT_CHANNELS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LifterConfig:
        try:
            config = cls(channels=int(values["channels"]), kernel=int(values["kernel"]),
                         dilations=tuple(int(d) for d in values["dilations"]),
                         dropout=float(values.get("dropout", 0.0)), fps=float(values["fps"]),
                         scale_window=int(values["scale_window"]),
                         input_keypoints=tuple(int(k) for k in values["input_keypoints"]))
        except (KeyError, TypeError, ValueError) as error:
            raise DanceRevError(f"bad lifter network description ({error!r})") from None
        if (config.input_keypoints != INPUT_KEYPOINTS or config.fps != LIFTER_FPS
                or config.scale_window != SCALE_WINDOW):
            raise DanceRevError("lifter was made for another input layout than this "
                                "DanceRev prepares (keypoints, fps or size window)")
        return config


def tensor_shapes(config: LifterConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the folded weights (torch Conv1d layout: out x in x kernel)."""
    c, k = config.channels, config.kernel
    shapes = {"input.weight": (c, INPUT_CHANNELS, k), "input.bias": (c,),
              "output.weight": (OUTPUT_CHANNELS, c, 1), "output.bias": (OUTPUT_CHANNELS,)}
    for i in range(len(config.dilations)):
        shapes.update({f"blocks.{i}.dilated.weight": (c, c, k), f"blocks.{i}.dilated.bias": (c,),
                       f"blocks.{i}.pointwise.weight": (c, c, 1),
                       f"blocks.{i}.pointwise.bias": (c,)})
    return shapes


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, dilation: int) -> np.ndarray:
    """Valid 1D convolution of x (in x T) -> (out x T - dilation * (kernel - 1))."""
    kernel = weight.shape[2]
    length = x.shape[1] - dilation * (kernel - 1)
    out = weight[:, :, 0] @ x[:, :length]
    for tap in range(1, kernel):
        out += weight[:, :, tap] @ x[:, tap * dilation:tap * dilation + length]
    return out + bias[:, None]


class Lifter:
    """A loaded lifter: `predict` turns network inputs into pelvis-relative joints."""

    def __init__(self, config: LifterConfig, tensors: dict[str, np.ndarray],
                 description: dict[str, Any] | None = None, path: Path | None = None) -> None:
        self.config = config
        self.tensors = {name: np.asarray(t, dtype=np.float32) for name, t in tensors.items()}
        self.description = description or {}
        self.path = path

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Joints (T x 24 x 3, pelvis at 0) for inputs (T x 48) from `features.network_input`."""
        w = self.tensors
        half = self.config.receptive_field // 2
        x = np.asarray(inputs, dtype=np.float32)
        x = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)]).T
        h = np.maximum(_conv(x, w["input.weight"], w["input.bias"], 1), 0.0)
        for i, dilation in enumerate(self.config.dilations):
            trim = dilation * (self.config.kernel - 1) // 2
            residual = h[:, trim:h.shape[1] - trim]
            h = np.maximum(_conv(h, w[f"blocks.{i}.dilated.weight"],
                                 w[f"blocks.{i}.dilated.bias"], dilation), 0.0)
            h = np.maximum(_conv(h, w[f"blocks.{i}.pointwise.weight"],
                                 w[f"blocks.{i}.pointwise.bias"], 1), 0.0)
            h = residual + h
        out = _conv(h, w["output.weight"], w["output.bias"], 1).T  # T x 69
        joints = np.zeros((out.shape[0], 24, 3), dtype=np.float64)
        joints[:, 1:] = out.reshape(-1, 23, 3)
        return joints


def load_lifter(path: str | Path | None = None) -> Lifter:
    """The lifter at `path` (default: the one shipped in `dancerev_core/pretrained/`)."""
    path = PRETRAINED if path is None else Path(path)
    header, tensors = load_weights(path)
    try:
        config = LifterConfig.from_dict(header.get("network", {}))
    except DanceRevError as error:
        raise InputFileError(path, str(error)) from None
    differs = shape_mismatch(tensor_shapes(config),
                             {name: tuple(t.shape) for name, t in tensors.items()})
    if differs:
        raise InputFileError(path, f"weights do not fit the network description ({differs})")
    return Lifter(config, tensors, header, Path(path))


