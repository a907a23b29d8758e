"""Where each frame lies between two beats, as two smooth channels the encoder also reads.

The 438 features mark a beat as a one-frame spike. To time a move to the beat the model must
know how far the frame it writes is from the beats either side; with the spike alone, the
encoder has to learn that distance from attention over absolute positions, and measured
runs never did (MODEL_CARD.md, issue 15). The beat phase hands it over: phi = 0 on a beat,
rising linearly to 1 at the next, given as (sin 2 pi phi, cos 2 pi phi) so that 0 and 1 meet.
It is computed from the features' own beat column, so the model's input stays the 438
features and nothing else: generation, training and every checkpoint read the same thing.

Before the first beat and after the last of a window the phase runs on at the window's mean
beat interval; a window without two beats holds phase 0 (no timing to give).
"""

from __future__ import annotations

import math

import torch

from ..music.features import block_slices

BEAT_COLUMN = block_slices()["beat"].start
PHASE_CHANNELS = 2


def beat_phase(features: torch.Tensor) -> torch.Tensor:
    """(B, T, 438) features -> (B, T, 2): sin and cos of each frame's phase between beats."""
    beats = features[..., BEAT_COLUMN] > 0.5  # (B, T)
    batch, length = beats.shape
    device = features.device
    frame = torch.arange(length, device=device).expand(batch, length)
    minus = torch.full_like(frame, -1)
    beyond = torch.full_like(frame, length)
    previous = torch.where(beats, frame, minus).cummax(dim=1).values
    following = torch.where(beats, frame, beyond).flip(1).cummin(dim=1).values.flip(1)
    count = beats.sum(dim=1, keepdim=True)
    first = following[:, :1]
    last = previous[:, -1:]
    interval = ((last - first).clamp(min=1) / (count - 1).clamp(min=1)).to(torch.float32)
    position = frame.to(torch.float32)
    between = (following - previous).clamp(min=1).to(torch.float32)
    phase = (position - previous) / between
    before = previous < 0
    after = following >= length
    phase = torch.where(before, 1.0 - torch.frac((following - position) / interval), phase)
    phase = torch.where(after, torch.frac((position - previous) / interval), phase)
    phase = torch.where(count >= 2, torch.remainder(phase, 1.0), torch.zeros_like(phase))
    angle = 2.0 * math.pi * phase
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).to(features.dtype)
