"""The Seq2Seq model: local attention, windowed encoding, auto-conditioning, generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dancerev_core.errors import DanceRevError
from dancerev_core.model import ModelConfig, Seq2Seq, condition_mask
from dancerev_core.model.network import local_attention


def tiny_config(**changes) -> ModelConfig:
    sizes = dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=6, d_inner=32, window=3,
                 decoder_hidden=24, dropout=0.0)
    sizes.update(changes)
    return ModelConfig(**sizes)


def tiny_model(seed: int = 0, **changes) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(tiny_config(**changes))


def naive_band_attention(q, k, v, window):
    """Reference: full T x T attention with a |i - j| <= window band mask."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    frames = torch.arange(q.shape[-2])
    band = (frames[:, None] - frames[None, :]).abs() <= window
    scores = scores.masked_fill(~band, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# -- configuration ---------------------------------------------------------------------------

def test_released_configuration_is_the_default():
    config = ModelConfig()
    assert (config.d_model, config.n_layers, config.n_heads, config.d_k, config.d_v) == (
        200, 1, 8, 64, 64)
    assert (config.d_inner, config.dropout, config.window, config.decoder_hidden) == (
        1024, 0.1, 100, 1024)
    assert (config.decoder_layers, config.num_features, config.fps, config.joint_set) == (
        3, 438, 15.0, "body25")
    assert (config.condition_step, config.schedule, config.lam) == (10, "linear", 0.01)
    assert config.pose_size == 50
    assert ModelConfig(joint_set="canonical24").pose_size == 72


def test_released_parameter_count():
    # 1 encoder layer as in paper-notes; the authors' default of 2 layers gives 22,998,416.
    model = Seq2Seq(ModelConfig())
    assert model.num_parameters() == 22_175_456


def test_config_dict_round_trip_and_validation():
    config = tiny_config(schedule="quadratic", joint_set="canonical24")
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.from_dict({"window": 50}) == ModelConfig(window=50)
    bad = [{"widnow": 5}, {"n_heads": 0}, {"dropout": 1.0}, {"schedule": "cosine"},
           {"joint_set": "body18"}, {"window": -1}, {"d_model": 2.5}, {"n_layers": True},
           {"fps": float("nan")}, {"lam": -0.01}, {"fps": "15"}]
    for values in bad:
        with pytest.raises(DanceRevError) as caught:
            ModelConfig.from_dict(values)
        assert "\n" not in str(caught.value)


# -- local attention -------------------------------------------------------------------------

@pytest.mark.parametrize(("length", "window"), [
    (1, 0), (6, 0), (7, 1), (10, 3), (16, 4), (17, 4), (33, 5), (9, 8), (9, 20), (50, 7),
    (64, 13),
])
def test_local_attention_equals_banded_full_attention(length, window):
    generator = torch.Generator().manual_seed(length * 100 + window)
    q, k = (torch.randn(2, 3, length, 5, generator=generator, dtype=torch.float64)
            for _ in range(2))
    v = torch.randn(2, 3, length, 4, generator=generator, dtype=torch.float64)
    expected = naive_band_attention(q, k, v, window)
    torch.testing.assert_close(local_attention(q, k, v, window), expected, rtol=1e-12,
                               atol=1e-12)


def test_no_frame_sees_outside_its_receptive_field():
    model = tiny_model(n_layers=2, window=3).double().eval()
    features = torch.randn(1, 40, 438, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(16, dtype=torch.float64)  # a plain sum of a layer norm is constant
    (model.encode(features)[0, 20] * weights).sum().backward()
    touched = features.grad[0].abs().sum(dim=1) > 0
    expected = np.zeros(40, dtype=bool)
    expected[20 - 6:20 + 7] = True  # 2 layers x window 3 on each side
    np.testing.assert_array_equal(touched.numpy(), expected)


class LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any aten op produces."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in torch.utils._pytree.tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


def largest_intermediate(model: Seq2Seq, length: int) -> int:
    features = torch.randn(1, length, model.config.num_features)
    with torch.no_grad(), LargestTensor() as probe:
        model.encode(features)
    return probe.largest


def test_encoder_memory_is_linear_in_length():
    # few features and channels, so that the attention scores are the largest tensors
    model = tiny_model(window=10, d_model=8, d_inner=8, num_features=4).eval()
    small, large = largest_intermediate(model, 2000), largest_intermediate(model, 4000)
    heads, window = 2, 10
    assert large == 2 * small  # doubling T doubles the largest tensor, not 4x
    assert large <= heads * (4000 + window) * 3 * window  # the (blocks, w, 3w) scores
    assert large < 4000 * 4000 / 25  # nowhere near a T x T matrix


# -- windowed encoding -----------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [1, 4, 7, 16, 49])
def test_windowed_encoding_equals_whole_encoding(chunk):
    model = tiny_model(n_layers=2, window=3).double().eval()
    features = torch.randn(2, 50, 438, dtype=torch.float64)
    whole = model.encode(features)
    torch.testing.assert_close(model.encode(features, chunk=chunk), whole, rtol=1e-10,
                               atol=1e-10)


# -- training pass ---------------------------------------------------------------------------

def test_self_fed_inputs_are_detached():
    model = tiny_model()
    features = torch.randn(3, 8, 438)
    targets = torch.randn(3, 8, 50, requires_grad=True)
    inputs = []
    model.decoder.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    mask = np.array([True, False, False, True, True, False, True, False])
    predictions = model(features, targets, mask)
    assert predictions.shape == (3, 8, 50) and predictions.requires_grad
    # step 0: the zero frame; ground-truth steps: targets (carry grad); self-fed: detached
    assert not inputs[0].requires_grad and not inputs[0].any()
    for step in range(1, 8):
        assert inputs[step].requires_grad == bool(mask[step])
        if not mask[step]:
            torch.testing.assert_close(inputs[step], predictions[:, step - 1].detach())
    # gradient: with every input self-fed, the head's bias only gets step 5's own gradient
    model.zero_grad()
    model(features, targets.detach(), np.zeros(8, dtype=bool))[:, 5].sum().backward()
    torch.testing.assert_close(model.head.bias.grad, torch.full((50,), 3.0))


def test_teacher_forcing_feeds_ground_truth():
    model = tiny_model().eval()
    features, targets = torch.randn(2, 9, 438), torch.randn(2, 9, 50)
    generator = torch.Generator().manual_seed(5)
    forced = model(features, targets, np.ones(9, dtype=bool), generator=generator)
    # the same pass written out by hand: inputs are zeros, then targets[:, :-1]
    generator = torch.Generator().manual_seed(5)
    encoded = model.encode(features)
    state = model.decoder.initial_state(2, features.device, features.dtype, generator)
    inputs = torch.cat([torch.zeros(2, 1, 50), targets[:, :-1]], dim=1)
    expected = []
    for i in range(9):
        hidden, state = model.decoder(inputs[:, i], state)
        expected.append(model.head(torch.cat([hidden, encoded[:, i]], dim=-1)))
    torch.testing.assert_close(forced, torch.stack(expected, dim=1))
    generator = torch.Generator().manual_seed(5)
    torch.testing.assert_close(model(features, targets, None, generator=generator), forced)


def test_fully_self_fed_training_pass_equals_generation():
    model = tiny_model().eval()
    features, targets = torch.randn(1, 12, 438), torch.randn(1, 12, 50)
    fed = model(features, targets, np.zeros(12, dtype=bool),
                generator=torch.Generator().manual_seed(3))
    generated = model.generate(features[0], generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(fed[0], generated[0])


def test_shape_errors_are_one_line():
    model = tiny_model()
    with pytest.raises(DanceRevError, match="features of shape"):
        model(torch.randn(1, 5, 400), torch.randn(1, 5, 50))
    with pytest.raises(DanceRevError, match="do not fit"):
        model(torch.randn(1, 5, 438), torch.randn(1, 6, 50))
    with pytest.raises(DanceRevError, match="condition mask"):
        model(torch.randn(1, 5, 438), torch.randn(1, 5, 50), np.ones(4, dtype=bool))


# -- generation ------------------------------------------------------------------------------

def test_generation_is_seeded_and_samples_differ():
    model = tiny_model(dropout=0.1)
    model.train()
    features = torch.randn(30, 438)
    first = model.generate(features, generator=torch.Generator().manual_seed(7), num=3)
    again = model.generate(features, generator=torch.Generator().manual_seed(7), num=3)
    assert model.training  # mode restored
    assert first.shape == (3, 30, 50)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    for a in range(3):
        for b in range(a + 1, 3):
            assert (first[a] - first[b]).abs().max() > 1e-3
    other = model.generate(features, generator=torch.Generator().manual_seed(8), num=3)
    assert (other - first).abs().max() > 1e-3


def test_batched_generation_shapes_and_windowed_encoding():
    model = tiny_model(window=2, n_layers=2).eval()
    features = torch.randn(2, 25, 438)
    whole = model.generate(features, generator=torch.Generator().manual_seed(1), num=2,
                           chunk=None)
    windowed = model.generate(features, generator=torch.Generator().manual_seed(1), num=2,
                              chunk=6)
    assert whole.shape == (2, 2, 25, 50)
    torch.testing.assert_close(windowed, whole, rtol=1e-5, atol=1e-5)
    canonical = Seq2Seq(tiny_config(joint_set="canonical24")).generate(torch.randn(5, 438))
    assert canonical.shape == (1, 5, 72)


# -- a real (tiny) training run --------------------------------------------------------------

def test_training_loss_falls():
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(d_model=32, d_inner=64, decoder_hidden=64, dropout=0.1))
    # synthetic songs: the dance is a fixed smooth function of the music
    features = torch.randn(8, 20, 438)
    mixing = torch.randn(438, 50) / math.sqrt(438)
    targets = torch.tanh(features @ mixing)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        mask = condition_mask("linear", step, 20, condition_step=5, lam=0.1)
        loss = torch.nn.functional.l1_loss(model(features, targets, mask), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(x) for x in losses)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
