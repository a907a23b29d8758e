"""The default model's quality figures (issue 8, item 4): known answers on synthetic dancers,
pass/fail where a figure must fail, and `dancerev recipe evaluate` end to end on a tiny
untrained checkpoint and a quick recipe data build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dancerev_core.body_frame import fastest_joint_speeds
from dancerev_core.cli import main
from dancerev_core.evaluation import quality as q
from dancerev_core.evaluation.suite import Dance
from dancerev_core.motion import Motion
from dancerev_core.recipe.evaluate import Material, compute_figures, song_key
from dancerev_core.skeletons import CANONICAL_24
from tests.core.test_pairing import sources  # noqa: F401  (fixture: a small shared subset)

FPS = 15.0
# A standing body in canonical24 order (metres, Z up, facing -Y, left at +X); the lowest foot
# joints stand FOOT_JOINT_HEIGHT (5 cm) above the floor, as the recipe puts real dancers.
REST = np.array([
    [0, 0, .95], [.09, 0, .88], [-.09, 0, .88], [0, 0, 1.05], [.09, 0, .5], [-.09, 0, .5],
    [0, 0, 1.17], [.09, 0, .1], [-.09, 0, .1], [0, 0, 1.25], [.09, -.12, .05],
    [-.09, -.12, .05], [0, 0, 1.45], [.07, 0, 1.4], [-.07, 0, 1.4], [0, 0, 1.6],
    [.18, 0, 1.42], [-.18, 0, 1.42], [.45, 0, 1.42], [-.45, 0, 1.42], [.7, 0, 1.42],
    [-.7, 0, 1.42], [.78, 0, 1.42], [-.78, 0, 1.42]])
J = {name: i for i, name in enumerate(CANONICAL_24.joint_names)}


def dancer(seconds: float, phase: float = 0.0, tempo: float = 1.0) -> np.ndarray:
    """A rigid body that sways and turns: joints move, bones and feet height never change."""
    t = np.arange(int(round(seconds * FPS)))[:, None] / FPS
    angle = 0.5 * np.sin(2 * np.pi * tempo * t / 2 + phase)
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = REST[None, :, 0], REST[None, :, 1]
    positions = np.stack([cos * x - sin * y, sin * x + cos * y,
                          np.broadcast_to(REST[None, :, 2], (len(t), 24))], axis=-1)
    positions[..., 0] += 0.1 * np.sin(2 * np.pi * tempo * t + phase)
    return positions


def frozen_after(positions: np.ndarray, seconds: float) -> np.ndarray:
    held = positions.copy()
    held[int(seconds * FPS):] = held[int(seconds * FPS)]
    return held


def sinking(positions: np.ndarray, depth: float) -> np.ndarray:
    """The whole body slides down `depth` metres over the dance."""
    sunk = positions.copy()
    sunk[..., 2] -= np.linspace(0.0, depth, len(sunk))[:, None]
    return sunk


def stretching(positions: np.ndarray, joint: str, growth: float) -> np.ndarray:
    """The bone ending at `joint` grows by `growth` (a share) over the dance; its children
    move with it."""
    out = positions.copy()
    index = J[joint]
    parent = CANONICAL_24.parents[index]
    bone = positions[:, index] - positions[:, parent]
    shift = bone * np.linspace(0.0, growth, len(out))[:, None]
    moved = [index] + [j for j in range(24) if _descends(j, index)]
    out[:, moved] += shift[:, None]
    return out


def _descends(joint: int, ancestor: int) -> bool:
    parent = CANONICAL_24.parents[joint]
    while parent >= 0:
        if parent == ancestor:
            return True
        parent = CANONICAL_24.parents[parent]
    return False


# ---------------------------------------------------------------------- no freezing
def test_energy_ratio_known_answers():
    steady = dancer(60)
    assert q.energy_ratio(steady, FPS, 10) == pytest.approx(1.0, abs=0.05)
    assert q.energy_ratio(frozen_after(steady, 20), FPS, 10) == 0.0 < q.ENERGY_GOAL
    # a walk at 1 m/s that doubles its pace: every joint's speed doubles, so does the ratio
    t = np.arange(900) / FPS
    walk = REST[None] + np.stack([np.where(t < 30, t, 30 + 2 * (t - 30)), 0 * t, 0 * t],
                                 axis=-1)[:, None]
    assert q.mean_joint_speed(walk, FPS)[:10] == pytest.approx(1.0)
    assert q.energy_ratio(walk, FPS, 10) == pytest.approx(2.0)
    assert q.energy_curve(walk, FPS).shape == (59,)  # 899 steps, 15 a bin, tail dropped


def test_segment_length_and_curve_rise():
    assert q.segment_seconds_for(60) == 10 and q.segment_seconds_for(6) == 2
    assert [len(s) for s in q.segments(dancer(25), FPS, 10)] == [150, 150]
    assert q.curve_rise([2.0, 2.5, 3.0]) == pytest.approx(1.5)
    assert q.curve_rise([4.0, 2.0, 1.0]) == pytest.approx(0.5)
    assert q.curve_rise([None, 2.0]) is None and q.curve_rise([3.0]) is None


def test_long_term_fid_rises_when_the_dance_freezes():
    rng = np.random.default_rng(0)
    real = [dancer(10, phase=p, tempo=f) for p, f in zip(rng.uniform(0, 6, 60),
                                                         rng.uniform(0.7, 1.4, 60), strict=True)]
    reference = q.segment_features(real, FPS)
    dances = [frozen_after(dancer(40, phase=p, tempo=f), 20)
              for p, f in zip(rng.uniform(0, 6, 12), rng.uniform(0.7, 1.4, 12), strict=True)]
    pieces = [q.segments(d, FPS, 10) for d in dances]
    curve = q.long_term_fid(reference, [q.segment_features([p[k] for p in pieces], FPS)
                                        for k in range(4)])
    assert curve[0] < 20 and curve[1] < 20  # dancing like the real ones
    assert min(curve[2:]) > 10 * max(curve[:2])  # frozen
    assert q.curve_rise(curve) > q.FLAT_GOAL
    level = q.real_fid_level(reference, q.segment_features(real[:30], FPS), 12)
    assert level is not None and level < 20
    assert q.long_term_fid(reference[:1], [reference]) == [None]


# ---------------------------------------------------------------------- variety
def test_pair_distances_known_answer():
    features = np.array([[0.0], [1.0], [10.0], [11.0]])
    between, within = q.pair_distances(features, ["a", "a", "b", "b"])
    assert within == pytest.approx(1.0)  # |0-1|, |10-11|
    assert between == pytest.approx((10 + 11 + 9 + 10) / 4)
    assert q.pair_distances(features, ["a"] * 4, ["x", "y", "z", "w"]) == (None, None)


def test_dance_features_tell_songs_apart_and_pose_distance():
    reference = [dancer(10, phase=p) for p in np.linspace(0, 6, 20)]
    slow, fast = dancer(12, tempo=0.6), dancer(12, tempo=1.6)
    features = q.dance_features([slow, slow, fast, fast], FPS, reference)
    assert features.shape == (4, 72 + 32)
    between, within = q.pair_distances(features, ["slow", "slow", "fast", "fast"])
    assert within == pytest.approx(0.0) and between > 0.1
    moved = slow + np.array([1.0, 2.0, 0.0])  # same dance elsewhere: same poses
    assert q.pose_distance(slow, moved) == pytest.approx(0.0, abs=1e-9)
    one_joint = slow.copy()
    one_joint[:, J["head"], 2] += 0.24
    assert q.pose_distance(slow, one_joint) == pytest.approx(0.01)


# ---------------------------------------------------------------------- physically plausible
def test_floor_known_answers():
    assert q.foot_penetration(dancer(10)).max() == pytest.approx(0.0, abs=1e-9)
    sunk = q.foot_penetration(sinking(dancer(10), 0.05))
    assert sunk.max() == pytest.approx(0.05)
    assert sunk.max() > q.FOOT_GOAL
    assert sunk[0] == 0.0


def test_bone_lengths_known_answers():
    steady = dancer(20)
    cv, deviation = q.bone_variation(steady)
    assert cv.max() < 1e-9 and deviation.max() < 1e-9
    assert q.bone_drift(steady, FPS, 5).max() < 1e-9
    stretched = stretching(steady, "left_wrist", 0.3)  # forearm: 27 -> 35 cm
    cv, deviation = q.bone_variation(stretched)
    forearm = q.BONE_NAMES.index("left_elbow-left_wrist")
    assert q.BONE_NAMES[forearm] and cv.argmax() == forearm
    assert cv[forearm] > q.BONE_CV_GOAL  # 0.3 / sqrt(12) / 1.15 = 0.075
    assert deviation[forearm] == pytest.approx(0.15 / 1.15, rel=0.01)
    drift = q.bone_drift(stretched, FPS, 5)
    assert drift.argmax() == forearm and drift[forearm] > q.BONE_DRIFT_GOAL
    others = np.delete(cv, forearm)
    assert others.max() < 1e-9  # the hand moves with the wrist, its bone keeps its length


def test_frame_jumps_known_answer():
    steady = dancer(10)
    glitch = steady.copy()
    glitch[40, J["right_hand"]] += [0.0, 0.0, 1.0]  # one frame, one joint, 1 m away
    assert q.max_joint_speed(glitch, FPS) == pytest.approx(FPS * 1.0, rel=0.01)
    assert q.max_joint_speed(steady, FPS) < 2.0
    assert fastest_joint_speeds(glitch, FPS).argmax() in (39, 40)


# ---------------------------------------------------------------------- the figures together
def as_dance(name: str, positions: np.ndarray, music: str, beats: np.ndarray) -> Dance:
    motion = Motion(positions=positions.astype(np.float32), fps=FPS, skeleton="canonical24",
                    joint_names=CANONICAL_24.joint_names)
    return Dance(name, motion, "salsa", music, beats[beats <= motion.duration])


def material(long_dance=lambda positions: positions) -> Material:
    beats = np.arange(0.0, 61.0, 0.5)
    real_test = [as_dance(f"real{k}", dancer(12, phase=k), f"song{k}", beats) for k in range(3)]
    generated, inputs = [], []
    for k in range(3):
        for v in range(2):
            moves = dancer(12, phase=k + 0.3 * v, tempo=0.8 + k / 10)
            generated.append(as_dance(f"gen{k}#{v}", moves, f"song{k}", beats))
            inputs.append(f"real{k}")
    long = [as_dance(f"long{k}", long_dance(dancer(60, phase=k)), f"long{k}", beats)
            for k in range(4)]
    train = [dancer(30, phase=p, tempo=f) for p, f in zip(np.linspace(0, 6, 8),
                                                           np.linspace(0.7, 1.4, 8), strict=True)]
    return Material(FPS, real_test, train, generated, inputs, long)


def verdicts(rows):
    return {row["key"]: row["passed"] for row in rows}


def test_figures_pass_a_steady_dance_and_fail_a_frozen_or_sinking_one():
    rows, curves = compute_figures(material())
    passed = verdicts(rows)
    assert passed["energy_ratio"] and passed["fid_k_rise"] and passed["foot_penetration"]
    assert passed["bone_cv"] and passed["bone_drift"] and passed["max_joint_speed"]
    assert len(curves["fid_k"]) == 6 and curves["segment_seconds"] == 10
    assert all(row["how"] for row in rows)
    assert {row["group"] for row in rows} == {"no freezing", "on the beat", "variety",
                                              "physically plausible"}

    frozen = verdicts(compute_figures(material(lambda p: frozen_after(p, 20)))[0])
    assert frozen["energy_ratio"] is False and frozen["fid_k_rise"] is False
    sunk = verdicts(compute_figures(material(lambda p: sinking(p, 0.05)))[0])
    assert sunk["foot_penetration"] is False and sunk["energy_ratio"]
    stretched = verdicts(compute_figures(material(lambda p: stretching(p, "left_knee", 0.3)))[0])
    assert stretched["bone_cv"] is False and stretched["bone_drift"] is False


def test_song_key_names_songs():
    assert song_key({"song": {"kind": "real", "id": "x.hq"}}, "f") == "real:x.hq"
    assert song_key({"song": {"kind": "synth", "seed": 3, "style": "funk"}}, "f") == "synth:3:funk"
    assert song_key(None, "clip.flac") == "clip.flac"


# ---------------------------------------------------------------------- the command
@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))


def tiny_checkpoint(path, seed: int = 0):
    import torch

    from dancerev_core.model import ModelConfig, Seq2Seq, save_checkpoint

    torch.manual_seed(seed)
    return save_checkpoint(path, Seq2Seq(ModelConfig(
        joint_set="canonical24", d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32,
        window=4, decoder_hidden=32)))


def test_recipe_evaluate_end_to_end_on_a_tiny_model(sources, tmp_path, capsys):  # noqa: F811
    mocap, music = sources
    data, report = tmp_path / "data", tmp_path / "report"
    assert main(["recipe", "data", str(data), "--mocap", str(mocap), "--music", str(music),
                 "--quick"]) == 0
    checkpoint = tiny_checkpoint(tmp_path / "tiny")
    capsys.readouterr()
    music_before = sorted(p.name for p in music.iterdir())
    assert main(["recipe", "evaluate", str(checkpoint), "--data", str(data), "-o", str(report),
                 "--seconds", "4.5", "--num", "2", "--music", str(music)]) == 0
    out = capsys.readouterr().out
    assert "passed" in out and "energy" in out and "quality.md" in out

    result = json.loads((report / "quality.json").read_text())
    keys = {row["key"] for row in result["figures"]}
    assert {"energy_ratio", "fid_k_rise", "beat_hit_rate", "songs_differ", "variations_differ",
            "foot_penetration", "bone_cv", "bone_deviation", "bone_drift",
            "max_joint_speed"} <= keys
    for row in result["figures"]:
        assert row["passed"] in (True, False, None) and row["how"]
        if row["goal"] is not None and row["value"] is not None:
            assert isinstance(row["passed"], bool)
    assert result["settings"]["segment_seconds"] == pytest.approx(1.5, abs=0.02)  # 68 frames
    assert result["dances"]["long"] == 2 * len(result["long_songs"])
    kinds = {song["kind"] for song in result["long_songs"]}
    assert kinds == {"real", "synth"}  # the held-out real song and the held-out seed
    assert sorted(p.name for p in (report / "songs").iterdir()) == sorted(
        song["file"] for song in result["long_songs"])
    assert sorted(p.name for p in music.iterdir()) == music_before  # read only
    assert result["passed"] + result["failed"] == sum(
        row["passed"] is not None for row in result["figures"])
    markdown = (report / "quality.md").read_text()
    assert "| quality | figure | model | real data | goal | result |" in markdown
    for name in ("quality_energy.png", "quality_fid.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # `recipe choose` on a folder of two checkpoints, scored without the test split
    candidates = tmp_path / "candidates"
    tiny_checkpoint(candidates / "a")
    tiny_checkpoint(candidates / "b", seed=1)
    (candidates / "notes.json").write_text('{"not": "a checkpoint"}')
    capsys.readouterr()
    assert main(["recipe", "choose", str(candidates), "--data", str(data), "--num", "1",
                 "--every", "3", "-o", str(tmp_path / "choice.json")]) == 0
    out = capsys.readouterr().out
    assert "chosen:" in out and "training spans" in out
    choice = json.loads((tmp_path / "choice.json").read_text())
    assert [Path(row["checkpoint"]).name for row in choice["scores"]] == ["a.json", "b.json"]
    for row in choice["scores"]:
        assert row["eligible"] == (row["why_not"] == "") and row["fid_train"] >= 0
        assert 0 <= row["train_hit_rate"] <= 1 and row["fastest"] > 0
    eligible = [row for row in choice["scores"] if row["eligible"]]
    assert choice["chosen"] == (min(eligible, key=lambda row: row["fid_train"])["checkpoint"]
                                if eligible else None)


def test_recipe_evaluate_refuses_bad_settings(tmp_path, capsys):
    assert main(["recipe", "evaluate", str(tmp_path / "none.json"), "--data", str(tmp_path),
                 "-o", str(tmp_path / "r"), "--num", "0"]) == 2
    assert "--num" in capsys.readouterr().err


def test_the_choice_rule_takes_the_lowest_fid_among_the_eligible():
    from dancerev_core.recipe.choose import CheckpointScore, choose

    def score(name, fid, why_not=""):
        return CheckpointScore(name, 1, 1.0, 0.9, 0.9, 0.5, fid, 9.0, not why_not, why_not)

    scores = [score("freezes", 10.0, "freezes"), score("ok", 80.0), score("better", 60.0)]
    assert choose(scores).checkpoint == "better"
    assert choose(scores[:1]) is None


def test_recipe_train_from_shipped_goes_on_with_snapshots(sources, tmp_path, capsys):  # noqa: F811
    """A new machine with only the repository continues the shipped model, keeping the
    recipe's snapshots for `recipe choose`."""
    from dancerev_core.model.checkpoint import load_checkpoint
    from dancerev_core.recipe.shipped import DEFAULT_MODEL
    from dancerev_core.training import load_run

    mocap, music = sources
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["recipe", "data", str(data), "--mocap", str(mocap), "--music", str(music),
                 "--quick"]) == 0
    shipped = load_checkpoint(DEFAULT_MODEL).training["epoch"]
    target = (shipped // 10 + 1) * 10  # the next snapshot epoch
    assert main(["recipe", "train", str(data), "-o", str(run), "--from-shipped",
                 "--epochs", str(target)]) == 0
    assert load_run(run).training["epoch"] == target
    snapshot = load_checkpoint(run / "snapshots" / f"e{target:04d}.json")
    assert snapshot.training["epoch"] == target
