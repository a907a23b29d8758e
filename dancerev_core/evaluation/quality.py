"""The quality a user sees (issue 8, item 4), one plain function per figure.

Every function reads canonical24 joint positions (T x 24 x 3, metres, Z up, ABSOLUTE: the
root carries the dancer's travel and height) at `fps` frames per second. The recipe's
convention for the floor (`pairing.cleaning`): the floor is z = 0 and the foot joints'
centres stand FOOT_JOINT_HEIGHT above it when the foot is down, so a sole is that much below
its joint. The model writes the root's absolute position (its pose vector is root-relative
for the other joints only), so a generated dance's height above the floor is the model's
own: nothing re-grounds it before these figures.

Why these definitions:
- freezing shows as speed dying away: `energy_ratio` compares the mean joint speed of a
  dance's last window with its first; `long_term_fid` tracks how far each consecutive
  segment's kinetic (or geometric) features drift from real dance, and `curve_rise` says
  whether that curve stays flat;
- variety is distance in the motion feature space (`dance_features`: the 3D benchmark's
  kinetic and geometric features, z-scored with real dance), between dances made for
  different songs and between variations made for one song (`pair_distances`);
- plausibility is what breaks the illusion on a character: feet through the floor
  (`foot_penetration`), limbs that change length (`bone_variation`, `bone_drift`) and
  joints that teleport between frames (`max_joint_speed`).

The goals are the issue's where it gives a number; the others are this module's choice,
stated beside each constant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..body_frame import bone_lengths, fastest_joint_speeds, soles
from ..skeletons import CANONICAL_24
from .beats import speed_curve
from .frechet import fid, normalise_by
from .motion_features import geometric_features, kinetic_features

SEGMENT_SECONDS = 10.0  # energy windows and long-term FID segments (a third of shorter dances)
ENERGY_GOAL = 0.5  # issue: last 10 s energy at least half of the first 10 s
FLAT_GOAL = 1.5  # choice: no later segment's FID above 1.5x the first segment's
FOOT_GOAL = 0.02  # issue: metres below the floor
BONE_CV_GOAL = 0.05  # choice: std / mean of a bone's length over a dance
BONE_DEVIATION_GOAL = 0.15  # choice: largest |length - median| / median
BONE_DRIFT_GOAL = 0.05  # choice: |mean last window - mean first window| / median
SONGS_DIFFER_GOAL = 1.1  # choice: between-song distance over variation distance
SONG_VARIETY_GOAL = 0.5  # choice: between-song distance over the real data's
VARIATIONS_GOAL = 0.1  # choice: variation distance over the real between-song distance

BONE_NAMES: tuple[str, ...] = tuple(
    f"{CANONICAL_24.joint_names[p]}-{CANONICAL_24.joint_names[j]}"
    for j, p in enumerate(CANONICAL_24.parents) if p >= 0)


# ---------------------------------------------------------------------- no freezing
def window_frames(fps: float, seconds: float) -> int:
    """Frames in a window of `seconds` (at least 2, so it holds one step)."""
    return max(2, int(round(seconds * fps)))


def segment_seconds_for(dance_seconds: float) -> float:
    """SEGMENT_SECONDS, or a third of a dance shorter than three segments."""
    return min(SEGMENT_SECONDS, dance_seconds / 3.0)


def mean_joint_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """Mean over joints of each joint's speed (m/s) per frame step, unsmoothed: the energy."""
    return speed_curve(positions, fps, sigma=0.0)


def energy_ratio(positions: np.ndarray, fps: float, window_seconds: float) -> float:
    """Mean joint speed in the last window over that in the first (0 when the end is still).

    A dance that freezes scores near 0, one that keeps its energy near 1; inf when the first
    window is motionless and the last is not.
    """
    frames = window_frames(fps, window_seconds)
    first = mean_joint_speed(positions[:frames], fps).mean()
    last = mean_joint_speed(positions[-frames:], fps).mean()
    if first <= 0:
        return float("inf") if last > 0 else 1.0
    return float(last / first)


def energy_curve(positions: np.ndarray, fps: float, bin_seconds: float = 1.0) -> np.ndarray:
    """Mean joint speed (m/s) per consecutive `bin_seconds` bin (tail dropped): for plots."""
    speed = mean_joint_speed(positions, fps)
    size = window_frames(fps, bin_seconds)
    count = speed.size // size
    return speed[:count * size].reshape(count, size).mean(axis=1)


def segments(positions: np.ndarray, fps: float, seconds: float) -> list[np.ndarray]:
    """Consecutive non-overlapping pieces of `seconds` (tail dropped)."""
    size = window_frames(fps, seconds)
    return [positions[s:s + size] for s in range(0, positions.shape[0] - size + 1, size)]


def segment_features(pieces: Sequence[np.ndarray], fps: float,
                     kind: str = "kinetic") -> np.ndarray:
    """Kinetic (72) or geometric (32) features of each piece, one row per piece."""
    if kind == "kinetic":
        rows = [kinetic_features(p, fps) for p in pieces]
        width = 3 * CANONICAL_24.num_joints
    elif kind == "geometric":
        rows = [geometric_features(p) for p in pieces]
        width = 32
    else:
        raise ValueError(f"feature kind must be kinetic or geometric, got {kind!r}")
    return np.stack(rows) if rows else np.zeros((0, width))


