"""Dynamic auto-conditioning: the schedules and the exact ground-truth/self-fed mask patterns."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError
from dancerev_core.model.curriculum import MAX_RUN, condition_mask, self_fed_length


def pattern(text: str) -> np.ndarray:
    """'S' = self-fed step (False), 'G' = ground-truth step (True); spaces ignored."""
    return np.array([c == "G" for c in text.replace(" ", "")], dtype=bool)


@pytest.mark.parametrize(("schedule", "epoch", "seq_len", "step", "lam", "expected"), [
    # teacher forcing: every input is ground truth, whatever the epoch
    ("teacher_forcing", 5000, 12, 10, 0.01, "GGGGGGGGGGGG"),
    # linear, released lambda: p = 0 before epoch 100, so teacher forcing
    ("linear", 1, 12, 10, 0.01, "GGGGGGGGGGGG"),
    ("linear", 99, 12, 10, 0.01, "GGGGGGGGGGGG"),
    # p = 1 at epoch 100: one self-fed step, then ten ground-truth steps, repeated
    ("linear", 100, 25, 10, 0.01, "S GGGGGGGGGG S GGGGGGGGGG S GG"),
    ("linear", 250, 30, 10, 0.01, "SS GGGGGGGGGG SS GGGGGGGGGG SS GGGG"),
    ("linear", 5500, 20, 10, 0.01, "SSSSSSSSSSSSSSSSSSSS"),  # p = 55 >= seq_len
    # const: self-fed runs as long as the ground-truth runs (acLSTM)
    ("const", 7, 25, 10, 0.01, "SSSSSSSSSS GGGGGGGGGG SSSSS"),
    ("const", 0, 9, 3, 0.01, "SSS GGG SSS"),
    # quadratic: floor(0.01 * 20^2) = 4
    ("quadratic", 20, 20, 10, 0.01, "SSSS GGGGGGGGGG SSSS GG"),
    # exponential: floor(0.01 e^5) = 1, floor(0.01 e^6) = 4
    ("exponential", 5, 13, 10, 0.01, "S GGGGGGGGGG S G"),
    ("exponential", 6, 16, 10, 0.01, "SSSS GGGGGGGGGG SS"),
    # another condition step and lambda
    ("linear", 4, 12, 3, 0.5, "SS GGG SS GGG SS"),
])
def test_exact_mask_patterns(schedule, epoch, seq_len, step, lam, expected):
    mask = condition_mask(schedule, epoch, seq_len, condition_step=step, lam=lam)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, pattern(expected))


def test_schedule_values_are_exact_floors():
    assert self_fed_length("linear", 410, 0.01) == 4
    assert self_fed_length("quadratic", 410, 0.01) == 1681  # float gives 1680
    assert self_fed_length("quadratic", 0, 0.01) == 0
    assert self_fed_length("exponential", 0, 0.01) == 0
    assert self_fed_length("exponential", 10, 0.01) == 220
    assert self_fed_length("exponential", 100_000, 0.01) == MAX_RUN  # no overflow
    assert self_fed_length("const", 3, 0.01, condition_step=7) == 7
    assert self_fed_length("linear", 10**6, 0.0) == 0


def test_empty_and_degenerate_masks():
    assert condition_mask("linear", 300, 0).shape == (0,)
    assert not condition_mask("exponential", 10**6, 50).any()


@pytest.mark.parametrize(("args", "message"), [
    (("cosine", 1), "unknown curriculum schedule"),
    (("linear", -1), "epoch must be an integer"),
    (("linear", 1.5), "epoch must be an integer"),
])
def test_bad_schedule_arguments(args, message):
    with pytest.raises(DanceRevError, match=message):
        self_fed_length(*args)
    with pytest.raises(DanceRevError):
        self_fed_length("linear", 1, lam=-0.1)


def test_the_pace_can_count_windows_seen_instead_of_epochs():
    from dancerev_core.model.curriculum import curriculum_epoch

    assert [curriculum_epoch(t, 118) for t in (1, 2, 50)] == [1, 2, 50]  # the paper's epochs
    # curriculum epochs of 337 windows (the recipe data's size): a dataset of 118 windows
    # reaches the same stage after the same number of windows seen, whatever its size
    assert curriculum_epoch(337, 118, 337) == 118 == curriculum_epoch(118, 337, 337)
    assert curriculum_epoch(2, 118, 337) == 0  # 236 windows: not yet one curriculum epoch


def test_a_period_can_open_with_its_ground_truth_run():
    first = condition_mask("linear", 30, 16, condition_step=5, lam=0.1)  # p = 3
    later = condition_mask("linear", 30, 16, condition_step=5, lam=0.1, self_fed_first=False)
    assert first.astype(int).tolist() == [0, 0, 0, 1, 1, 1, 1, 1] * 2
    assert later.astype(int).tolist() == [1, 1, 1, 1, 1, 0, 0, 0] * 2
