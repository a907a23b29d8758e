"""`dancerev train` under torchrun: 2 gloo processes on CPU train one model correctly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from dancerev_core.formats.paper_json import PaperClip, write_paper_json
from dancerev_core.model import ModelConfig, Seq2Seq, condition_mask
from dancerev_core.model.checkpoint import load_checkpoint
from dancerev_core.model.pose_encoding import fit_scaling, scale_poses
from dancerev_core.motion import Motion
from dancerev_core.skeletons import BODY_25
from dancerev_core.training import TrainConfig, load_training_data
from dancerev_core.training.batches import epoch_batches, epoch_seeds
from dancerev_core.training.checkpointing import weights_digest
from dancerev_core.training.loop import MUSIC_SPREAD_FLOOR
from tests.conftest import REPO_ROOT

MODEL = dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32, window=4,
             decoder_hidden=24, dropout=0.0, schedule="linear", lam=0.5)
TRAINING = dict(epochs=3, batch_size=2, seq_len=12, lr=1e-2, seed=5, val_fraction=0.25,
                precision="fp32")  # the hand-made reference below is fp32


def paper_dataset(root):
    """8 small synthetic paper clips (2D, 15 fps): 9 training and 4 validation windows."""
    rng = np.random.default_rng(0)
    for index, frames in enumerate((30, 30, 26, 24, 24, 13, 12, 12)):
        positions = rng.uniform(-1, 1, size=(frames, 25, 2))
        motion = Motion(positions, 15.0, BODY_25.name, BODY_25.joint_names)
        clip = PaperClip(f"clip{index}", rng.normal(size=(frames, 438)), motion)
        write_paper_json(clip, root / f"clip{index}.json")
    return root


def reference_run(data, model_config, config, world_size=2):
    """The same training in one process, each step averaging the ranks' shard losses.

    Returns the weights and each epoch's training loss as the loop reports it.
    """
    mean, scale = fit_scaling(data.train.poses)  # the decoder's frames, scaled as the loop does
    music_mean, music_scale = fit_scaling(data.train.features, MUSIC_SPREAD_FLOOR)  # and music
    torch.manual_seed(config.seed)
    model = Seq2Seq(replace(model_config, pose_mean=mean, pose_scale=scale,
                            music_mean=music_mean, music_scale=music_scale))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x = torch.from_numpy(data.train.features)
    y = torch.from_numpy(scale_poses(data.train.poses, mean, scale))
    epoch_losses = []
    for epoch in range(1, config.epochs + 1):
        mask = torch.from_numpy(condition_mask("linear", epoch, config.seq_len, 10, 0.5))
        shards = [epoch_batches(len(x), config.batch_size, config.seed, epoch, rank,
                                world_size) for rank in range(world_size)]
        noises = [torch.Generator().manual_seed(epoch_seeds(config.seed, epoch, rank)[1])
                  for rank in range(world_size)]
        totals = torch.zeros(2, dtype=torch.float64)
        for step in range(len(shards[0])):
            optimizer.zero_grad()
            losses = [F.l1_loss(model(x[shard[step]], y[shard[step]], mask, generator=noise),
                                y[shard[step]]) for shard, noise in zip(shards, noises,
                                                                        strict=True)]
            loss = sum(losses) / world_size
            loss.backward()
            optimizer.step()
            windows = sum(len(shard[step]) for shard in shards)
            totals += torch.tensor([loss.item() * windows, windows])
        epoch_losses.append((totals[0] / totals[1]).item())
    return model.state_dict(), epoch_losses


def test_two_gloo_processes_train_one_model(tmp_path):
    root = tmp_path / "paper"
    root.mkdir()
    paper_dataset(root)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"model": MODEL, "training": TRAINING}))
    out = tmp_path / "run"
    env = {**os.environ, "DANCEREV_CACHE_DIR": str(tmp_path / "cache"),
           "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "dancerev_core", "train", str(root), "-o",
               str(out), "--config", str(config_file), "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("checkpoints: ") == 1  # rank 0 alone prints

    checkpoint = load_checkpoint(out / "last", expect_joint_set="body25")
    record = checkpoint.training
    assert record["world_size"] == 2 and record["epoch"] == 3
    digests = record["rank_weights_sha256"]  # each rank's own weights, gathered at the save
    assert len(digests) == 2 and digests[0] == digests[1] == weights_digest(checkpoint.model)
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [entry["epoch"] for entry in history] == [1, 2, 3]
    assert all(entry["val_loss"] is not None for entry in history)

    # correct, not merely identical: equal to averaging the two shards' gradients by hand
    config = TrainConfig(**TRAINING)
    data = load_training_data(root, seq_len=config.seq_len, val_fraction=config.val_fraction,
                              seed=config.seed)
    assert len(data.train) == 9  # odd: the second rank's shard wraps around
    expected, losses = reference_run(data, ModelConfig(joint_set="body25", **MODEL), config)
    np.testing.assert_allclose([entry["train_loss"] for entry in history], losses, rtol=1e-5)
    # w_k's bias has an exactly zero gradient (softmax ignores a constant per query), and a
    # few L1 bias gradients cancel to ~0: Adam turns their rounding noise into whole steps.
    # Everything else agrees to float rounding (training on one rank instead differs by ~0.1).
    difference = torch.cat([(tensor - expected[name]).abs().flatten() for name, tensor
                            in checkpoint.model.state_dict().items() if "w_k.bias" not in name])
    assert difference.max() < 1e-3 and (difference > 1e-5).float().mean() < 0.01
