"""The beat phase the encoder reads: 0 on every beat, linear between, continued at the edges."""

from __future__ import annotations

import math

import numpy as np
import torch

from dancerev_core.model import ModelConfig, Seq2Seq
from dancerev_core.model.beat_phase import BEAT_COLUMN, beat_phase
from dancerev_core.model.checkpoint import load_checkpoint, save_checkpoint
from dancerev_core.music.features import NUM_FEATURES, block_slices


def features_with_beats(length: int, *rows: list[int]) -> torch.Tensor:
    features = torch.randn(len(rows), length, NUM_FEATURES, generator=torch.Generator()
                           .manual_seed(0))
    features[..., BEAT_COLUMN] = 0.0
    for row, beats in enumerate(rows):
        features[row, beats, BEAT_COLUMN] = 1.0
    return features


def phases(features: torch.Tensor) -> np.ndarray:
    channels = beat_phase(features)
    return (torch.atan2(channels[..., 0], channels[..., 1]) / (2 * math.pi) % 1.0).numpy()


def test_the_beat_column_is_where_the_features_keep_it():
    assert BEAT_COLUMN == block_slices()["beat"].start == 53


def test_phase_is_zero_on_beats_and_rises_linearly_between_them():
    beats = [4, 10, 18, 24]
    phase = phases(features_with_beats(30, beats))[0]
    assert np.allclose(phase[beats] % 1.0, 0.0, atol=1e-6)
    assert np.allclose(phase[10:18], np.arange(8) / 8, atol=1e-6)  # an uneven interval
    assert np.allclose(phase[4:10], np.arange(6) / 6, atol=1e-6)


def test_phase_runs_on_at_the_mean_interval_before_the_first_and_after_the_last_beat():
    phase = phases(features_with_beats(30, [6, 12, 18]))[0]  # mean interval 6 frames
    assert np.allclose(phase[:6], np.arange(6) / 6, atol=1e-6)
    assert np.allclose(phase[18:], (np.arange(12) % 6) / 6, atol=1e-6)


def test_without_two_beats_there_is_no_timing_to_give():
    channels = beat_phase(features_with_beats(20, [], [7]))
    assert torch.equal(channels[..., 0], torch.zeros(2, 20))
    assert torch.equal(channels[..., 1], torch.ones(2, 20))


def test_each_batch_row_has_its_own_beats():
    phase = phases(features_with_beats(24, [0, 8, 16], [3, 9, 15, 21]))
    assert np.allclose(phase[0, :8], np.arange(8) / 8, atol=1e-6)
    assert np.allclose(phase[1, 3:9], np.arange(6) / 6, atol=1e-6)


def small(beat_phase_on: bool) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(ModelConfig(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32,
                               window=4, decoder_hidden=32, joint_set="canonical24",
                               beat_phase=beat_phase_on)).eval()


def test_a_model_with_the_phase_hears_where_the_beats_are_and_round_trips(tmp_path):
    model = small(True)
    assert model.encoder.embed.in_features == NUM_FEATURES + 2
    assert small(False).encoder.embed.in_features == NUM_FEATURES  # the paper's, as before
    on_beat = features_with_beats(40, list(range(0, 40, 8)))
    shifted = on_beat.clone()
    shifted[..., BEAT_COLUMN] = torch.roll(on_beat[..., BEAT_COLUMN], 3, dims=1)
    with torch.no_grad():
        a, b = model.encode(on_beat), model.encode(shifted)
    # the spike itself moved too; what matters is that frames far from either beat differ
    assert (a - b).abs().amax(dim=-1).min() > 1e-4
    path = save_checkpoint(tmp_path / "phase", model, {"epoch": 1})
    loaded = load_checkpoint(path, device="cpu")
    assert loaded.config.beat_phase
    generator = torch.Generator().manual_seed(2)
    torch.testing.assert_close(loaded.model.generate(on_beat[0], generator),
                               model.generate(on_beat[0], torch.Generator().manual_seed(2)),
                               rtol=0, atol=0)


def test_windowed_encoding_stays_exact_when_beats_are_within_the_receptive_field():
    model = small(True)
    beats = list(range(2, 300, 3))  # closer than the 4-frame field
    features = features_with_beats(300, beats)
    with torch.no_grad():
        whole = model.encode(features)
        windows = model.encode(features, chunk=64)
    torch.testing.assert_close(windows, whole, rtol=1e-5, atol=1e-5)
