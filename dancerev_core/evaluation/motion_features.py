"""Per-dance feature vectors of the 3D benchmark (AIST++ / Bailando style) for FID_k, FID_g.

Both work on canonical 24-joint motions (metres, Z up, facing -Y) and give one vector per
dance, so the Frechet distance compares the set of real dances with the set of generated
ones. The frame rate enters the kinetic features and is reported with them.

Kinetic (72 values, `kinetic_features`): for each joint, the mean horizontal kinetic energy
0.5 (vx^2 + vy^2), the mean vertical kinetic energy 0.5 vz^2, and the mean acceleration
magnitude, with central differences in metres per second.

Geometric (32 values, `geometric_features`): the share of frames in which each of 32
boolean relations between body parts holds, after Mueller et al. (2005): hands above the
head, bent knees, a foot in front of the body plane, ... (`GEOMETRIC_RELATIONS` lists them).
Distances are measured in units of the dancer's upper-arm length, so the relations do not
depend on body size.
"""

from __future__ import annotations

import numpy as np

from ..skeletons import CANONICAL_24

J = {name: index for index, name in enumerate(CANONICAL_24.joint_names)}


def kinetic_features(positions: np.ndarray, fps: float) -> np.ndarray:
    """72 values: per joint horizontal KE, vertical KE, mean acceleration magnitude."""
    p = np.asarray(positions, dtype=np.float64)
    if p.shape[0] < 3:
        return np.zeros(3 * p.shape[1])
    velocity = (p[2:] - p[:-2]) * (fps / 2.0)
    acceleration = (p[2:] - 2.0 * p[1:-1] + p[:-2]) * fps ** 2
    horizontal = 0.5 * (velocity[..., 0] ** 2 + velocity[..., 1] ** 2).mean(axis=0)
    vertical = 0.5 * (velocity[..., 2] ** 2).mean(axis=0)
    expenditure = np.linalg.norm(acceleration, axis=-1).mean(axis=0)
    return np.stack([horizontal, vertical, expenditure], axis=1).reshape(-1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at b (degrees) between b->a and b->c, per frame."""
    cosine = (_unit(a - b) * _unit(c - b)).sum(axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _side_relations(p: np.ndarray, side: str, other: str, frame: dict) -> dict[str, np.ndarray]:
    """The relations that exist once per side; `frame` holds the body's axes and scale."""
    unit, forward, lateral = frame["unit"], frame["forward"], frame["lateral"]
    wrist, elbow, shoulder = (p[:, J[f"{side}_{n}"]] for n in ("wrist", "elbow", "shoulder"))
    hip, knee, ankle = (p[:, J[f"{side}_{n}"]] for n in ("hip", "knee", "ankle"))
    other_ankle = p[:, J[f"{other}_ankle"]]
    pelvis, neck, head = p[:, J["pelvis"]], p[:, J["neck"]], p[:, J["head"]]
    sign = 1.0 if side == "left" else -1.0  # the left side is +lateral
    hand_front = ((wrist - pelvis) * forward).sum(-1)
    foot_front = ((ankle - pelvis) * forward).sum(-1)
    hand_side = ((wrist - pelvis) * lateral).sum(-1) * sign
    foot_side = ((ankle - pelvis) * lateral).sum(-1) * sign
    return {
        f"{side} hand above head": wrist[:, 2] > head[:, 2],
        f"{side} hand above neck": wrist[:, 2] > neck[:, 2],
        f"{side} hand in front of body": hand_front > 0.3 * unit,
        f"{side} hand behind body": hand_front < -0.3 * unit,
        f"{side} elbow bent": _angle(shoulder, elbow, wrist) < 110.0,
        f"{side} arm out to the side": hand_side > 1.5 * unit,
        f"{side} hand across the midline": hand_side < -0.1 * unit,
        f"{side} hand near head": np.linalg.norm(wrist - head, axis=-1) < 0.8 * unit,
        f"{side} knee bent": _angle(hip, knee, ankle) < 140.0,
        f"{side} foot raised": ankle[:, 2] - other_ankle[:, 2] > 0.3 * unit,
        f"{side} foot in front of body": foot_front > 0.5 * unit,
        f"{side} foot behind body": foot_front < -0.5 * unit,
        f"{side} leg out to the side": foot_side > 1.2 * unit,
    }


def _body_frame(p: np.ndarray) -> dict:
    up = np.array([0.0, 0.0, 1.0])
    across = p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]]
    across[:, 2] = 0.0
    lateral = _unit(across)
    forward = np.cross(lateral, up)
    upper_arm = np.concatenate([
        np.linalg.norm(p[:, J[f"{s}_elbow"]] - p[:, J[f"{s}_shoulder"]], axis=-1)
        for s in ("left", "right")])
    return {"unit": max(float(np.median(upper_arm)), 1e-6), "forward": forward,
            "lateral": lateral, "up": up}


def _relations(p: np.ndarray) -> dict[str, np.ndarray]:
    frame = _body_frame(p)
    unit = frame["unit"]
    relations = {**_side_relations(p, "left", "right", frame),
                 **_side_relations(p, "right", "left", frame)}
    pelvis, neck = p[:, J["pelvis"]], p[:, J["neck"]]
    ankles = p[:, [J["left_ankle"], J["right_ankle"]]]
    hips = p[:, J["left_hip"]] - p[:, J["right_hip"]]
    shoulders = p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]]
    hip_heading = np.arctan2(hips[:, 1], hips[:, 0])
    shoulder_heading = np.arctan2(shoulders[:, 1], shoulders[:, 0])
    twist = np.degrees(np.abs(np.angle(np.exp(1j * (shoulder_heading - hip_heading)))))
    lowest = ankles[..., 2].min(axis=1)
    relations.update({
        "hands together": np.linalg.norm(p[:, J["left_wrist"]] - p[:, J["right_wrist"]],
                                         axis=-1) < 0.5 * unit,
        "feet wide apart": np.linalg.norm(ankles[:, 0] - ankles[:, 1], axis=-1) > 2.5 * unit,
        "torso leaning": _angle(neck, pelvis, pelvis + frame["up"]) > 30.0,
        "crouching": pelvis[:, 2] - lowest < 2.3 * unit,
        "both feet off the ground": lowest - lowest.min() > 0.3 * unit,
        "shoulders twisted against hips": twist > 30.0,
    })
    return relations


GEOMETRIC_RELATIONS: tuple[str, ...] = tuple(_relations(np.zeros((1, 24, 3))).keys())


def geometric_features(positions: np.ndarray) -> np.ndarray:
    """32 values: the share of frames in which each relation in GEOMETRIC_RELATIONS holds."""
    relations = _relations(np.asarray(positions, dtype=np.float64))
    return np.array([relations[name].mean() for name in GEOMETRIC_RELATIONS])
