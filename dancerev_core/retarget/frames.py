"""Frames of the canonical joints: where each driven joint points and how it twists.

Every driven joint gets a frame from two directions: a primary one it must point along
exactly and a reference that fixes the twist about it. The same rules run once on the
rig's rest points and once on the dance; a joint's world rotation is then
(posed frame) @ (rest frame)^T. Primary directions run from a joint to the next joint
the rig has (the pelvis: along the hip line). References:
- pelvis: tilts about the hip line with the torso (toward the first spine joint well
  above the hips);
- spine: the hip line blended into the shoulder line going up; neck (and with it the
  head: canonical joints carry no face points) the shoulder line;
- collar: the chest's front, across the collar whether level or raised;
- upper arm, thigh: the way the elbow or knee points (`JointFrames._pole`): the bend of a
  bent limb; a straight limb carries its twist along its path (relative to its parent),
  so it never flips;
- forearm, hand, shin, foot: the hinge of the limb above ("hands and feet from their
  chains").
"""

from __future__ import annotations

import numpy as np

from ..errors import DanceRevError
from ..skeletons import CANONICAL_24
from .rest import RigRest
from .rigmaps import END, BoneMap
from .rotations import unit

J = {name: index for index, name in enumerate(CANONICAL_24.joint_names)}
SPINE = ("spine1", "spine2", "spine3", "neck", "head")
SPINE_TWIST = {"spine1": 1 / 3, "spine2": 2 / 3, "spine3": 1.0}
BEND = (0.1, 0.35)  # sin of the limb bend where the bend starts to pull / decides the twist
STRONG_BEND = (0.2, 0.35)  # ... where the bend is trusted even against the carried twist
TWIST_SPEED = np.radians(900.0)  # fastest turn of a carried twist toward a new bend, per s
LIMB_ABOVE = {"elbow": "shoulder", "wrist": "elbow", "knee": "hip", "ankle": "knee"}


def rest_points(rest: RigRest, bone_map: BoneMap) -> np.ndarray:
    """24 x 3 rest positions of the canonical joints on the rig (NaN where unmapped)."""
    points = np.full((CANONICAL_24.num_joints, 3), np.nan)
    for joint, blend in bone_map.points.items():
        total = np.zeros(3)
        for key, weight in blend.items():
            bone = key[:-len(END)] if key.endswith(END) else key
            if bone not in rest.index:
                raise DanceRevError(f"rig map {bone_map.chosen!r} names bone {bone!r}, "
                                    f"which the rig lacks")
            where = rest.tails if key.endswith(END) else rest.heads
            total += weight * where[rest.index[bone]]
        points[J[joint]] = total
    return points


# ------------------------------------------------------------------------ vector helpers
def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1, keepdims=True)


