"""Lifting without weights: scaled-orthographic reconstruction with known bone lengths.

Taylor (2000): under a scaled orthographic camera a bone of length L that measures l in the
image at s image units per metre has depth extent dz = sqrt(L^2 - (l / s)^2); only its sign
is unknown. L starts from the standard body (`skeleton.STANDARD_REST`): s is the median over
the long bones of each bone's largest l / L in a 4 s window (where it lay parallel to the
image), and the clip's own lengths are then the largest (98th percentile) image lengths over
s, kept within 0.8-1.25 times the standard ones, left = right.

The signs are chosen per chain over the whole clip by dynamic programming (Viterbi), trading
temporal continuity (squared change of each bone's direction between frames) against
anatomical priors:
- torso: the facing direction's cosine comes from the width of the shoulders and hips in
  the image (left keypoints right of the right ones: facing the camera), its sign from the
  nose's offset beside the neck; hips and shoulders take their depth from that facing.
  The torso's typical tilt out of the image plane over the clip is taken as the camera's
  elevation (dancers are upright on average): then the neck is nearer the camera than the
  hips, and the answer is turned from the camera's frame to the level view frame. With no
  such tilt, the spine leans toward the facing direction rather than away;
- legs (hip, knee, ankle, big toe): knees do not bend backwards, toes point forward, thighs
  tend to the front; arms (shoulder, elbow, wrist): forearms tend to the front; head
  (neck, nose): the nose is in front.
Joints BODY_25 does not have (pelvis, spine, collars, head) are placed from the standard
body's torso; hands extend the forearms. The answer is root-relative, in the view frame
(see `projection`). Weights (`PRIORS`, `CONTINUITY`) were set on CMU clips that are neither
trained on nor held out (005_10, 005_18, 60_07, 61_07).
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..retarget.rotations import unit
from ..skeletons import BODY_25
from .features import SCALE_WINDOW
from .projection import body25_from_canonical
from .skeleton import STANDARD_BONE_LENGTHS, STANDARD_REST

_STANDARD_B25 = body25_from_canonical(STANDARD_REST)
SCALE_BONES = ((2, 3), (5, 6), (3, 4), (6, 7), (9, 10), (12, 13), (10, 11), (13, 14),
               (1, 8), (2, 5), (9, 12))
LEGS = ((12, 13, 14, 19), (9, 10, 11, 22))  # left, right: hip, knee, ankle, big toe
ARMS = ((5, 6, 7), (2, 3, 4))  # left, right: shoulder, elbow, wrist
CONTINUITY = 1.0  # cost per squared change of a unit bone direction between frames
# Costs of breaking each prior (per unit of the violating cosine or cross product).
PRIORS = {"knee": 8.0, "toe": 1.0, "thigh": 0.3, "forearm": 0.5, "nose": 2.0}
MAX_ELEVATION = np.radians(35)
_MIRROR = {a: b for pair in BODY_25.mirror_pairs for a, b in (pair, pair[::-1])}


_PAIRS = sorted(set(SCALE_BONES) | {(8, 12), (8, 9), (8, 1), (1, 5), (1, 2), (1, 0)} | {
    (chain[i], chain[i + 1]) for chain in LEGS + ARMS for i in range(len(chain) - 1)})


def _length(a: int, b: int) -> float:
    return float(np.linalg.norm(_STANDARD_B25[a] - _STANDARD_B25[b]))


def _rolling_percentile(values: np.ndarray, window: int, q: float) -> np.ndarray:
    """Percentile q over a centred window along axis 0, ends held."""
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, 0), values,
                             np.repeat(values[-1:], half, 0)])
    return np.percentile(sliding_window_view(padded, window, axis=0), q, axis=-1)


def image_scale(plane: np.ndarray, window: int = 2 * SCALE_WINDOW - 1) -> np.ndarray:
    """Image units per metre of the standard body, per frame (T).

    Each long bone's image length over its standard length, at its largest in a 4 s window
    (95th percentile), is the scale where that bone lay parallel to the image; the median
    over the bones is robust to a dancer whose proportions are not the standard body's.
    """
    ratios = np.stack([np.linalg.norm(plane[:, a] - plane[:, b], axis=-1) / _length(a, b)
                       for a, b in SCALE_BONES], axis=1)
    peaks = _rolling_percentile(ratios, min(window, 2 * (len(ratios) // 2) + 1), 95)
    return np.maximum(np.median(peaks, axis=1), 1e-9)


def clip_lengths(metric: np.ndarray, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """Per-clip bone lengths (metres) for keypoint pairs: the 98th percentile of the image
    length over the clip, within 0.8-1.25 times the standard body's, left = right."""
    lengths = {}
    for a, b in pairs:
        seen = np.percentile(np.linalg.norm(metric[:, a] - metric[:, b], axis=-1), 98)
        lengths[(a, b)] = float(np.clip(seen, 0.8 * _length(a, b), 1.25 * _length(a, b)))
    for (a, b), value in list(lengths.items()):
        pair = (_MIRROR.get(a, a), _MIRROR.get(b, b))
        if pair in lengths and pair != (a, b):
            lengths[(a, b)] = max(value, lengths[pair])
    return lengths


