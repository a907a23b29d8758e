"""The free-running health figures on real motion: alive, frozen, on the beat or not."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.evaluation.health import (
    FROZEN_SPEED,
    Health,
    dance_health,
    joint_speed,
    pooled_hit_rate,
)
from dancerev_core.formats.reading import read_motion
from tests.conftest import shared_data

FPS = 15.0


@pytest.fixture(scope="module")
def real():
    """Two real CMU dances (subject 5), canonical joints at 15 fps."""
    return [read_motion(shared_data("mocap", "cmu", "05", f"005_{n}.bvh"), joints="canonical")
            .resample(FPS).positions for n in ("02", "04")]


def test_real_dances_against_themselves(real):
    health = dance_health(real, [np.zeros(0)] * 2, real, FPS)
    assert health.speed_vs_real == pytest.approx(1)
    assert health.acceleration_vs_real == pytest.approx(1)
    windows = [joint_speed(r, FPS)[:150].mean() for r in real]  # each is one 10-s window or less
    assert health.frozen_share == np.mean([w < FROZEN_SPEED for w in windows])
    assert not health.freezes or health.frozen_share > 0.25


def test_a_held_pose_is_frozen_and_warned_about(real):
    held = [np.repeat(r[:1], len(r), axis=0) for r in real]
    health = dance_health(held, [np.zeros(0)] * 2, real, FPS)
    assert health.speed_vs_real == 0 and health.frozen_share == 1 and health.freezes
    assert health.warning().startswith("warning: free-running dances freeze: 100% of 10-s")
    assert health.hit_rate == 0  # a statue has no kinematic beats


def test_the_hit_rate_pools_kinematic_beats_and_the_control_takes_the_next_songs_beats(real):
    from dancerev_core.evaluation.beats import kinematic_beats

    own = [kinematic_beats(r, FPS) / FPS for r in real]  # beats exactly at the accents
    assert pooled_hit_rate(real, own, FPS) == 1.0
    health = dance_health(real, own, real, FPS)
    assert health.hit_rate == 1.0 and health.shuffled_hit_rate < 1.0
    assert health.shuffled_hit_rate == pooled_hit_rate(real, own[::-1], FPS)


def test_figures_round_for_the_history():
    health = Health(0.123456, 1.0, 0.0, 1.0, None, 0.5, 0.25, 3)
    assert health.as_dict()["speed_vs_real"] == 0.1235 and health.as_dict()["fid_k"] is None


def test_recipe_choose_finds_the_runs_health_figures_for_a_snapshot(tmp_path):
    import json

    from dancerev_core.recipe.choose import run_health

    frozen = Health(0.1, 0.2, 1.0, 1.0, None, 0.0, 0.0, 2).as_dict()
    lines = [{"epoch": 10, "health": frozen}, {"epoch": 11, "health": None}]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    (tmp_path / "snapshots").mkdir()
    assert run_health(tmp_path / "snapshots" / "e0010.json", 10) == frozen
    assert run_health(tmp_path / "last.json", 10) == frozen
    assert run_health(tmp_path / "last.json", 11) is None  # not measured that epoch
    assert run_health(tmp_path / "elsewhere" / "x.json", 10) is None  # no run history
    assert Health.from_dict(frozen).freezes


def test_the_control_skips_variations_made_for_the_same_song():
    from dancerev_core.evaluation.health import other_songs_beats

    a, b = np.array([0.5, 1.0]), np.array([0.7])
    assert [x.tolist() for x in other_songs_beats([a, a, b, b])] == [[0.7], [0.7], [0.5, 1.0],
                                                                    [0.5, 1.0]]
    assert other_songs_beats([a, a])[0] is a  # one song only: its own beats
