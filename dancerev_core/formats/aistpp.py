"""AIST++ motion files (pickles of numpy arrays) to DanceRev motions.

An AIST++ motion pickle holds `smpl_poses` (T x 72: 24 axis-angle rotations in SMPL joint
order, which is the canonical 24-joint order), `smpl_trans` (T x 3) and `smpl_scaling` (1,);
translation in metres is `smpl_trans / smpl_scaling`. A keypoint pickle holds `keypoints3d`
(T x 17 x 3, COCO-17 order, centimetres). AIST++ runs at 60 FPS, Y up, the dancer facing +Z;
DanceRev's canonical frame is Z up, facing -Y, so (x, y, z) -> (x, -z, y), a proper rotation
(the person's left stays +x).

Pickles are read through `safe_pickle` (numpy arrays and plain containers only), because
AIST++ is a known public dataset; user files are never unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DanceRevError, InputFileError
from ..motion import Motion
from ..skeletons import CANONICAL_24
from .safe_pickle import safe_load_pickle

AISTPP_FPS = 60.0

# AIST++ (Y up, facing +Z) to canonical (Z up, facing -Y): (x, y, z) -> (x, -z, y).
AISTPP_TO_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# DanceRev's own neutral adult rest skeleton: a T-pose, metres, canonical axes (Z up, facing
# -Y, the person's left at +x), each joint's offset from its parent (CANONICAL_24 order).
# These are round numbers for a person about 1.70 m tall (pelvis ~0.95 m above the floor,
# shoulders ~1.39 m, head joint ~1.54 m with the crown ~0.16 m above it, arm span ~1.75 m).
# They are NOT SMPL's joint positions (SMPL's model data may not be shipped), so joint
# positions computed with them are approximate: proportions differ from SMPL's. The pelvis
# entry is its position relative to the body-model origin that `smpl_trans` moves: SMPL's
# pelvis sits roughly 0.2 m below that origin.
REST_OFFSETS = np.array([
    [0.00, 0.00, -0.20],   # pelvis (from the model origin)
    [0.07, 0.00, -0.08],   # left_hip
    [-0.07, 0.00, -0.08],  # right_hip
    [0.00, 0.01, 0.11],    # spine1
    [0.00, 0.00, -0.38],   # left_knee
    [0.00, 0.00, -0.38],   # right_knee
    [0.00, 0.00, 0.13],    # spine2
    [0.00, 0.02, -0.40],   # left_ankle
    [0.00, 0.02, -0.40],   # right_ankle
    [0.00, -0.01, 0.05],   # spine3
    [0.00, -0.12, -0.06],  # left_foot (ball of the foot: forward and down from the ankle)
    [0.00, -0.12, -0.06],  # right_foot
    [0.00, 0.02, 0.21],    # neck
    [0.07, 0.01, 0.12],    # left_collar
    [-0.07, 0.01, 0.12],   # right_collar
    [0.00, -0.04, 0.09],   # head
    [0.12, 0.00, 0.03],    # left_shoulder
    [-0.12, 0.00, 0.03],   # right_shoulder
    [0.26, 0.00, 0.00],    # left_elbow
    [-0.26, 0.00, 0.00],   # right_elbow
    [0.25, 0.00, 0.00],    # left_wrist
    [-0.25, 0.00, 0.00],   # right_wrist
    [0.08, 0.00, 0.00],    # left_hand
    [-0.08, 0.00, 0.00],   # right_hand
])

COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# The raw COCO-17 motion's skeleton name (not a named joint set: it has its own tree,
# rooted at left_hip since COCO has no pelvis).
COCO17_SKELETON = "coco17"
COCO17_PARENTS = (5, 0, 0, 1, 2, 11, 5, 5, 6, 7, 8, -1, 11, 11, 12, 13, 14)

# keypoints3d whose typical frame spans more than this many units are centimetres.
_CENTIMETRE_SPAN = 10.0


def read_aistpp(path: str | Path, fps: float = AISTPP_FPS) -> Motion:
    """Read an AIST++ motion (SMPL) or keypoint pickle.

    With `smpl_poses`: forward kinematics over `REST_OFFSETS` gives CANONICAL_24 positions in
    metres (approximate, since the rest skeleton is ours, not SMPL's). With only
    `keypoints3d`: a raw motion (skeleton "coco17") of the 17 COCO joints in metres and
    canonical axes; see `coco17_to_canonical`.
    """
    path = Path(path)
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise InputFileError(path, "not an AIST++ motion file: expected a dict of arrays")
    if "smpl_poses" in data:
        return _smpl_motion(path, data, fps)
    if "keypoints3d" in data:
        return _keypoint_motion(path, data, fps)
    raise InputFileError(path, "not an AIST++ motion file: expected smpl_poses (with "
                               "smpl_trans and smpl_scaling) or keypoints3d")


def coco17_to_canonical(motion: Motion) -> Motion:
    """Approximate the 24 canonical joints from COCO-17 3D keypoints (metres, canonical axes).

    Rules: pelvis = mid hips; hips, knees, ankles, shoulders, elbows, wrists are copied;
    neck = mid shoulders; spine1/2/3 = 1/4, 1/2, 3/4 of the way from pelvis to neck;
    each collar = midway between neck and its shoulder; head = mid ears (eyes and nose are
    not used: they sit on the face, in front of the head joint); each hand = wrist extended
    along elbow->wrist by the rest skeleton's hand/forearm ratio (0.32); each foot = ankle
    moved by the rest foot offset (0.12 m forward, 0.06 m down), forward being the facing
    direction of the hips (horizontal, perpendicular to right_hip->left_hip). A derived
    joint's confidence is the lowest of the joints it comes from.
    """
    if motion.joint_names != COCO17_JOINTS or motion.dims != 3:
        raise DanceRevError("coco17_to_canonical needs a 3D motion with the 17 COCO joints")
    source = motion.to_absolute().positions.astype(np.float64)
    weights = _coco17_weights()
    positions = np.einsum("jk,tkd->tjd", weights, source)
    for foot, ankle in (("left_foot", "left_ankle"), ("right_foot", "right_ankle")):
        positions[:, CANONICAL_24.index(foot)] = _foot(source, ankle)
    confidence = None
    if motion.confidence is not None:
        confidence = _derived_confidence(motion.confidence, weights)
    meta = {**motion.meta, "converted_from": COCO17_SKELETON, "approximate": True}
    return Motion(positions=positions.astype(np.float32), fps=motion.fps,
                  skeleton=CANONICAL_24.name, joint_names=CANONICAL_24.joint_names,
                  confidence=confidence, meta=meta)


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula over the last axis: (..., 3) rotation vectors to (..., 3, 3)."""
    vectors = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(vectors, axis=-1)[..., None, None]
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    zero = np.zeros_like(x)
    cross = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1),
                      np.stack([-y, x, zero], -1)], -2)
    small = angle < 1e-6
    safe = np.where(small, 1.0, angle)
    # sin(a)/a and (1 - cos(a))/a^2, with their Taylor limits near zero.
    sinc = np.where(small, 1.0 - angle**2 / 6.0, np.sin(safe) / safe)
    cosc = np.where(small, 0.5 - angle**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    return np.eye(3) + sinc * cross + cosc * (cross @ cross)


def forward_kinematics(rotations: np.ndarray, root: np.ndarray,
                       offsets: np.ndarray = REST_OFFSETS,
                       parents: tuple[int, ...] = CANONICAL_24.parents) -> np.ndarray:
    """Joint positions (T x J x 3) from local rotations (T x J x 3 x 3) over rest offsets.

    `root` (T x 3) translates the root's rest offset; each joint's rotation turns the
    subtree below it. Parents must come before their children (true for SMPL order).
    """
    frames, joints = rotations.shape[:2]
    positions = np.zeros((frames, joints, 3))
    world = np.zeros((frames, joints, 3, 3))
    for joint, parent in enumerate(parents):
        if parent == -1:
            positions[:, joint] = root + offsets[joint]
            world[:, joint] = rotations[:, joint]
        else:
            positions[:, joint] = positions[:, parent] + world[:, parent] @ offsets[joint]
            world[:, joint] = world[:, parent] @ rotations[:, joint]
    return positions


# ---------------------------------------------------------------------- the two file kinds
def _smpl_motion(path: Path, data: dict[str, Any], fps: float) -> Motion:
    """SMPL parameters to canonical joint positions by forward kinematics."""
    for key in ("smpl_trans", "smpl_scaling"):
        if key not in data:
            raise InputFileError(path, f"has smpl_poses but no {key}")
    poses = _numbers(path, data, "smpl_poses")
    if poses.ndim == 2 and poses.shape[1] == 72:
        poses = poses.reshape(len(poses), 24, 3)
    if poses.ndim != 3 or poses.shape[1:] != (24, 3) or len(poses) == 0:
        raise InputFileError(path, f"smpl_poses has shape {poses.shape}, expected T x 72")
    trans = _numbers(path, data, "smpl_trans")
    if trans.shape != (len(poses), 3):
        raise InputFileError(path, f"smpl_trans has shape {trans.shape}, expected "
                                   f"{len(poses)} x 3 (one row per smpl_poses frame)")
    scaling = _numbers(path, data, "smpl_scaling")
    if scaling.size != 1 or not scaling.reshape(-1)[0] > 0:
        raise InputFileError(path, "smpl_scaling must be one positive number")
    rotations = axis_angle_to_matrix(poses @ AISTPP_TO_CANONICAL.T)  # vectors change axes
    root = (trans / scaling.reshape(-1)[0]) @ AISTPP_TO_CANONICAL.T
    positions = forward_kinematics(rotations, root)
    meta = {"source": str(path), "source_format": "aistpp", "units": "m",
            "rest_skeleton": "DanceRev neutral adult (approximate; not SMPL's proportions)"}
    return Motion(positions=positions.astype(np.float32), fps=fps, skeleton=CANONICAL_24.name,
                  joint_names=CANONICAL_24.joint_names, meta=meta)


def _keypoint_motion(path: Path, data: dict[str, Any], fps: float) -> Motion:
    """COCO-17 keypoints to a raw motion in metres and canonical axes."""
    keypoints = _numbers(path, data, "keypoints3d")
    if keypoints.ndim != 3 or keypoints.shape[1:] != (17, 3) or len(keypoints) == 0:
        raise InputFileError(path, f"keypoints3d has shape {keypoints.shape}, expected "
                                   "T x 17 x 3 (COCO-17)")
    span = np.median(np.linalg.norm(np.ptp(keypoints, axis=1), axis=-1))
    centimetres = bool(span > _CENTIMETRE_SPAN)
    metres = keypoints / 100.0 if centimetres else keypoints
    meta = {"source": str(path), "source_format": "aistpp-keypoints3d", "units": "m",
            "source_units": "cm" if centimetres else "m"}
    return Motion(positions=(metres @ AISTPP_TO_CANONICAL.T).astype(np.float32), fps=fps,
                  skeleton=COCO17_SKELETON, joint_names=COCO17_JOINTS, parents=COCO17_PARENTS,
                  meta=meta)


def _numbers(path: Path, data: dict[str, Any], key: str) -> np.ndarray:
    """An entry as a float64 array of finite numbers, or a one-line error."""
    try:
        values = np.asarray(data[key])
    except (ValueError, OverflowError):
        values = np.asarray(None)
    if values.dtype.kind not in "iuf":
        raise InputFileError(path, f"{key} is not an array of numbers")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise InputFileError(path, f"{key} has NaN or infinite values")
    return values


# ---------------------------------------------------------------------- COCO-17 rules
def _coco17_weights() -> np.ndarray:
    """24 x 17 weights: each canonical joint as a blend of COCO joints (feet: ankle only)."""
    def one(name: str) -> np.ndarray:
        row = np.zeros(len(COCO17_JOINTS))
        row[COCO17_JOINTS.index(name)] = 1.0
        return row

    pelvis = 0.5 * (one("left_hip") + one("right_hip"))
    neck = 0.5 * (one("left_shoulder") + one("right_shoulder"))
    hand_ratio = np.linalg.norm(REST_OFFSETS[CANONICAL_24.index("left_hand")]) / \
        np.linalg.norm(REST_OFFSETS[CANONICAL_24.index("left_wrist")])
    rows = {"pelvis": pelvis, "neck": neck, "head": 0.5 * (one("left_ear") + one("right_ear"))}
    for name, fraction in (("spine1", 0.25), ("spine2", 0.5), ("spine3", 0.75)):
        rows[name] = (1.0 - fraction) * pelvis + fraction * neck
    for side in ("left", "right"):
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            rows[f"{side}_{part}"] = one(f"{side}_{part}")
        rows[f"{side}_collar"] = 0.5 * (neck + one(f"{side}_shoulder"))
        rows[f"{side}_hand"] = (1.0 + hand_ratio) * one(f"{side}_wrist") - \
            hand_ratio * one(f"{side}_elbow")
        rows[f"{side}_foot"] = one(f"{side}_ankle")
    return np.stack([rows[name] for name in CANONICAL_24.joint_names])


def _foot(source: np.ndarray, ankle: str) -> np.ndarray:
    """Ankle plus the rest foot offset, turned to face where the hips face."""
    hips = source[:, COCO17_JOINTS.index("left_hip")] - source[:, COCO17_JOINTS.index("right_hip")]
    left = hips * np.array([1.0, 1.0, 0.0])
    length = np.linalg.norm(left, axis=-1, keepdims=True)
    left = np.where(length > 1e-9, left / np.maximum(length, 1e-9), [1.0, 0.0, 0.0])
    up = np.array([0.0, 0.0, 1.0])
    facing = np.cross(left, up)  # left x up = -Y when left is +X: the canonical facing
    offset = REST_OFFSETS[CANONICAL_24.index("left_foot")]
    # The rest offset is in body axes (left = +x, back = +y, up = +z).
    moved = offset[0] * left - offset[1] * facing + offset[2] * up
    return source[:, COCO17_JOINTS.index(ankle)] + moved


def _derived_confidence(confidence: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per canonical joint, the lowest confidence among the COCO joints it is made from."""
    sources = weights != 0
    for foot in ("left_foot", "right_foot"):  # feet also use both hips for the facing
        sources[CANONICAL_24.index(foot), [COCO17_JOINTS.index("left_hip"),
                                           COCO17_JOINTS.index("right_hip")]] = True
    masked = np.where(sources[None], confidence[:, None, :], np.inf)
    return masked.min(axis=2).astype(np.float32)
