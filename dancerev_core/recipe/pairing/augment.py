"""Spatial augmentation of a paired dance: mirroring, a small turn, and centring.

- Mirroring swaps left and right (`Motion.mirrored`): a mirrored dance is as human as the
  original and fits the same music, so it doubles the poses the model sees for free.
- A small turn about the vertical (+- a few tens of degrees) varies where the dancer faces
  without losing the audience: the model's pose vector keeps the pelvis absolute and the
  other joints relative to it in the canonical frame (not the dancer's own), so a turned
  copy is a genuinely different target, while a large turn would make "facing the
  audience" (-y, Blender's front view) no longer the typical pose.
- Centring puts the mean pelvis position on the floor origin: studio coordinates mean
  nothing, and the model predicts the pelvis position absolutely.
Scaling the body is not an augmentation here: every clip is already scaled to one leg
length (cleaning.py), and varied sizes would teach the model to drift in size.
"""

from __future__ import annotations

import numpy as np

from ...body_frame import rotate_yaw
from ...motion import Motion


def augment(motion: Motion, mirror: bool, yaw_degrees: float) -> Motion:
    """Mirrored (optionally), turned by `yaw_degrees` about its mean pelvis, then centred."""
    motion = motion.to_absolute()
    if mirror:
        motion = motion.mirrored()
    positions = motion.positions.astype(np.float64)
    centre = positions[:, motion.root, :2].mean(axis=0)
    if yaw_degrees:
        positions = rotate_yaw(positions, np.radians(yaw_degrees), centre)
    positions[..., :2] -= centre
    return motion.with_positions(positions.astype(np.float32))
