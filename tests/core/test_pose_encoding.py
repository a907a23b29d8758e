"""The decoder's frames: the root's travel as displacement, every channel scaled, and back."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError
from dancerev_core.formats.reading import read_motion
from dancerev_core.model.config import ModelConfig
from dancerev_core.model.pose_encoding import (
    decode_layout,
    encode_layout,
    fit_scaling,
    model_poses_to_layout,
    scale_poses,
    travel_channels,
    unscale_poses,
)
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def salsa_poses():
    """A real travelling dance: CMU salsa lead, canonical joints, root-relative, flattened."""
    path = shared_data("mocap", "cmu", "60", "60_01_scaled.bvh")
    motion = read_motion(path, joints="canonical")
    relative = motion.resample(15.0).to_root_relative()
    return relative.positions.reshape(relative.num_frames, -1)


def test_travel_channels_are_the_roots_horizontal_ones():
    assert travel_channels("canonical24") == [0, 1]  # pelvis x, y (Z up)
    assert travel_channels("body25") == [16]  # MidHip x (image y is vertical)


def test_displacement_round_trip_on_a_real_travelling_dance(salsa_poses):
    encoded = encode_layout(salsa_poses, "canonical24", "displacement")
    travel = salsa_poses[:, :2]
    assert np.ptp(travel, axis=0).max() > 0.5  # the dancer travels metres ...
    assert np.abs(encoded[:, :2]).max() < 0.1  # ... in steps of centimetres a frame
    np.testing.assert_array_equal(encoded[:, 2:], salsa_poses[:, 2:])  # height and body kept
    decoded = decode_layout(encoded, "canonical24", "displacement")
    np.testing.assert_allclose(decoded[:, :2], travel - travel[0], atol=1e-4)
    np.testing.assert_array_equal(decoded[:, 2:], salsa_poses[:, 2:])


def test_absolute_encoding_and_no_statistics_change_nothing(salsa_poses):
    """Checkpoints from before the encoding decode exactly as they did."""
    np.testing.assert_array_equal(encode_layout(salsa_poses, "canonical24", "absolute"),
                                  salsa_poses)
    old = ModelConfig(joint_set="canonical24", pose_encoding="absolute")
    np.testing.assert_array_equal(model_poses_to_layout(salsa_poses, old), salsa_poses)


def test_scaling_gives_unit_channels_and_inverts(salsa_poses):
    encoded = encode_layout(salsa_poses, "canonical24", "displacement")
    mean, scale = fit_scaling(encoded)
    scaled = scale_poses(encoded, mean, scale)
    assert np.abs(scaled.mean(axis=0)).max() < 1e-4
    spread = scaled.std(axis=0)
    assert spread.max() <= 1 + 1e-4 and np.median(spread) == pytest.approx(1, abs=1e-4)
    np.testing.assert_allclose(unscale_poses(scaled, mean, scale), encoded, atol=1e-5)


def test_a_constant_channel_is_not_blown_up():
    poses = np.random.default_rng(0).normal(size=(100, 72)).astype(np.float32)
    poses[:, 5] = 0.3  # never moves
    mean, scale = fit_scaling(poses)
    assert scale[5] >= 0.1 * np.median(scale) and mean[5] == pytest.approx(0.3)


def test_a_checkpoint_decodes_itself(salsa_poses):
    encoded = encode_layout(salsa_poses, "canonical24", "displacement")
    mean, scale = fit_scaling(encoded)
    config = ModelConfig.from_dict(ModelConfig(joint_set="canonical24", pose_mean=mean,
                                               pose_scale=scale).to_dict())  # JSON round trip
    assert config.pose_mean == mean and config.pose_scale == scale
    decoded = model_poses_to_layout(scale_poses(encoded, mean, scale), config)
    np.testing.assert_allclose(decoded[:, 2:], salsa_poses[:, 2:], atol=1e-4)
    np.testing.assert_allclose(decoded[:, :2], salsa_poses[:, :2] - salsa_poses[0, :2],
                               atol=1e-3)


@pytest.mark.parametrize("values, message", [
    ({"pose_encoding": "velocity"}, "pose_encoding 'velocity' is unknown"),
    ({"pose_mean": [0.0] * 72, "pose_scale": [1.0] * 71}, "both hold 72 values"),
    ({"pose_mean": [0.0] * 72, "pose_scale": [0.0] * 72}, "must be positive"),
    ({"pose_mean": ["a"] * 72, "pose_scale": [1.0] * 72}, "list of finite numbers"),
    ({"music_mean": [0.0] * 438, "music_scale": [1.0] * 72}, "both hold 438 values"),
    ({"music_mean": [0.0] * 438, "music_scale": [-1.0] * 438}, "music_scale values must be"),
])
def test_bad_encodings_are_refused_in_one_line(values, message):
    with pytest.raises(DanceRevError, match=message):
        ModelConfig.from_dict({"joint_set": "canonical24", **values})


def test_a_checkpoint_from_before_the_encoding_loads_as_the_papers_layout():
    """The shipped model's JSON has no pose_encoding: it is read as absolute and unscaled."""
    import json

    from dancerev_core.model.checkpoint import load_checkpoint
    from dancerev_core.recipe.shipped import DEFAULT_MODEL

    header = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert "pose_encoding" not in header["model"]
    config = load_checkpoint(DEFAULT_MODEL).config
    assert config.pose_encoding == "absolute" and config.pose_scale == ()


def test_the_encoder_hears_music_scaled_by_the_training_statistics():
    """A model with music statistics equals the same weights fed pre-scaled features; the
    statistics live in the config, so the weights file holds the same tensors either way."""
    import torch

    from dancerev_core.model.network import Seq2Seq

    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 40, 438)) * rng.uniform(0.1, 300, size=438)  # MFCC-like
    mean, scale = fit_scaling(features, floor_share=0.5)
    sizes = dict(joint_set="canonical24", d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8,
                 d_inner=32, window=4, decoder_hidden=24, dropout=0.0)
    scaled_model = Seq2Seq(ModelConfig(**sizes, music_mean=mean, music_scale=scale)).eval()
    plain_model = Seq2Seq(ModelConfig(**sizes)).eval()
    assert scaled_model.state_dict().keys() == plain_model.state_dict().keys()
    plain_model.load_state_dict(scaled_model.state_dict())
    raw = torch.tensor(features, dtype=torch.float32)
    prescaled = torch.tensor((features - mean) / np.array(scale), dtype=torch.float32)
    with torch.no_grad():
        heard = scaled_model.encode(raw)
        torch.testing.assert_close(heard, plain_model.encode(prescaled), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(heard, plain_model.encode(raw), atol=1e-2)