def viterbi(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """States (T) minimising sum of unary[t, s_t] + pairwise[t - 1, s_t, s_(t - 1)]."""
    total = unary[0].copy()
    back = np.zeros(unary.shape, dtype=np.int64)
    for t in range(1, unary.shape[0]):
        options = pairwise[t - 1] + total[None, :]
        back[t] = options.argmin(axis=1)
        total = options.min(axis=1) + unary[t]
    states = np.zeros(unary.shape[0], dtype=np.int64)
    states[-1] = int(total.argmin())
    for t in range(unary.shape[0] - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return states


def _continuity(directions: np.ndarray) -> np.ndarray:
    """Pairwise cost (T-1 x S x S) from per-state unit bone directions (T x S x B x 3)."""
    change = directions[1:, :, None] - directions[:-1, None, :]
    return CONTINUITY * np.sum(change ** 2, axis=(-1, -2))


def _facing(metric: np.ndarray, lengths: dict[tuple[int, int], float]) -> np.ndarray:
    """Torso yaw psi (T): the body's left is (cos psi, sin psi, 0), forward (sin, -cos, 0)."""
    width = lengths[2, 5] + lengths[9, 12]
    cosine = np.clip((metric[:, 5, 0] - metric[:, 2, 0] + metric[:, 12, 0] - metric[:, 9, 0])
                     / width, -1.0, 1.0)
    sine = np.sqrt(1.0 - cosine ** 2)
    nose = np.clip((metric[:, 0, 0] - metric[:, 1, 0]) / 0.05, -1.0, 1.0)
    signs = np.array([1.0, -1.0])
    psi = np.arctan2(sine[:, None] * signs, cosine[:, None])  # T x 2
    unary = -nose[:, None] * signs
    turn = psi[1:, :, None] - psi[:-1, None, :]
    pairwise = CONTINUITY * 2.0 * (1.0 - np.cos(turn))
    states = viterbi(unary, pairwise)
    return psi[np.arange(len(psi)), states]


def _chain(metric: np.ndarray, start: np.ndarray, joints: tuple[int, ...],
           lengths: dict[tuple[int, int], float], prior) -> np.ndarray:
    """3D positions (T x len(joints) x 3) of a chain whose first joint is at `start`."""
    bones = len(joints) - 1
    deltas = np.stack([metric[:, joints[i + 1]] - metric[:, joints[i]] for i in range(bones)],
                      axis=1)  # T x B x 2 (X, Z)
    length = np.array([lengths[joints[i], joints[i + 1]] for i in range(bones)])
    depth = np.sqrt(np.maximum(length ** 2 - np.sum(deltas ** 2, axis=-1), 0.0))  # T x B
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=bones)))  # S x B
    vectors = np.zeros((len(metric), len(signs), bones, 3))
    vectors[..., 0] = deltas[:, None, :, 0]
    vectors[..., 1] = depth[:, None, :] * signs[None]
    vectors[..., 2] = deltas[:, None, :, 1]
    directions = unit(vectors)
    states = viterbi(prior(directions), _continuity(directions))
    chosen = vectors[np.arange(len(metric)), states]  # T x B x 3
    return np.concatenate([start[:, None], start[:, None] + np.cumsum(chosen, axis=1)], axis=1)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def geometric_lift(plane: np.ndarray) -> np.ndarray:
    """Root-relative canonical joints (T x 24 x 3, view frame) from image-plane BODY_25
    keypoints (T x 25 x 2, y up, missing ones filled)."""
    plane = np.asarray(plane, dtype=np.float64)
    scale = image_scale(plane)
    metric = (plane - plane[:, 8:9]) / scale[:, None, None]  # metres, MidHip at 0
    lengths = clip_lengths(metric, _PAIRS)
    psi = _facing(metric, lengths)
    left = np.stack([np.cos(psi), np.sin(psi), np.zeros_like(psi)], axis=1)
    forward = np.stack([np.sin(psi), -np.cos(psi), np.zeros_like(psi)], axis=1)
    toward = np.where(np.cos(psi) >= 0, -1.0, 1.0)  # depth sign of "forward"
    side = np.sign(np.sin(psi))

    points = np.zeros((len(plane), 25, 3))
    points[:, :, 0], points[:, :, 2] = metric[..., 0], metric[..., 1]

    def lift_from(joint: int, base: int, sign: np.ndarray) -> None:
        """Depth of `joint` from `base` by the bone's length, on the side `sign` says."""
        delta = metric[:, joint] - metric[:, base]
        depth = np.sqrt(np.maximum(lengths[base, joint] ** 2 - np.sum(delta ** 2, axis=-1),
                                   0.0))
        points[:, joint, 1] = points[:, base, 1] + sign * depth

    # A camera looking down sees an upright torso tilted toward it: the typical tilt over
    # the clip is taken as the camera's elevation, and the neck as nearer than the hips.
    torso = np.sum((metric[:, 1] - metric[:, 8]) ** 2, axis=-1) / lengths[8, 1] ** 2
    elevation = float(np.clip(np.median(np.arcsin(np.sqrt(np.clip(1 - torso, 0, 1)))), 0.0,
                              MAX_ELEVATION))
    lift_from(12, 8, side)
    lift_from(9, 8, -side)
    lift_from(1, 8, -np.ones(len(plane)) if elevation > 0.1 else toward)
    lift_from(5, 1, side)
    lift_from(2, 1, -side)

    def leg_prior(d: np.ndarray) -> np.ndarray:
        thigh, shin, foot = d[:, :, 0], d[:, :, 1], d[:, :, 2]
        bend = np.sum(np.cross(thigh, shin) * left[:, None], axis=-1)
        ahead = lambda v: np.sum(v * forward[:, None], axis=-1)  # noqa: E731
        return (PRIORS["knee"] * _relu(-bend) + PRIORS["toe"] * _relu(-ahead(foot))
                + PRIORS["thigh"] * _relu(-ahead(thigh)))

    def arm_prior(d: np.ndarray) -> np.ndarray:
        ahead = np.sum(d * forward[:, None, None], axis=-1)
        return PRIORS["forearm"] * _relu(-ahead[:, :, 1])

    def head_prior(d: np.ndarray) -> np.ndarray:
        return PRIORS["nose"] * _relu(-np.sum(d[:, :, 0] * forward[:, None], axis=-1))

    for chain in LEGS:
        points[:, list(chain)] = _chain(metric, points[:, chain[0]], chain, lengths, leg_prior)
    for chain in ARMS:
        points[:, list(chain)] = _chain(metric, points[:, chain[0]], chain, lengths, arm_prior)
    points[:, [1, 0]] = _chain(metric, points[:, 1], (1, 0), lengths, head_prior)
    c, s = np.cos(elevation), np.sin(elevation)  # camera frame -> view frame
    depth, up = points[..., 1].copy(), points[..., 2].copy()
    points[..., 1], points[..., 2] = c * depth + s * up, c * up - s * depth
    return _canonical(points)