def _perp(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The part of v perpendicular to the unit vector `axis`."""
    return v - _dot(v, axis) * axis


def _smoothstep(x: np.ndarray, edges: tuple[float, float]) -> np.ndarray:
    t = np.clip((x - edges[0]) / (edges[1] - edges[0]), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _turn_toward(axis: np.ndarray, p: np.ndarray, q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Turn unit p (perpendicular to `axis`) about `axis` by fraction w of its angle to q."""
    angle = np.arctan2(_dot(np.cross(p, q), axis), _dot(p, q)) * w
    return p * np.cos(angle) + np.cross(axis, p) * np.sin(angle)


def _swing(u: np.ndarray, v: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Apply to p the shortest rotation taking unit u onto unit v."""
    k = np.cross(u, v)
    c = np.maximum(_dot(u, v), -1.0 + 1e-9)
    return p + np.cross(k, p) + np.cross(k, np.cross(k, p)) / (1.0 + c)


def _frame(a: np.ndarray, r: np.ndarray, backup: np.ndarray,
           size: np.ndarray | None = None) -> np.ndarray:
    """Orthonormal frames (..., 3, 3): column 0 along a, column 1 toward r's part across a;
    as that part shrinks below 30 % of `size` (default: r's own length, i.e. r turns
    parallel to a) column 1 turns smoothly toward `backup`'s part across a instead."""
    e1 = unit(a)
    across = _perp(r, e1)
    if size is None:
        size = np.linalg.norm(r, axis=-1, keepdims=True)
    share = np.linalg.norm(across, axis=-1, keepdims=True) / np.maximum(size, 1e-12)
    e2 = unit(across)
    weak = share < 0.3
    if np.any(weak):
        fallback = unit(_perp(backup, e1))
        e2 = np.where(weak, _turn_toward(e1, fallback, e2, _smoothstep(share, (0.05, 0.3))), e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _any_perpendicular(a: np.ndarray) -> np.ndarray:
    axis = np.eye(3)[np.argmin(np.abs(unit(a)), axis=-1)]
    return np.cross(a, axis)


class JointPlan:
    """What the rig offers: rest points, driven joints, aims and references."""

    def __init__(self, rest: RigRest, bone_map: BoneMap) -> None:
        missing = bone_map.missing()
        if missing:
            raise DanceRevError(f"rig map {bone_map.chosen!r} does not give the solver "
                                f"{', '.join(missing)}")
        self.points = rest_points(rest, bone_map)
        self.has = {name for name in J if np.isfinite(self.points[J[name]]).all()}
        self.drivers = {joint: rest.index[bone] for joint, bone in bone_map.drivers.items()}
        spine = [j for j in SPINE if j in self.has]
        self.aim: dict[str, str] = {}
        for position, joint in enumerate(spine[:-1]):
            if joint != "head":
                self.aim[joint] = spine[position + 1]
        for side in ("left", "right"):
            chain = [f"{side}_{part}" for part in ("collar", "shoulder", "elbow", "wrist",
                                                   "hand")]
            leg = [f"{side}_{part}" for part in ("hip", "knee", "ankle", "foot")]
            for joints in (chain, leg):
                for joint, end in zip(joints, joints[1:], strict=False):
                    if joint in self.has and end in self.has:
                        self.aim[joint] = end
        self.top = "neck" if "neck" in self.has else "head"
        self.chest = next(j for j in ("spine3", "spine2", "spine1") if j in self.has)
        torso = self.points[J[self.top]] - self._mid_hip(self.points[None])[0]
        self.up_ref = self.top
        for joint in spine:
            offset = self.points[J[joint]] - self._mid_hip(self.points[None])[0]
            if offset @ torso > 0.15 * (torso @ torso):
                self.up_ref = joint
                break

    @staticmethod
    def _mid_hip(x: np.ndarray) -> np.ndarray:
        return 0.5 * (x[:, J["left_hip"]] + x[:, J["right_hip"]])

    def parent_joint(self, joint: str) -> str | None:
        parent = CANONICAL_24.parents[J[joint]]
        return None if parent < 0 else CANONICAL_24.joint_names[parent]


class JointFrames:
    """Frames and world rotation deltas of the canonical joints for rest or posed points.

    Solved once on the rest points (`rest=None`: frames only) and once on the posed points
    (deltas = posed frame @ rest frame^T). A joint the rig does not drive moves with its
    canonical parent.
    """

    def __init__(self, plan: JointPlan, x: np.ndarray, rest: JointFrames | None = None,
                 fps: float = 30.0) -> None:
        self.plan, self.x, self.rest, self.fps = plan, x, rest, fps
        self.frames: dict[str, np.ndarray] = {}
        self.deltas: dict[str, np.ndarray] = {}
        self.poles: dict[str, np.ndarray] = {}
        self.hinges: dict[str, np.ndarray] = {}
        self.reference: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        identity = np.broadcast_to(np.eye(3), (x.shape[0], 3, 3))
        for joint in (CANONICAL_24.joint_names[i] for i in CANONICAL_24.topological_order):
            parent = plan.parent_joint(joint)
            parent_delta = identity if parent is None else self.deltas[parent]
            if joint in plan.drivers and (joint in plan.aim or joint == "pelvis"):
                frame = self._joint_frame(joint, parent_delta)
                self.frames[joint] = frame
                self.deltas[joint] = (identity if rest is None
                                      else frame @ np.swapaxes(rest.frames[joint], -1, -2))
            else:
                self.deltas[joint] = parent_delta

    def vec(self, start: str, end: str) -> np.ndarray:
        return self.x[:, J[end]] - self.x[:, J[start]]

    def _forward_rest(self) -> np.ndarray:
        left = unit(self.vec("right_hip", "left_hip"))
        up = unit(self.x[:, J[self.plan.top]] - JointPlan._mid_hip(self.x))
        return unit(np.cross(left, up))

    def _joint_frame(self, joint: str, parent_delta: np.ndarray) -> np.ndarray:
        plan = self.plan
        side, _, part = joint.partition("_")
        size = None
        if joint == "pelvis":
            a = self.vec("right_hip", "left_hip")
            r = self.x[:, J[plan.up_ref]] - JointPlan._mid_hip(self.x)
        else:
            a = self.vec(joint, plan.aim[joint])
            if joint in SPINE_TWIST or joint == "neck":
                weight = SPINE_TWIST.get(joint, 1.0)
                r = ((1 - weight) * unit(self.vec("right_hip", "left_hip"))
                     + weight * unit(self.vec("right_shoulder", "left_shoulder")))
            elif part == "collar":  # the chest's front: across a collar whether level or raised
                up = self.x[:, J[plan.top]] - self.x[:, J[plan.chest]]
                r = np.cross(self.vec("right_shoulder", "left_shoulder"), up)
            elif part in ("shoulder", "hip"):
                r = self._pole(joint, side, part, a, parent_delta)
            else:  # forearm, hand, shin, foot: keep the hinge of the limb above
                r = np.cross(self.hinges[f"{side}_{LIMB_ABOVE[part]}"], unit(a))
                size = 1.0  # weak where the bone turns along the hinge itself
        if self.rest is None:
            backup = _any_perpendicular(a)
        else:
            backup = parent_delta @ self.rest.frames[joint][0, :, 1]
        frame = _frame(a, r, backup, size)
        if part in LIMB_ABOVE.values() or part in LIMB_ABOVE:
            self.hinges[joint] = frame[..., 2]
        return frame

    def _pole(self, joint: str, side: str, part: str, a: np.ndarray,
              parent_delta: np.ndarray) -> np.ndarray:
        """The twist reference of an upper arm or thigh: the way its elbow or knee points.

        A clearly bent limb (bend above ~20 degrees) points its elbow or knee along the
        bend, turning toward it at most TWIST_SPEED. Otherwise the twist is carried along:
        the limb's direction, seen from its parent, moves from frame to frame and the twist
        goes with it by parallel transport (no twist of its own); a slight bend pulls it
        gradually toward itself, and only when it roughly agrees, so a knee locked a few
        degrees backward never turns the kneecap round. The twist starts as the first
        clearly bent frame has it (else: elbow or knee to the front of a limb held out
        sideways or hanging down).
        """
        plan = self.plan
        axis = unit(a)
        bend = _perp(unit(self.vec(plan.aim[joint], plan.aim[plan.aim[joint]])), axis)
        if part == "hip":
            bend = -bend  # a knee points against the way the shin folds
        strength = np.linalg.norm(bend, axis=-1)
        bend = unit(bend)
        if self.rest is None:
            forward = self._forward_rest()
            if part == "hip":
                reference = -unit(self.x[:, J[plan.top]] - JointPlan._mid_hip(self.x))
            else:
                reference = unit(self.vec("right_shoulder", "left_shoulder"))
                reference = reference if side == "left" else -reference
            self.reference[joint] = (reference[0], unit(_perp(forward, reference))[0])
            held = unit(_perp(forward, axis))
            pole = _turn_toward(axis, held, bend, _smoothstep(strength, BEND)[:, None])
        else:
            pole = self._carried_pole(joint, axis, bend, strength, parent_delta)
        self.poles[joint] = pole
        return pole

    def _carried_pole(self, joint: str, axis: np.ndarray, bend: np.ndarray,
                      strength: np.ndarray, parent_delta: np.ndarray) -> np.ndarray:
        inverse = np.swapaxes(parent_delta, -1, -2)
        local = np.einsum("tij,tj->ti", inverse, axis)
        start_axis, start_pole = self.rest.reference[joint]
        first = _swing(start_axis, local[0], start_pole)
        steps = np.broadcast_to(np.eye(3), (len(local), 3, 3)).copy()
        steps[1:] = _swing_matrices(local[:-1], local[1:])
        carried = np.einsum("tij,j->ti", _prefix_products(steps), first)
        carried = unit(_perp(np.einsum("tij,tj->ti", parent_delta, carried), axis))
        # Twist angle of the pole from the carried reference, filtered over time.
        target = np.arctan2(_dot(np.cross(carried, bend), axis), _dot(carried, bend))[:, 0]
        weak = _smoothstep(strength, BEND).tolist()
        strong = _smoothstep(strength, STRONG_BEND).tolist()
        trusted = np.flatnonzero(strength >= STRONG_BEND[1])
        angle = float(target[trusted[0]]) if len(trusted) else 0.0  # carried back in time
        limit = TWIST_SPEED / self.fps
        angles = np.empty(len(target))
        for t, (goal, w, s) in enumerate(zip(target.tolist(), weak, strong, strict=True)):
            gap = (goal - angle + np.pi) % (2 * np.pi) - np.pi
            agree = min(max(np.cos(gap) / 0.6 + 0.5, 0.0), 1.0)
            angle += min(max(w * (agree + (1.0 - agree) * s) * gap, -limit), limit)
            angles[t] = angle
        angles = angles[:, None]
        return carried * np.cos(angles) + np.cross(axis, carried) * np.sin(angles)


def _swing_matrices(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest rotations (N x 3 x 3) taking unit vectors u onto unit vectors v."""
    k = np.cross(u, v)
    c = np.maximum(np.sum(u * v, axis=-1), -1.0 + 1e-9)
    cross = np.zeros(k.shape + (3,))
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    cross[:, 1, 0], cross[:, 2, 0], cross[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    return np.eye(3) + cross + cross @ cross / (1.0 + c)[:, None, None]


def _prefix_products(steps: np.ndarray) -> np.ndarray:
    """out[t] = steps[t] @ steps[t-1] @ ... @ steps[0], in log2(T) batched products."""
    out = steps.copy()
    shift = 1
    while shift < len(out):
        out[shift:] = out[shift:] @ out[:-shift]
        shift *= 2
    return out
