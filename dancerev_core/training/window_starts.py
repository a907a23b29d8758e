"""Where each training window starts in its clip: fixed, or moved every epoch.

The paper cuts each clip into non-overlapping windows from its start, so every epoch shows the
model the same frames in the same windows: on a small dataset (the recipe stand-in has 118
windows) it sees each beat at the same place in a window, after the same ground-truth lead-in.
With `random_window_starts` (training config, ours) every epoch moves each window by up to
half a window either way, seeded by (seed, epoch) so a resumed run cuts the same windows.
The number of windows per clip stays the paper's (whole windows from the start), so an
epoch's steps and the curriculum's pace are unchanged; neighbouring windows may overlap.
"""

from __future__ import annotations

import numpy as np


def fixed_starts(num_frames: int, seq_len: int) -> np.ndarray:
    """The paper's starts: 0, seq_len, 2 seq_len, ... while a whole window fits."""
    return np.arange(0, num_frames - seq_len + 1, seq_len)


def moved_starts(num_frames: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """The fixed starts, each moved by a uniform whole number of frames in
    [-seq_len // 2, seq_len // 2], kept inside the clip."""
    starts = fixed_starts(num_frames, seq_len)
    moved = starts + rng.integers(-(seq_len // 2), seq_len // 2 + 1, size=len(starts))
    return np.clip(moved, 0, num_frames - seq_len)


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The window starts' random stream of one epoch (the same on every rank)."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, 0x57A27]))


def cut_at(features: np.ndarray, poses: np.ndarray, starts: np.ndarray,
           seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows (N, seq_len, .) of one clip's features and poses at the given starts."""
    index = starts[:, None] + np.arange(seq_len)[None, :]
    return features[index], poses[index]
