"""Where a run computes: the device (CUDA when asked or present) and the autocast precision."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DanceRevError
from .config import DistEnv


def pick_device(name: str, dist: DistEnv) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DanceRevError("--device cuda: no CUDA device is available")
        return torch.device("cuda", dist.local_rank % torch.cuda.device_count())
    if name == "cpu":
        return torch.device("cpu")
    raise DanceRevError(f"unknown device {name!r} (auto, cpu or cuda)")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (Linux flags; False where unknown).

    Without AVX512_BF16 or AMX, bf16 autocast on a CPU is emulated and slower than fp32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a training precision (TrainConfig.precision); None = plain fp32."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
