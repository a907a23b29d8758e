"""Physically plausible generated 3D dances: bones keep their length, feet stay out of the floor.

A model that writes joint positions frame by frame is bound by neither rule: its bones
stretch and shrink, and nothing stops a foot from going through the floor. Both are put right
after generation, as lifting does for 2D input: every bone gets one length for the whole
dance (its median, left and right averaged) with its direction kept, the dance stands on the
floor (the 5th percentile of its lowest soles at z = 0, as the training data stands), and any
frame whose sole would still sink deeper than SINK_ALLOWED is raised, smoothly, so
contacts do not jitter. Jumps are kept: nothing is pulled down. Finally the whole dance is
turned about the vertical axis so that on average it faces the front (-Y, the camera in
Blender's front view): the training data's dancers face every way, and a character that
shows the audience its back is rarely what an animator wants.

Before all that, glitches are taken out: a step between two frames where some joint moves
faster than MAX_JOINT_SPEED (a little under the fastest step of the CMU dance data, 13.2 m/s
at 15 fps) is smoothed over its neighbouring frames until no joint does. A model that writes
one frame at a time now and then throws a hand or a foot for one frame; a real dancer
does not, and an animator would have to clean it up.

`settled_start` (any joint set, applied first by `generation.finish_dance`): the decoder
starts from a fixed "beginning of pose" frame and jumps into the dance within its first
frames (a mean joint speed of 3-9 m/s on the first step against 0.3 m/s for the rest, a
quick turn at the start of every clip). Those frames hold the first settled pose instead.
"""

from __future__ import annotations

import numpy as np

from ..body_frame import facing, fastest_joint_speeds, mean_joint_speeds, rotate_yaw, soles
from ..lifting.postprocess import GROUND_SIGMA, constant_bone_lengths
from ..smoothing import smooth_over_time

STAND_PERCENTILE = 5.0  # the lowest soles of a dance this often below the floor, before lifting
SINK_ALLOWED = 0.015  # metres a sole may stay below the floor: under 2 cm after float32 rounding
MAX_JOINT_SPEED = 12.0  # m/s between two frames; the recipe data's fastest is 13.2 at 15 fps
SMOOTHING_PASSES = 50  # most local smoothing passes over the glitches
SETTLED_SPEED = 2.0  # a step this many times the dance's median mean-joint speed is a rush
MAX_SETTLE_SECONDS = 1.0  # the most of a dance's start held still


def settled_start(positions: np.ndarray, fps: float) -> np.ndarray:
    """The dance with its opening rush held still: the frames before its first step at most
    SETTLED_SPEED x its median speed (mean over joints; at most MAX_SETTLE_SECONDS) take
    the pose of the frame where that step starts. A dance that starts calmly is returned
    as it was."""
    positions = np.asarray(positions)
    if positions.shape[0] < 3:
        return positions
    steps = mean_joint_speeds(positions, fps)
    calm = steps <= SETTLED_SPEED * np.median(steps)
    settled = min(int(np.argmax(calm)), int(MAX_SETTLE_SECONDS * fps))
    if settled == 0:
        return positions
    held = positions.copy()
    held[:settled] = positions[settled]
    return held


def face_front(positions: np.ndarray) -> np.ndarray:
    """The dance turned about the vertical through its first root position so that its mean
    facing (a circular mean over frames) is -Y."""
    angles = facing(positions)
    mean = np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())
    return rotate_yaw(positions, -np.pi / 2 - mean, positions[0, 0, :2])


def on_the_floor_with_constant_bones(positions: np.ndarray, fps: float) -> np.ndarray:
    """Absolute canonical joints with one length per bone, standing on the floor, no sole
    more than SINK_ALLOWED below it (jumps kept)."""
    positions = np.asarray(positions, dtype=np.float64)
    fixed = constant_bone_lengths(positions)  # keeps the root joint and bone directions
    fixed[..., 2] -= np.percentile(soles(fixed), STAND_PERCENTILE)
    needed = np.maximum(0.0, -soles(fixed))
    raise_by = np.maximum(smooth_over_time(needed, GROUND_SIGMA * fps),
                          needed - SINK_ALLOWED)
    fixed[..., 2] += raise_by[:, None]
    return fixed


def without_glitches(positions: np.ndarray, fps: float,
                     max_speed: float = MAX_JOINT_SPEED) -> np.ndarray:
    """The dance with every step faster than `max_speed` (any joint, m/s) smoothed away:
    frames around such a step are replaced by a [1, 2, 1] / 4 average of their neighbours,
    pass after pass, touching only those frames. Dances within the limit come back as they
    were."""
    fixed = np.array(positions, dtype=np.float64)
    for _ in range(SMOOTHING_PASSES):
        fast = np.flatnonzero(fastest_joint_speeds(fixed, fps) > max_speed)
        if fast.size == 0:
            break
        frames = np.unique(np.concatenate([fast, fast + 1]))
        frames = frames[(frames > 0) & (frames < len(fixed) - 1)]
        if frames.size == 0:  # only the first or last step: pull the end frame in
            frames = np.array([0 if fast[0] == 0 else len(fixed) - 1])
            neighbour = 1 if frames[0] == 0 else len(fixed) - 2
            fixed[frames] = (fixed[frames] + fixed[neighbour]) / 2
            continue
        fixed[frames] = (fixed[frames - 1] + 2 * fixed[frames] + fixed[frames + 1]) / 4
    return fixed


def plausible_positions(positions: np.ndarray, fps: float) -> np.ndarray:
    """Absolute canonical joints (T x 24 x 3, metres, Z up): no glitches, constant bones,
    on the floor, facing the front."""
    return face_front(on_the_floor_with_constant_bones(without_glitches(positions, fps), fps))
