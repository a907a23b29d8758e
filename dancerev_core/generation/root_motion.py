"""Root motion: a dance's travel over the floor taken off (in place) or handed back.

Game engines, and animators who lay dances out on a stage themselves, want a dance "in
place": the body dances on the spot and its travel lives on a root bone or an Empty that the
engine moves (root motion). `in_place` takes off the whole body's horizontal travel (the
root's x, y held where they are on the first frame; the height kept, so jumps and crouches
stay) and, unless `keep_turning`, its turning about the vertical (each frame turned about
the root so that the body keeps facing the way it faces on the first frame). `root_travel`
says what was taken off, per frame (dx, dy, yaw), and `with_travel` puts it back:
`with_travel(in_place(p), root_travel(p)) == p`, and `in_place(p) == with_travel(p,
-root_travel(p))`.

The turn taken off is the body's facing (`body_frame.facing`, from hips and shoulders)
smoothed a little, over FACING_SIGMA seconds (`body_yaw`). The facing of real and generated
dances is not jittery as such: hips and shoulders agree frame by frame to a degree or two,
and it moves in smooth swings and spins (CMU salsa and the shipped model's dances turn up
to 75-95 degrees a frame at 15 fps). But the hips are only 18 cm apart, so a few mm of
noise on them is a degree of facing, and turned away frame by frame that degree would swing
the hands and feet, 80 cm out, by over a centimetre: the whole body would wobble with the
noise of two joints. The light smoothing damps that noise (to about 0.6 of it at 15 fps,
0.45 at 30) while a steady spin is still taken off exactly (the ends are padded so that
straight lines stay straight) and the quickest swings leave 5-7 degrees (95th
percentile, measured on a dance of the shipped model's and on CMU salsa). More smoothing would
leave the quick hip swings in the dance and take off only its slow turning, but then the
facing is no longer held.

`blend_poses` mixes two dances frame by frame in these root-relative, facing-aligned
coordinates (loops and regenerated sections blend with it), and `ease` is the C1 weight
they blend with. numpy only.
"""

from __future__ import annotations

import numpy as np

from ..body_frame import facing
from ..smoothing import smooth_over_time

FACING_SIGMA = 0.05  # seconds: the facing taken off is smoothed this much (0.75 frames at 15 fps)
MODEL_FPS = 15.0  # the frame rate of the shipped model's dances, the default here
ROOT = 0  # the pelvis, canonical joint 0


def body_yaw(positions: np.ndarray, fps: float = MODEL_FPS) -> np.ndarray:
    """Per frame, the facing (radians, unwrapped, so turns add up) smoothed over FACING_SIGMA
    seconds; the ends are padded by point reflection so a steady turn stays straight."""
    angles = np.unwrap(facing(np.asarray(positions, dtype=np.float64)))
    sigma = FACING_SIGMA * fps
    if sigma <= 0 or angles.size < 3:
        return angles
    radius = min(int(np.ceil(3 * sigma)), angles.size - 1)
    padded = np.concatenate([2 * angles[0] - angles[radius:0:-1], angles,
                             2 * angles[-1] - angles[-2:-radius - 2:-1]])
    return smooth_over_time(padded, sigma)[radius:radius + angles.size]


def root_travel(positions: np.ndarray, keep_turning: bool = False,
                fps: float = MODEL_FPS) -> np.ndarray:
    """Per frame (T x 3): the root's horizontal travel since the first frame (dx, dy, metres)
    and the body's turn since then (yaw, radians, `body_yaw`; 0 with `keep_turning`): what
    `in_place` takes off, for a root bone or an Empty to carry instead."""
    positions = np.asarray(positions, dtype=np.float64)
    travel = np.zeros((positions.shape[0], 3))
    travel[:, :2] = positions[:, ROOT, :2] - positions[0, ROOT, :2]
    if not keep_turning:
        yaw = body_yaw(positions, fps)
        travel[:, 2] = yaw - yaw[0]
    return travel


def with_travel(positions: np.ndarray, travel: np.ndarray) -> np.ndarray:
    """Each frame turned by travel[t, 2] radians about the vertical through its root, then
    moved by travel[t, :2] over the floor. `with_travel(., -travel)` undoes it exactly
    (turning about the root and moving along with it commute)."""
    positions = np.asarray(positions, dtype=np.float64)
    travel = np.asarray(travel, dtype=np.float64)
    root = positions[:, ROOT:ROOT + 1, :2]
    x, y = positions[..., 0] - root[..., 0], positions[..., 1] - root[..., 1]
    cos, sin = np.cos(travel[:, 2:3]), np.sin(travel[:, 2:3])
    out = positions.copy()
    out[..., 0] = root[..., 0] + travel[:, 0:1] + cos * x - sin * y
    out[..., 1] = root[..., 1] + travel[:, 1:2] + sin * x + cos * y
    return out


def in_place(positions: np.ndarray, keep_turning: bool = False,
             fps: float = MODEL_FPS) -> np.ndarray:
    """Absolute canonical joints (T x 24 x 3) with the body's horizontal travel taken off
    (the root's x, y held at the first frame's; heights kept) and, unless `keep_turning`,
    its turning (facing held at the first frame's, to within the facing's own jitter: see
    the module's notes). Float64; frame 0 is unchanged."""
    return with_travel(positions, -root_travel(positions, keep_turning, fps))


def ease(count: int) -> np.ndarray:
    """`count` weights rising from 0 to 1 with the smoothstep 3u^2 - 2u^3 at u = (i + 1) /
    (count + 1): zero slope at both ends, so a blend with them has no jump in pose or in
    velocity where it begins or ends (the frames just outside weigh exactly 0 and 1)."""
    u = np.arange(1, count + 1) / (count + 1)
    return u * u * (3 - 2 * u)


def blend_poses(a: np.ndarray, b: np.ndarray, weight: np.ndarray,
                fps: float = MODEL_FPS) -> np.ndarray:
    """Frame by frame, dance `a` mixed into dance `b` (weight 0 = a, 1 = b, per frame).

    The mix is taken apart as a body moves: the roots' floor positions are mixed linearly,
    their facings (`body_yaw`) along the shorter way round, and the poses relative to root
    and facing linearly. Two bodies standing apart or facing apart thus blend with a body
    that glides and turns, where mixing positions would shrink and twist it. Exact at the
    weights 0 and 1.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64).reshape(-1)
    yaw_a, yaw_b = body_yaw(a, fps), body_yaw(b, fps)
    turn = np.unwrap(yaw_b - yaw_a)
    turn -= 2 * np.pi * np.round(np.median(turn) / (2 * np.pi))
    # both bodies brought to a's root and facing, mixed there, then moved to the mixed root
    b_at_a = with_travel(b, np.stack([a[:, ROOT, 0] - b[:, ROOT, 0],
                                      a[:, ROOT, 1] - b[:, ROOT, 1], -turn], axis=1))
    mixed = (1 - w[:, None, None]) * a + w[:, None, None] * b_at_a
    shift = w[:, None] * (b[:, ROOT, :2] - a[:, ROOT, :2])
    return with_travel(mixed, np.stack([shift[:, 0], shift[:, 1], w * turn], axis=1))
