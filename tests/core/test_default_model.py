"""The shipped default model: it loads, keeps dancing through a song and, as delivered (with
beat sync), dances on the beat, far more so than with the model's own timing. (The issue's
goal, the hit rate of the warped training motion, is measured on held-out songs by `dancerev
recipe evaluate`; see MODEL_CARD.md.)

The song is DanceRev's own synthesised groove, so these tests need no third-party file.
"""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.evaluation.beats import beat_scores, kinematic_beats
from dancerev_core.evaluation.quality import energy_ratio, foot_penetration
from dancerev_core.generation.pipeline import generate_dance
from dancerev_core.model.checkpoint import checkpoint_json, load_checkpoint
from dancerev_core.music.analysis import analyse_song
from dancerev_core.recipe.shipped import DEFAULT_MODEL
from dancerev_core.recipe.synth import write_demo_track

SECONDS = 20.0
ON_BEAT = 0.8  # mean hit rate as delivered over seeds 0-2 (12 dances); the held-out goal is
# 0.85 (MODEL_CARD.md). Measured per seed (4 dances), seeds 0-4 at 1 and 2 threads: 0.82-0.94,
# spread 0.04; the 3-seed mean 0.87-0.88, so 0.8 is about 3 of its spreads below


@pytest.fixture(scope="module")
def checkpoint():
    return load_checkpoint(DEFAULT_MODEL, expect_joint_set="canonical24")


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    path = tmp_path_factory.mktemp("song") / "groove.wav"
    write_demo_track(path, seconds=SECONDS)
    return analyse_song(path, fps=15.0, use_cache=False)


@pytest.fixture(scope="module")
def dances(checkpoint, music):
    return generate_dance(music, checkpoint, seconds=SECONDS, seed=0, num=4)


def test_the_default_model_is_shipped_small_and_loads(checkpoint):
    json_path = checkpoint_json(DEFAULT_MODEL)
    weights = json_path.parent / checkpoint.path.name
    size = sum(path.stat().st_size for path in json_path.parent.glob(f"{json_path.stem}.*"))
    assert size <= 50e6 and json_path.is_file() and weights.exists()
    config = checkpoint.config
    assert config.joint_set == "canonical24" and config.fps == 15.0
    assert checkpoint.training["epoch"] > 0 and "recipe_data" in checkpoint.training


def test_it_dances_the_whole_song_plausibly_and_variations_differ(dances, music):
    first, second = dances[:2]
    assert first.num_frames == int(SECONDS * 15) and first.skeleton == "canonical24"
    assert first.meta["beat_times"] and np.isfinite(first.positions).all()
    assert foot_penetration(first.positions).max() <= 0.02 + 1e-6
    difference = np.linalg.norm(first.positions - second.positions, axis=-1).mean()
    assert difference > 0.01  # metres per joint: two different dances


def test_same_seed_same_dance(checkpoint, music, dances):
    again = generate_dance(music, checkpoint, seconds=SECONDS, seed=0, num=4)
    np.testing.assert_array_equal(again[0].positions, dances[0].positions)


def chance_hit_rate(beat_times: np.ndarray, tolerance: float, length: float) -> float:
    """The hit rate of beats placed at random: the share of time within a beat's tolerance."""
    covered = np.zeros(int(length * 1000))
    for beat in beat_times:
        covered[max(0, int((beat - tolerance) * 1000)):int((beat + tolerance) * 1000) + 1] = 1
    return float(covered.mean())


def test_it_does_not_freeze(dances):
    """The issue's rule on a short song: the last seconds keep at least half the energy of the
    first (5 s windows of a 20 s dance; the median of the four variations)."""
    ratios = [energy_ratio(dance.positions, dance.fps, window_seconds=5.0) for dance in dances]
    assert np.median(ratios) >= 0.5, ratios


def mean_hit_rate(dances) -> tuple[float, float]:
    """(mean hit rate of the dances, the hit rate random timing would score)."""
    beats = np.asarray(dances[0].meta["beat_times"])
    scores = [beat_scores(kinematic_beats(dance.positions, dance.fps) / dance.fps, beats)
              for dance in dances]
    chance = chance_hit_rate(beats, scores[0].tolerance, SECONDS)
    return float(np.mean([score.hit_rate for score in scores])), chance


def test_it_dances_on_the_beat(checkpoint, music, dances):
    """As delivered (beat sync on, the default): near the issue's goal and far above chance."""
    more = [dance for seed in (1, 2)
            for dance in generate_dance(music, checkpoint, seconds=SECONDS, seed=seed, num=4)]
    hit_rate, chance = mean_hit_rate([*dances, *more])
    assert hit_rate >= ON_BEAT, (hit_rate, chance)
    assert all(dance.meta["beat_sync"]["on_beat_after"] > dance.meta["beat_sync"]["on_beat_before"]
               for dance in dances)
    assert chance < 0.5  # (random timing on this song scores about 0.35)


def test_beat_sync_puts_more_accents_on_the_beat_than_the_models_own_timing(checkpoint, music,
                                                                            dances):
    raw = generate_dance(music, checkpoint, seconds=SECONDS, seed=0, num=4, beat_sync=False)
    assert "beat_sync" not in raw[0].meta
    own, _ = mean_hit_rate(raw)
    synced, _ = mean_hit_rate(dances)
    assert synced >= own + 0.3, (own, synced)


def test_re_aiming_at_narrowly_missed_beats_never_puts_fewer_accents_on_them(checkpoint, music,
                                                                           monkeypatch):
    """beat_sync's check-and-re-aim passes keep the best of their searches, the first being
    the single search: so, dance by dance, never a lower share of accents on the beat. (What
    the design guarantees; how much more it gains is a tuned figure that moves with the
    thread count and the CPU's int8 rounding: seed 0, 2 threads: 0.809 -> 0.816 on the
    delivered dances; 1 thread: 0.817 -> 0.843.)"""
    import dancerev_core.generation.beat_sync as beat_sync
    from dancerev_core.generation.pipeline import decode_dances
    from dancerev_core.generation.plausible import plausible_positions

    decoded = decode_dances(music, checkpoint, seconds=SECONDS, seed=0, num=4)
    beats = np.asarray(decoded[0].meta["beat_times"])
    shares = {}
    for passes in (1, beat_sync.REFINE_PASSES):
        monkeypatch.setattr(beat_sync, "REFINE_PASSES", passes)
        shares[passes] = []
        for dance in decoded:
            positions = plausible_positions(dance.positions, dance.fps)
            _, report = beat_sync.sync_to_beats(positions, dance.fps, beats)
            shares[passes].append(report.on_beat_after / max(report.kinematic_beats_after, 1))
    assert all(refined >= single for single, refined in zip(*shares.values(), strict=True)), shares
