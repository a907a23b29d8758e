"""Is a model's free-running dance alive? The figures `dancerev train` and the bench watch.

A training loss says how well the decoder continues real motion; a user gets the decoder
continuing its own. So these figures read dances the model wrote free-running (every frame
fed its own previous output, beat sync off) for songs it did not train on, against the real
dances of those songs (issue 15):
- `speed_vs_real`: the mean speed of the root-relative joints over the real dances' (the
  body's own motion, not its travel); `acceleration_vs_real` the same for the joints'
  acceleration magnitude (alive, not jittery: at most about 2);
- `frozen_share`: the share of 10-s windows whose root-relative mean joint speed is below
  FROZEN_SPEED (3D, m/s; for 2D joint sets FROZEN_SHARE of the real speed);
- `energy_ratio`: the median over dances of two windows or more of last-window speed over
  first-window speed (1 when no dance is that long);
- `fid_k`: FID of the kinetic features of SEGMENT_SECONDS pieces against the real
  reference's pieces (canonical 3D only; None when either side has fewer than 2 pieces);
- `hit_rate`: the share of the dances' kinematic beats within the beat tolerance of their
  own song's beats, pooled over dances; `shuffled_hit_rate` the same against another
  song's beats (each dance scored on the next other song's beats): the control a model that
  ignores the music scores as well as the real pairing (with one song it is that song).
numpy (+ scipy for the beats) only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..body_frame import mean_joint_speeds
from ..skeletons import CANONICAL_24, joint_set
from .beats import DEFAULT_TOLERANCE, beat_scores, kinematic_beats
from .quality import long_term_fid, segment_features, segments, window_frames

FROZEN_SPEED = 0.2  # m/s over a 10-s window: the "frozen" (real dancers: ~0.45)
FROZEN_SHARE = 0.45  # for 2D joint sets: of the real speed (0.2 / 0.45 m/s)
WINDOW_SECONDS = 10.0
SEGMENT_SECONDS = 5.0  # FID_k pieces: the held-out songs are 7-45 s long
FREEZE_WARNING = 0.25  # warn when more than this share of windows is frozen ...
SLOW_WARNING = 0.5  # ... or the dances move at less than this share of the real speed


@dataclass(frozen=True)
class Health:
    speed_vs_real: float
    acceleration_vs_real: float
    frozen_share: float
    energy_ratio: float
    fid_k: float | None
    hit_rate: float
    shuffled_hit_rate: float
    dances: int

    @property
    def freezes(self) -> bool:
        return self.frozen_share > FREEZE_WARNING or self.speed_vs_real < SLOW_WARNING

    def as_dict(self) -> dict:
        return {key: (round(value, 4) if isinstance(value, float) else value)
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> Health:
        """Back from `as_dict` (a history line)."""
        return cls(**{key: values[key] for key in cls.__dataclass_fields__})

    def summary(self) -> str:
        """One line for a panel: how alive and how on the beat the dances are."""
        return (f"joints at {self.speed_vs_real:.0%} of the real speed, "
                f"{self.frozen_share:.0%} of 10-s windows frozen, beat hit "
                f"{self.hit_rate:.0%} (other songs' beats {self.shuffled_hit_rate:.0%})")

    def warning(self) -> str:
        """One line for the user when the dances freeze."""
        return (f"warning: free-running dances freeze: {self.frozen_share:.0%} of 10-s windows "
                f"frozen, joints at {self.speed_vs_real:.0%} of the real speed, energy "
                f"last/first {self.energy_ratio:.2f}")


def relative_positions(positions: np.ndarray, root: int = 0) -> np.ndarray:
    """Every joint relative to the root joint (T x J x D)."""
    positions = np.asarray(positions, dtype=np.float64)
    return positions - positions[:, root:root + 1]


def joint_speed(positions: np.ndarray, fps: float, root: int = 0) -> np.ndarray:
    """Per frame step, the mean speed of the root-relative joints (units/s)."""
    return mean_joint_speeds(relative_positions(positions, root), fps)


def joint_acceleration(positions: np.ndarray, fps: float, root: int = 0) -> float:
    """Mean acceleration magnitude of the root-relative joints (units/s^2)."""
    relative = relative_positions(positions, root)
    if len(relative) < 3:
        return 0.0
    accel = np.diff(relative, n=2, axis=0) * fps * fps
    return float(np.linalg.norm(accel, axis=-1).mean())


def windows_of(values: np.ndarray, size: int) -> list[np.ndarray]:
    """Consecutive windows of `size` values; a dance shorter than one window is one window."""
    if len(values) <= size:
        return [values] if len(values) else []
    return [values[start:start + size] for start in range(0, len(values) - size + 1, size)]


def dance_health(dances: Sequence[np.ndarray], beats: Sequence[np.ndarray],
                 real: Sequence[np.ndarray], fps: float, *, skeleton: str = CANONICAL_24.name,
                 reference: Sequence[np.ndarray] | None = None,
                 tolerance: float = DEFAULT_TOLERANCE) -> Health:
    """The figures of the module docstring.

    `dances` are absolute positions (T x J x D) written for songs whose beats (seconds from
    the dance's frame 0) are `beats`; `real` the real dances of those songs; `reference` the
    real motion FID_k compares with (default `real`).
    """
    if not dances or not real:
        raise ValueError("health needs generated and real dances")
    root = joint_set(skeleton).root
    real_speed = float(np.mean(np.concatenate([joint_speed(r, fps, root) for r in real])))
    speeds = [joint_speed(d, fps, root) for d in dances]
    threshold = (FROZEN_SPEED if skeleton == CANONICAL_24.name
                 else FROZEN_SHARE * real_speed)
    windows = [[w.mean() for w in windows_of(s, window_frames(fps, WINDOW_SECONDS))]
               for s in speeds]
    ratios = [w[-1] / w[0] if w[0] > 0 else 0.0 for w in windows if len(w) >= 2]
    real_accel = float(np.mean([joint_acceleration(r, fps, root) for r in real]))
    accel = float(np.mean([joint_acceleration(d, fps, root) for d in dances]))
    return Health(
        speed_vs_real=float(np.mean(np.concatenate(speeds))) / max(real_speed, 1e-12),
        acceleration_vs_real=accel / max(real_accel, 1e-12),
        frozen_share=float(np.mean([w < threshold for dance in windows for w in dance])),
        energy_ratio=float(np.median(ratios)) if ratios else 1.0,
        fid_k=(kinetic_fid(dances, reference if reference is not None else real, fps)
               if skeleton == CANONICAL_24.name else None),
        hit_rate=pooled_hit_rate(dances, beats, fps, tolerance),
        shuffled_hit_rate=pooled_hit_rate(dances, other_songs_beats(beats), fps, tolerance),
        dances=len(dances))


def other_songs_beats(beats: Sequence[np.ndarray]) -> list[np.ndarray]:
    """For each dance, the beats of the next dance in the list made for other music
    (variations for one song share its beats and are skipped); its own when all share."""
    count = len(beats)
    shuffled = []
    for index, own in enumerate(beats):
        others = (beats[(index + step) % count] for step in range(1, count))
        shuffled.append(next((b for b in others if not np.array_equal(b, own)), own))
    return shuffled


def pooled_hit_rate(dances: Sequence[np.ndarray], beats: Sequence[np.ndarray], fps: float,
                    tolerance: float = DEFAULT_TOLERANCE) -> float:
    """Kinematic beats within `tolerance` of a musical beat over all kinematic beats."""
    hits = total = 0
    for positions, musical in zip(dances, beats, strict=True):
        length = (len(positions) - 1) / fps
        musical = np.asarray(musical, dtype=np.float64)
        scores = beat_scores(kinematic_beats(positions, fps) / fps,
                             musical[(musical >= 0) & (musical <= length)], tolerance)
        hits += round(scores.hit_rate * scores.kinematic_beats)
        total += scores.kinematic_beats
    return hits / total if total else 0.0


def kinetic_fid(dances: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                fps: float) -> float | None:
    """FID_k of SEGMENT_SECONDS pieces, z-scored by the reference's (None if too few)."""
    real, generated = (segment_features([piece for d in group for piece in segments(
        np.asarray(d, np.float64), fps, SEGMENT_SECONDS)], fps) for group in (reference, dances))
    return long_term_fid(real, [generated])[0]
