"""The validation loss of an epoch: the same curriculum mask as its training, in eval mode."""

from __future__ import annotations

import torch

from ..model.network import Seq2Seq
from .batches import epoch_seeds
from .config import DistEnv
from .data import Windows


@torch.no_grad()
def validation_loss(model: Seq2Seq, windows: Windows, mask: torch.Tensor, batch_size: int,
                    device: torch.device, seed: int, dist: DistEnv,
                    amp_dtype: torch.dtype | None = None) -> float | None:
    """Mean L1 over the validation windows (shared out over the ranks), in eval mode.

    The decoder's random initial states come from a generator seeded the same way every
    epoch, so the numbers of different epochs are comparable. None without validation data.
    """
    if len(windows) == 0:
        return None
    model.eval()
    noise = torch.Generator().manual_seed(epoch_seeds(seed, 0, dist.rank)[1])
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # |error| sum, values
    for batch in torch.arange(len(windows))[dist.rank::dist.world_size].split(batch_size):
        features = torch.from_numpy(windows.features[batch.numpy()]).to(device)
        poses = torch.from_numpy(windows.poses[batch.numpy()]).to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            predicted = model(features, poses, mask, generator=noise)
        totals[0] += (predicted.float() - poses).abs().sum(dtype=torch.float64)
        totals[1] += poses.numel()
    if dist.world_size > 1:
        import torch.distributed as torch_dist
        torch_dist.all_reduce(totals)
    model.train()
    return (totals[0] / totals[1]).item()
