"""Kinematic beats in seconds and how they meet a song's beats, as evaluation measures them.

The recipe reports beat alignment with the evaluation's own definitions
(`evaluation.beats`: local minima of the smoothed mean joint speed; hit within
`DEFAULT_TOLERANCE` s) at the evaluation frame rate, so its "before/after" numbers are
comparable with the model's scores in the model card.
"""

from __future__ import annotations

import numpy as np

from ...evaluation.beats import DEFAULT_TOLERANCE, beat_scores, kinematic_beats
from ...evaluation.suite import DEFAULT_FPS
from ...motion import Motion

EVAL_FPS = DEFAULT_FPS  # the evaluation's frame rate (the model's)


def beat_times(motion: Motion, seen_at: float | None = EVAL_FPS) -> np.ndarray:
    """Kinematic beats of `motion` in seconds from its first frame, as seen at `seen_at` fps.

    The detector reports a speed minimum at the frame after it ("where the deceleration
    ends"): half a frame late, which is 1/120 s at the source's 60 fps but 1/30 s at the
    15 fps the model runs and is evaluated at. Found at the source's rate (precise) and moved
    by the difference of the two half frames, the beats are where the evaluation will find
    them. `seen_at=None` gives them at the motion's own rate.
    """
    positions = motion.to_absolute().positions
    times = kinematic_beats(positions, motion.fps) / motion.fps
    if seen_at:
        times = times + 0.5 / seen_at - 0.5 / motion.fps
    return times


def alignment(motion: Motion, musical: np.ndarray, offset: float,
              tolerance: float = DEFAULT_TOLERANCE, fps: float = EVAL_FPS) -> dict:
    """Hits, kinematic and musical beat counts of `motion` played from `offset` s of a song.

    `musical` are the song's beat times (seconds of the song); only those within the
    motion's span count, as in `evaluation.suite`. Measured at `fps` (default 15).
    """
    sampled = motion.to_absolute().resample(fps)
    kinematic = kinematic_beats(sampled.positions, fps) / fps
    beats = np.asarray(musical, dtype=np.float64) - offset
    beats = beats[(beats >= 0) & (beats <= sampled.duration)]
    scores = beat_scores(kinematic, beats, tolerance)
    return {"hits": int(round(scores.hit_rate * kinematic.size)),
            "kinematic_beats": int(kinematic.size), "musical_beats": int(beats.size),
            "hit_rate": round(scores.hit_rate, 4), "coverage": round(scores.coverage, 4)}
