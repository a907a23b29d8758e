"""The free-running check a training run makes on its validation songs (issue 15).

Every `TrainConfig.health_every` epochs the model dances the first HEALTH_SECONDS of up to
HEALTH_CLIPS validation clips with nothing but its own output fed back (eval mode, beat sync
off, a fixed seed), and `evaluation.health` compares those dances with the clips' real
motion. The figures go into that epoch's `history.jsonl` line under "health" and into
`RUN/health.png` (progress.py); when the dances freeze, the run prints one warning line.
Beats come from the features' beat column, the same beats the model was shown.
"""

from __future__ import annotations

import numpy as np
import torch

from ..evaluation.health import Health, dance_health
from ..generation.pipeline import poses_to_motion
from ..model.network import Seq2Seq
from ..model.pose_encoding import model_poses_to_layout
from ..music.features import block_slices
from .data import AlignedClip

HEALTH_CLIPS = 4
HEALTH_SECONDS = 30.0
HEALTH_SEED = 0


def validation_health(model: Seq2Seq, clips: list[AlignedClip],
                      device: torch.device) -> Health | None:
    """The model's free-running figures on the first validation clips (None without any)."""
    config = model.config
    chosen = clips[:HEALTH_CLIPS]
    if not chosen:
        return None
    frames = max(3, int(round(HEALTH_SECONDS * config.fps)))
    beat_column = block_slices()["beat"]
    dances, real, beats = [], [], []
    generator = torch.Generator().manual_seed(HEALTH_SEED)
    for clip in chosen:
        features = clip.features[:frames]
        output = model.generate(torch.from_numpy(np.ascontiguousarray(features)).to(device),
                                generator, num=1)[0].float().cpu().numpy()
        dances.append(poses_to_motion(model_poses_to_layout(output, config), config.joint_set,
                                      config.fps).positions)
        real.append(clip.motion.to_absolute().positions[:frames])
        beats.append(np.flatnonzero(features[:, beat_column].ravel() > 0.5) / config.fps)
    return dance_health(dances, beats, real, config.fps, skeleton=config.joint_set)
