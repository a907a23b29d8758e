"""Dynamic auto-conditioning: which decoder inputs are ground truth, as a function of the epoch.

The decoder's input at step i is either the ground-truth previous frame or its own previous
prediction (detached). Along a training sequence the two alternate in runs: first p self-fed
frames, then `condition_step` ground-truth frames, again and again, cut at the sequence length
(the order of the authors' code: `cat([zeros(p), ones(condition_step)])` tiled). p, the
self-fed run length, grows with the epoch t by a schedule:

| schedule | p |
|---|---|
| teacher_forcing | 0 (every input is ground truth) |
| const | condition_step (plain auto-conditioning) |
| linear | floor(lam * t) |
| quadratic | floor(lam * t^2) |
| exponential | floor(lam * e^t) |

p = 0 means pure teacher forcing: the mask is all ground truth. With the released linear
schedule (lam 0.01) and epochs counted from 1 as in the authors' code, the first self-fed frame
appears at epoch 100 and one more every 100 epochs.

`const` is not in the authors' code; the paper's "auto-condition (const)" baseline is the
acLSTM of Zhou et al. (2018), which alternates equal runs of ground-truth and self-fed frames,
so p = condition_step here (10 self-fed, 10 ground truth).

What t counts: the paper's epochs, whatever the dataset's size (`curriculum_windows` 0), or,
with `curriculum_windows` N > 0, curriculum epochs of N training windows each
(`curriculum_epoch`), so the pace per window seen is the same on a small dataset as on a
large one.

`lam` is read as the decimal it is written as (0.01 is exactly 1/100), so floor(lam * t) and
floor(lam * t^2) are exact: 0.01 * 410^2 is 1681, where float arithmetic gives 1680.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from ..errors import DanceRevError

MAX_RUN = 1 << 40  # p is capped here; any p >= the sequence length means "all self-fed"


def _exact(lam: float) -> Fraction:
    return Fraction(repr(float(lam)))


def teacher_forcing(epoch: int, lam: float, condition_step: int) -> int:
    """Never feed the decoder its own output."""
    return 0


def const(epoch: int, lam: float, condition_step: int) -> int:
    """Plain auto-conditioning: self-fed runs as long as the ground-truth runs."""
    return condition_step


def linear(epoch: int, lam: float, condition_step: int) -> int:
    """floor(lam * t): the released schedule, the paper's best."""
    return min(math.floor(_exact(lam) * epoch), MAX_RUN)


def quadratic(epoch: int, lam: float, condition_step: int) -> int:
    """floor(lam * t^2)."""
    return min(math.floor(_exact(lam) * epoch * epoch), MAX_RUN)


def exponential(epoch: int, lam: float, condition_step: int) -> int:
    """floor(lam * e^t), capped at MAX_RUN instead of overflowing."""
    if lam <= 0:
        return 0
    if math.log(lam) + epoch > math.log(MAX_RUN):
        return MAX_RUN
    return math.floor(lam * math.exp(epoch))


SCHEDULES: dict[str, Callable[[int, float, int], int]] = {
    "teacher_forcing": teacher_forcing,
    "const": const,
    "linear": linear,
    "quadratic": quadratic,
    "exponential": exponential,
}


def self_fed_length(schedule: str, epoch: int, lam: float = 0.01, condition_step: int = 10) -> int:
    """p for this schedule and epoch (see the module docstring)."""
    if schedule not in SCHEDULES:
        raise DanceRevError(f"unknown curriculum schedule {schedule!r} "
                            f"(known: {', '.join(SCHEDULES)})")
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
        raise DanceRevError(f"curriculum epoch must be an integer >= 0, got {epoch!r}")
    if not math.isfinite(lam) or lam < 0:
        raise DanceRevError(f"curriculum lambda must be finite and >= 0, got {lam!r}")
    if condition_step < 1:
        raise DanceRevError(f"condition_step must be at least 1, got {condition_step}")
    return SCHEDULES[schedule](int(epoch), float(lam), int(condition_step))


def condition_mask(schedule: str, epoch: int, seq_len: int, condition_step: int = 10,
                   lam: float = 0.01, self_fed_first: bool = True) -> np.ndarray:
    """Bool mask over decoder steps, True = ground-truth input, False = self-fed.

    Pattern: p False, then condition_step True, repeated and cut at seq_len; all True at p = 0.
    `self_fed_first` False starts each period with its ground-truth run instead.
    """
    if seq_len < 0:
        raise DanceRevError(f"sequence length must be 0 or more, got {seq_len}")
    p = min(self_fed_length(schedule, epoch, lam, condition_step), seq_len)
    runs = [np.zeros(p, dtype=bool), np.ones(condition_step, dtype=bool)]
    period = np.concatenate(runs if self_fed_first else runs[::-1])
    return np.resize(period, seq_len)


def curriculum_epoch(epoch: int, windows_per_epoch: int, curriculum_windows: int = 0) -> int:
    """t for training epoch `epoch`: the epoch itself, or the curriculum epochs of
    `curriculum_windows` windows that the windows seen by the end of it make up."""
    if curriculum_windows <= 0:
        return int(epoch)
    return int(epoch) * int(windows_per_epoch) // int(curriculum_windows)
