"""Lifting: BODY_25 2D keypoints to canonical 3D joints (numpy only; torch only to train).

`lift(motion)` is the whole path (`pipeline`); the learned lifter is a small temporal
convolution network run in numpy (`network`, weights in `dancerev_core/pretrained/`), the
fallback a geometric reconstruction that needs no weights (`geometric`). Training
(`train`, torch) films 3D motion capture (`data`) with random virtual cameras
(`projection`); `evaluate` and `metrics` judge both on held-out clips.
"""

from .network import Lifter, load_lifter
from .pipeline import Lifted, lift

__all__ = ["Lifted", "Lifter", "lift", "load_lifter"]
