"""The run-by-run training pass equals the per-frame one: outputs, gradients, random draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dancerev_core.model import ModelConfig, Seq2Seq, condition_mask
from dancerev_core.model.network import decoder_runs

MASKS = {
    "teacher forcing": None,
    "curriculum p=2": condition_mask("linear", 2, 13, condition_step=3, lam=1.0),
    "self-fed start and end": np.array([0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0], dtype=bool),
    "all self-fed": np.zeros(13, dtype=bool),
}


def small_model(dropout: float = 0.0, joint_set: str = "body25",
                reads_music: bool = False) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(ModelConfig(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=6, d_inner=32,
                               window=3, decoder_hidden=24, dropout=dropout,
                               joint_set=joint_set, decoder_reads_music=reads_music))


def batch(model: Seq2Seq, dtype: torch.dtype = torch.float64, frames: int = 13):
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(3, frames, 438, generator=generator, dtype=dtype)
    targets = torch.randn(3, frames, model.config.pose_size, generator=generator, dtype=dtype)
    return features, targets.requires_grad_()


def pass_and_grads(run, model, features, targets, mask, seed=5):
    """Predictions, parameter + target gradients and the RNG state after one pass."""
    model.zero_grad()
    targets.grad = None
    torch.manual_seed(123)
    predicted = run(features, targets, mask, generator=torch.Generator().manual_seed(seed))
    (predicted.abs().sum() + (predicted ** 2).sum()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    grads["targets"] = (torch.zeros_like(targets) if targets.grad is None  # all self-fed
                        else targets.grad.clone())
    return predicted.detach(), grads, torch.get_rng_state()


def test_decoder_runs_group_known_inputs_and_split_self_fed_steps():
    assert decoder_runs([True] * 5) == [(0, 5)]
    assert decoder_runs([False] * 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert decoder_runs([False, False, True, True, False, True]) == [
        (0, 1), (1, 2), (2, 4), (4, 5), (5, 6)]
    assert decoder_runs([True, True, False, True]) == [(0, 2), (2, 3), (3, 4)]
    assert decoder_runs([False]) == [(0, 1)]


@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("reads_music", [False, True], ids=["paper", "decoder reads music"])
def test_run_by_run_pass_equals_per_frame_pass_in_float64(mask_name, dropout, reads_music):
    model = small_model(dropout, reads_music=reads_music).double().train()
    features, targets = batch(model)
    mask = MASKS[mask_name]
    fast, fast_grads, fast_rng = pass_and_grads(model, model, features, targets, mask)
    slow, slow_grads, slow_rng = pass_and_grads(model.forward_per_frame, model, features,
                                                targets, mask)
    # the same random draws (dropout masks, global RNG left in the same state) ...
    assert torch.equal(fast_rng, slow_rng)
    # ... and the same numbers up to float64 rounding, forward and backward
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    assert fast_grads.keys() == slow_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], slow_grads[name], rtol=1e-10, atol=1e-12,
                                   msg=name)


@pytest.mark.parametrize("mask_name", ["teacher forcing", "curriculum p=2"])
def test_run_by_run_pass_equals_per_frame_pass_in_float32(mask_name):
    model = small_model(0.1, joint_set="canonical24").train()
    features, targets = batch(model, torch.float32, frames=40)
    mask = MASKS[mask_name] if MASKS[mask_name] is None else np.resize(MASKS[mask_name], 40)
    fast, fast_grads, _ = pass_and_grads(model, model, features, targets, mask)
    slow, slow_grads, _ = pass_and_grads(model.forward_per_frame, model, features, targets, mask)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], slow_grads[name], rtol=1e-4, atol=1e-4,
                                   msg=name)


def test_eval_mode_and_default_generator_match_too():
    model = small_model(0.2).double().eval()
    features, targets = batch(model)
    mask = MASKS["curriculum p=2"]
    torch.manual_seed(9)
    fast = model(features, targets, mask)
    torch.manual_seed(9)
    slow = model.forward_per_frame(features, targets, mask)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)


def test_bf16_autocast_stays_close_to_fp32_and_keeps_the_output_in_fp32():
    model = small_model(0.0).train()
    features, targets = batch(model, torch.float32, frames=30)
    mask = np.resize(MASKS["curriculum p=2"], 30)
    reference = model(features, targets, mask, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(features, targets, mask, generator=torch.Generator().manual_seed(2))
    assert mixed.dtype == torch.float32  # the output layer is not rounded to bf16
    deviation = (mixed - reference).abs().max().item()
    assert deviation < 0.05 * reference.abs().max().item(), deviation
    mixed.abs().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_decoder_hooks_see_one_call_per_frame():
    model = small_model()
    calls = []
    model.decoder.register_forward_pre_hook(lambda module, args: calls.append(args[0]))
    features, targets = batch(model, torch.float32)
    model(features, targets, MASKS["curriculum p=2"])
    assert len(calls) == 13
