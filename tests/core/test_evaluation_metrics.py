"""Every metric against a case whose answer is known, plus sanity on real dance motion."""

import numpy as np
import pytest

from dancerev_core.evaluation.beats import (
    DEFAULT_TOLERANCE,
    beat_align_kinematic_frames,
    beat_align_score,
    beat_scores,
    kinematic_beats,
    speed_curve,
)
from dancerev_core.evaluation.frechet import (
    fid,
    frechet_distance,
    mean_pairwise_distance,
    normalise_by,
)
from dancerev_core.evaluation.motion_features import (
    GEOMETRIC_RELATIONS,
    geometric_features,
    kinetic_features,
)
from dancerev_core.formats.reading import read_motion
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import shared_data

FPS = 30.0


def motion_with_stops(stop_times, duration=8.0, fps=FPS):
    """A body whose joints move with speed |sin| so that it nearly stops at `stop_times`."""
    t = np.arange(int(duration * fps) + 1) / fps
    speed = np.ones_like(t)
    for stop in stop_times:
        speed = np.minimum(speed, 0.05 + np.abs(t - stop) * 4.0)
    distance = np.cumsum(speed) / fps
    positions = np.zeros((t.size, 24, 3))
    positions[:, :, 0] = distance[:, None] + np.arange(24)[None, :] * 0.01
    return positions


def test_frozen_dance_has_no_kinematic_beats_and_coverage_zero():
    frozen = np.repeat(np.random.default_rng(0).normal(size=(1, 24, 3)), 300, axis=0)
    beats = kinematic_beats(frozen, FPS)
    assert beats.size == 0
    scores = beat_scores(beats / FPS, np.arange(1, 10) * 0.5)
    assert scores.coverage == 0.0 and scores.hit_rate == 0.0
    assert beat_align_score(np.arange(1, 10) * 15, beat_align_kinematic_frames(frozen, FPS)) == 0


def test_speed_minima_placed_on_the_beats_hit_every_time():
    musical = np.arange(1.0, 7.5, 0.5)  # 120 BPM
    positions = motion_with_stops(musical)
    beats = kinematic_beats(positions, FPS) / FPS
    scores = beat_scores(beats, musical)
    assert scores.hit_rate == 1.0 and scores.coverage == pytest.approx(1.0)
    assert scores.tolerance == DEFAULT_TOLERANCE
    align = beat_align_score(musical * FPS, beat_align_kinematic_frames(positions, FPS))
    assert align > 0.9


def test_minima_between_the_beats_miss():
    musical = np.arange(1.0, 7.5, 0.5)
    positions = motion_with_stops(musical + 0.25)  # exactly off-beat
    scores = beat_scores(kinematic_beats(positions, FPS) / FPS, musical)
    assert scores.hit_rate == 0.0 and scores.coverage > 0.8


def test_beats_do_not_depend_on_frame_rate():
    musical = np.arange(1.0, 7.5, 0.5)
    times = [kinematic_beats(motion_with_stops(musical, fps=fps), fps) / fps
             for fps in (15.0, 30.0, 60.0)]
    for other in times[1:]:
        assert len(other) == len(times[0])
        np.testing.assert_allclose(other, times[0], atol=1.5 / 15)


def test_frechet_distance_of_known_gaussians():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    sigma1, sigma2 = np.eye(3), 4.0 * np.eye(3)
    # ||mu||^2 = 9; trace terms 3 + 12 - 2 * trace(sqrt(4 I)) = 15 - 12 = 3
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(12.0)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    b = rng.normal(size=(20000, 3)) * 2.0 + mu2
    assert fid(a, b) == pytest.approx(12.0, rel=0.03)


def test_a_set_against_itself_has_fid_near_zero():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 8))
    assert fid(features, features) < 1e-6
    real, same = normalise_by(features, features.copy())
    assert fid(real, same) < 1e-6


def test_diversity_of_known_points():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs: four sides of length 1, two diagonals of sqrt(2)
    assert mean_pairwise_distance(square) == pytest.approx((4 + 2 * np.sqrt(2)) / 6)
    assert mean_pairwise_distance(square[:1]) == 0.0


def test_kinetic_features_of_uniform_motion():
    t = np.arange(61) / FPS
    positions = np.zeros((61, 24, 3))
    positions[:, :, 0] = 2.0 * t[:, None]  # 2 m/s horizontally
    positions[:, :, 2] = 0.5 * t[:, None]  # 0.5 m/s up
    features = kinetic_features(positions, FPS).reshape(24, 3)
    np.testing.assert_allclose(features[:, 0], 0.5 * 4.0)
    np.testing.assert_allclose(features[:, 1], 0.5 * 0.25)
    np.testing.assert_allclose(features[:, 2], 0.0, atol=1e-9)


@pytest.fixture(scope="module")
def real_dances():
    ballet = [shared_data("mocap", "cmu", "05", f"005_{n:02d}.bvh") for n in range(2, 14, 2)]
    salsa = [shared_data("mocap", "cmu", "61", f"61_{n:02d}_scaled.bvh") for n in range(1, 7)]
    paths = [path for pair in zip(ballet, salsa, strict=True) for path in pair]  # alternate
    return [read_motion(path, joints="canonical", fps=FPS).positions for path in paths]


def test_geometric_features_notice_a_permutation_of_joints(real_dances):
    assert len(GEOMETRIC_RELATIONS) == 32
    dance = real_dances[0]
    swapped = dance.copy()
    left_wrist, left_ankle = CANONICAL_24.index("left_wrist"), CANONICAL_24.index("left_ankle")
    swapped[:, [left_wrist, left_ankle]] = swapped[:, [left_ankle, left_wrist]]
    original, permuted = geometric_features(dance), geometric_features(swapped)
    assert np.abs(original - permuted).max() > 0.3
    assert ((original >= 0) & (original <= 1)).all()


def test_real_motion_looks_like_dancing_and_frozen_or_jitter_do_not(real_dances):
    rng = np.random.default_rng(2)
    frozen = [np.repeat(dance[:1], len(dance), axis=0) for dance in real_dances]
    jitter = [dance[:1] + rng.normal(scale=0.05, size=dance.shape) for dance in real_dances]
    rates = []
    for dance in real_dances:
        seconds = (len(dance) - 1) / FPS
        rates.append(kinematic_beats(dance, FPS).size / seconds)
        assert 0.2 < speed_curve(dance, FPS).mean() < 3.0  # metres per second
    assert 0.3 < np.median(rates) < 2.5  # kinematic beats per second, like a dancer's steps
    # Features of 2-second windows: enough samples for a Frechet distance between sets.
    def windows(dances):
        return [d[start:start + 60] for d in dances for start in range(0, len(d) - 60, 60)]

    for features in (lambda d: kinetic_features(d, FPS), geometric_features):
        real = np.stack([features(w) for w in windows(real_dances)])
        (real_z,) = normalise_by(real)
        between_halves = fid(real_z[0::2], real_z[1::2])
        for fake in (frozen, jitter):
            real_z, fake_z = normalise_by(real, np.stack([features(w) for w in windows(fake)]))
            assert fid(real_z, fake_z) > 5 * between_halves
    assert all(kinematic_beats(d, FPS).size == 0 for d in frozen)
