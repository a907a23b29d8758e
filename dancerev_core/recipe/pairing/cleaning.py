"""Make mocap clips comparable and drop the frames that are capture errors, not dance.

- Body size: the two CMU skeletons differ (subject 5 stands 1.65 m tall at the head, the
  "scaled" salsa files 1.13 m). One model cannot learn two body sizes without drifting
  between them, so every clip is scaled about the origin to one leg length.
- Ground: the lowest foot joints in contact (5th percentile of each frame's lowest, the rule
  retargeting uses) are put at one height above the floor, z = 0.
- Glitches: some trials contain single-frame jumps (a knee or foot flipping over, markers
  swapping: joints moving at 20-70 m/s, bones turning 170 degrees in one frame). Clips are
  cut at those frames into clean segments; segments that are short, or in which a knee
  bends backwards, are dropped. The salsa files start with a T-pose snapping into the
  dance, which the same rule removes. (Subject 5's files, read as canonical joints, do not
  start with a T-pose: their frame 0 continues smoothly into frame 1, so it is kept.)
"""

from __future__ import annotations

import numpy as np

from ...body_frame import BONE_PARENTS, FEET, FOOT_JOINT_HEIGHT, J, fastest_joint_speeds
from ...motion import Motion
from ...retarget.solver import leg_lengths

REFERENCE_LEG_LENGTH = 0.90  # metres, hip to knee plus knee to ankle (an adult of ~1.75 m)
GLITCH_SPEED = 15.0  # leg lengths per second (13.5 m/s): faster than any real limb motion
GLITCH_TURN = 3000.0  # degrees per second; clean CMU phrases stay under ~2,600
MIN_SEGMENT_SECONDS = 1.5
MAX_BACKWARD_KNEE_SHARE = 0.15


def normalise_body(motion: Motion) -> Motion:
    """Scale to REFERENCE_LEG_LENGTH about the origin, then stand the feet on the floor."""
    positions = motion.to_absolute().positions.astype(np.float64)
    positions *= REFERENCE_LEG_LENGTH / float(np.median(leg_lengths(positions)))
    ground = float(np.percentile(positions[:, FEET, 2].min(axis=1), 5))
    positions[..., 2] += FOOT_JOINT_HEIGHT - ground
    meta = {**motion.meta, "normalised": {"leg_length": REFERENCE_LEG_LENGTH,
                                          "foot_joint_height": FOOT_JOINT_HEIGHT}}
    return motion.to_absolute().with_positions(positions.astype(np.float32), meta=meta)


def glitch_steps(motion: Motion) -> np.ndarray:
    """Indices i where, between frames i and i + 1, a joint moves faster than GLITCH_SPEED
    or a bone turns faster than GLITCH_TURN (a foot or hand flipping over in one frame)."""
    positions = motion.positions.astype(np.float64)
    speed = fastest_joint_speeds(positions, motion.fps)
    leg = float(np.median(leg_lengths(positions)))
    return np.flatnonzero((speed > GLITCH_SPEED * leg)
                          | (bone_turn_speed(positions, motion.fps) > GLITCH_TURN))


def bone_turn_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """Per frame step, the fastest turn of any bone's direction, in degrees per second."""
    bones = positions[:, 1:] - positions[:, BONE_PARENTS]
    bones /= np.linalg.norm(bones, axis=-1, keepdims=True) + 1e-12
    cosine = np.clip((bones[1:] * bones[:-1]).sum(-1), -1.0, 1.0)
    return np.degrees(np.arccos(cosine)).max(axis=1) * fps


def backward_knee_share(positions: np.ndarray) -> float:
    """Share of frames where a bent knee points away from its toes: a flipped leg."""
    flipped = np.zeros(positions.shape[0], dtype=bool)
    for side in ("left", "right"):
        hip, knee, ankle, foot = (positions[:, J[f"{side}_{p}"]]
                                  for p in ("hip", "knee", "ankle", "foot"))
        axis = ankle - hip
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True) + 1e-9
        bend = (knee - hip) - ((knee - hip) * axis).sum(-1, keepdims=True) * axis
        toes = (foot - ankle) - ((foot - ankle) * axis).sum(-1, keepdims=True) * axis
        bent = np.linalg.norm(bend, axis=-1) > 0.04  # metres at the reference size
        flipped |= bent & ((bend * toes).sum(-1) < -0.002)
    return float(flipped.mean()) if flipped.size else 0.0


def clean_segments(motion: Motion) -> list[tuple[int, int]]:
    """Frame ranges [start, stop) of the clip free of glitches, long enough to dance."""
    cuts = [0, *(glitch_steps(motion) + 1).tolist(), motion.num_frames]
    segments = []
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        if (stop - start) / motion.fps < MIN_SEGMENT_SECONDS:
            continue
        if backward_knee_share(motion.positions[start:stop]) > MAX_BACKWARD_KNEE_SHARE:
            continue
        segments.append((start, stop))
    return segments
