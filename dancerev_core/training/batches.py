"""Each epoch's randomness and window order, from (seed, epoch, rank) alone.

So the random streams at epoch t do not depend on how the run got there, and a resumed run
continues bit for bit (see loop.py's docstring).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def epoch_seeds(seed: int, epoch: int, rank: int = 0) -> tuple[int, int]:
    """(torch/random/numpy seed, decoder-noise seed) of one rank in one epoch."""
    a, b = np.random.SeedSequence([seed, epoch, rank]).generate_state(2)
    return int(a), int(b)


def epoch_batches(count: int, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world_size: int = 1) -> list[torch.Tensor]:
    """This rank's batches of window indices for one epoch.

    One shuffle shared by all ranks (seeded by seed and epoch), padded by wrapping to a
    multiple of the world size, dealt round-robin; the last batch may be smaller.
    """
    generator = torch.Generator().manual_seed(
        int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    order = torch.randperm(count, generator=generator)
    if world_size > 1:
        total = math.ceil(count / world_size) * world_size
        order = order.repeat(math.ceil(total / count))[:total][rank::world_size]
    return list(order.split(batch_size))