def long_term_fid(reference: np.ndarray, by_segment: Sequence[np.ndarray]) -> list[float | None]:
    """FID of each segment position's features against the real reference features.

    `by_segment[k]` holds the features of segment k of every dance (rows); all sets are
    z-scored with the reference's mean and std first, as FID_k / FID_g are. None where fewer
    than 2 dances reach segment k or the reference has fewer than 2 rows.
    """
    if len(reference) < 2:
        return [None] * len(by_segment)
    normalised = normalise_by(np.asarray(reference, np.float64),
                              *[np.asarray(s, np.float64) for s in by_segment])
    return [fid(normalised[0], values) if len(values) >= 2 else None
            for values in normalised[1:]]


def real_fid_level(reference: np.ndarray, pool: np.ndarray, size: int, draws: int = 5,
                   seed: int = 0) -> float | None:
    """Mean FID against `reference` of `size` rows drawn from real `pool` (no replacement).

    FID grows as samples shrink, so a curve from N dances is read against real dance at the
    same N: this is the level real motion (rows not in the reference) reaches. None when the
    pool or the reference has fewer than 2 rows.
    """
    size = min(size, len(pool))
    if size < 2 or len(reference) < 2:
        return None
    rng = np.random.default_rng(seed)
    picks = [np.asarray(pool, np.float64)[rng.choice(len(pool), size, replace=False)]
             for _ in range(draws if size < len(pool) else 1)]
    values = long_term_fid(reference, picks)
    return float(np.mean(values))


def curve_rise(curve: Sequence[float | None]) -> float | None:
    """The highest later value over the first: <= FLAT_GOAL is flat. None without 2 values."""
    values = [v for v in curve if v is not None]
    if len(values) < 2 or curve[0] is None:
        return None
    first = float(curve[0])
    later = max(values[1:])
    if first <= 0:
        return 1.0 if later <= 0 else float("inf")
    return float(later / first)


# ---------------------------------------------------------------------- variety
def dance_features(dances: Sequence[np.ndarray], fps: float,
                   reference: Sequence[np.ndarray]) -> np.ndarray:
    """Motion feature vectors of `dances` (rows), in a space set by real `reference` pieces.

    Per dance: kinetic (72) and geometric (32) features, each block z-scored with the
    reference's mean and std and divided by the square root of its width, so the two blocks
    weigh the same in a distance (a reference piece's block has an expected squared norm of
    1). Use many, varied reference pieces: a feature that barely varies among them makes
    any difference in it look huge.
    """
    blocks = []
    for kind in ("kinetic", "geometric"):
        real = segment_features(reference, fps, kind)
        mine = normalise_by(real, segment_features(dances, fps, kind))[1]
        blocks.append(mine / np.sqrt(real.shape[1]))
    return np.concatenate(blocks, axis=1)


def pair_distances(features: np.ndarray, songs: Sequence[str],
                   inputs: Sequence[str] | None = None) -> tuple[float | None, float | None]:
    """(between, within): mean Euclidean distance over pairs of rows made for different songs,
    and over pairs made from the same input (`inputs`: the same song span, i.e. `--num`
    variations). None where no such pair exists.
    """
    features = np.asarray(features, dtype=np.float64)
    songs = np.asarray([str(s) for s in songs])
    inputs = songs if inputs is None else np.asarray([str(i) for i in inputs])
    distance = np.linalg.norm(features[:, None] - features[None, :], axis=-1)
    upper = np.triu(np.ones(distance.shape, dtype=bool), k=1)
    between = upper & (songs[:, None] != songs[None, :])
    within = upper & (inputs[:, None] == inputs[None, :])
    return (float(distance[between].mean()) if between.any() else None,
            float(distance[within].mean()) if within.any() else None)


def pose_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Mean distance (m) between the same joint of two dances at the same instant, each
    relative to its own root: how different two variations look, pose for pose."""
    frames = min(len(first), len(second))
    a = first[:frames] - first[:frames, :1]
    b = second[:frames] - second[:frames, :1]
    return float(np.linalg.norm(a - b, axis=-1).mean())


# ---------------------------------------------------------------------- physically plausible
def foot_penetration(positions: np.ndarray) -> np.ndarray:
    """Per frame, how far (m, >= 0) the lowest sole (`body_frame.soles`) is below z = 0."""
    return np.maximum(0.0, -soles(positions))


def bone_deviation(positions: np.ndarray) -> np.ndarray:
    """(T, 23) per frame and bone: |length - the bone's median length| / median length."""
    lengths = bone_lengths(positions)
    median = np.maximum(np.median(lengths, axis=0), 1e-9)
    return np.abs(lengths - median) / median


def bone_variation(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bone: std / mean of its length over the dance, and max |length - median| / median.

    A rigid skeleton scores 0 for both; a model that does not hold bone lengths scores
    more (after retargeting a rig keeps its own lengths, so this shows as direction noise).
    """
    lengths = bone_lengths(positions)
    mean = np.maximum(lengths.mean(axis=0), 1e-9)
    return lengths.std(axis=0) / mean, bone_deviation(positions).max(axis=0)


def bone_drift(positions: np.ndarray, fps: float, window_seconds: float) -> np.ndarray:
    """Per bone: |mean length in the last window - in the first| / median length.

    Wobble that averages out scores 0; a limb that grows or shrinks over the dance does not.
    """
    lengths = bone_lengths(positions)
    frames = window_frames(fps, window_seconds)
    median = np.maximum(np.median(lengths, axis=0), 1e-9)
    return np.abs(lengths[-frames:].mean(axis=0) - lengths[:frames].mean(axis=0)) / median


def max_joint_speed(positions: np.ndarray, fps: float) -> float:
    """Largest displacement of any joint between consecutive frames, times fps (m/s).

    Compare dances at the same fps: over a longer frame step a fast swing averages down.
    """
    steps = fastest_joint_speeds(positions, fps)
    return float(steps.max()) if steps.size else 0.0