def _torso_frame(mid: np.ndarray, neck: np.ndarray, left_hip: np.ndarray,
                 right_hip: np.ndarray) -> np.ndarray:
    """Rows left, up, forward (... x 3 x 3) of the torso."""
    up = unit(neck - mid)
    across = left_hip - right_hip
    left = unit(across - np.sum(across * up, axis=-1, keepdims=True) * up)
    return np.stack([left, up, np.cross(left, up)], axis=-2)


_STD_MID = _STANDARD_B25[8]
_STD_FRAME = _torso_frame(_STD_MID, _STANDARD_B25[1], STANDARD_REST[1], STANDARD_REST[2])
_TORSO_JOINTS = (0, 3, 6, 9, 13, 14, 15)  # pelvis, spines, collars, head
_TORSO_OFFSETS = (STANDARD_REST[list(_TORSO_JOINTS)] - _STD_MID) @ _STD_FRAME.T


def _canonical(points: np.ndarray) -> np.ndarray:
    """Canonical joints (T x 24 x 3, pelvis at 0) from 3D BODY_25 points (T x 25 x 3)."""
    out = np.zeros((len(points), 24, 3))
    for joint, keypoint in ((1, 12), (2, 9), (4, 13), (5, 10), (7, 14), (8, 11), (12, 1),
                            (16, 5), (17, 2), (18, 6), (19, 3), (20, 7), (21, 4)):
        out[:, joint] = points[:, keypoint]
    frame = _torso_frame(points[:, 8], points[:, 1], points[:, 12], points[:, 9])
    out[:, list(_TORSO_JOINTS)] = points[:, 8, None] + _TORSO_OFFSETS @ frame
    for foot, ankle, toe in ((10, 7, 19), (11, 8, 22)):
        out[:, foot] = out[:, ankle] + STANDARD_BONE_LENGTHS[foot - 1] * unit(
            points[:, toe] - out[:, ankle])
    for hand, wrist, elbow in ((22, 20, 18), (23, 21, 19)):
        out[:, hand] = out[:, wrist] + STANDARD_BONE_LENGTHS[hand - 1] * unit(
            out[:, wrist] - out[:, elbow])
    return out - out[:, :1]
