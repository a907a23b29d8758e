"""The body the lifters assume: one standard skeleton and the BODY_25 keypoints they read.

A single image cannot tell a tall dancer far away from a short one nearby, so both lifters
answer for one standard body. It is the CMU subjects 60/61 rest pose (Daz skeleton, a
T-pose) mapped to the canonical joints, made left/right symmetric and scaled to the total
bone length of CMU subject 5 (4.88 m over the 23 bones, an adult of about 1.7 m). Training
data are scaled to the same total (`standardize`), because the `_scaled` CMU files of
subjects 60/61 are about 0.72 times life size.
"""

from __future__ import annotations

import numpy as np

from ..body_frame import bone_lengths
from ..skeletons import BODY_25, CANONICAL_24

# Canonical joints of the standard body in a T-pose: metres, pelvis at the origin, Z up,
# facing -Y, its left side at +X.
STANDARD_REST = np.array([
    (0.000, 0.000, 0.000),  # pelvis
    (0.095, 0.011, 0.029),  # left_hip
    (-0.095, 0.011, 0.029),  # right_hip
    (0.000, 0.004, 0.112),  # spine1
    (0.095, 0.003, -0.370),  # left_knee
    (-0.095, 0.003, -0.370),  # right_knee
    (0.000, 0.008, 0.224),  # spine2
    (0.087, 0.058, -0.859),  # left_ankle
    (-0.087, 0.058, -0.859),  # right_ankle
    (0.000, 0.013, 0.351),  # spine3
    (0.099, -0.073, -0.899),  # left_foot
    (-0.099, -0.073, -0.899),  # right_foot
    (0.000, 0.037, 0.591),  # neck
    (0.029, 0.066, 0.560),  # left_collar
    (-0.029, 0.066, 0.560),  # right_collar
    (0.000, 0.024, 0.668),  # head
    (0.124, 0.050, 0.539),  # left_shoulder
    (-0.124, 0.050, 0.539),  # right_shoulder
    (0.429, 0.045, 0.520),  # left_elbow
    (-0.429, 0.045, 0.520),  # right_elbow
    (0.674, -0.032, 0.528),  # left_wrist
    (-0.674, -0.032, 0.528),  # right_wrist
    (0.764, -0.069, 0.541),  # left_hand
    (-0.764, -0.069, 0.541),  # right_hand
], dtype=np.float64)

PARENTS = np.array(CANONICAL_24.parents)
BONES = np.arange(1, CANONICAL_24.num_joints)  # bone b ends at joint b, starts at its parent

# Height of joint centres above the floor when standing on a flat foot (standard body):
# the lowest of these "soles" is what touches the ground.
SOLE_HEIGHTS = {7: 0.080, 8: 0.080, 10: 0.030, 11: 0.030}

# BODY_25 keypoints the lifters read: those with a canonical counterpart (MidHip is the
# midpoint of the hips, the big toes are the canonical feet) plus the nose, which tells
# facing the camera from facing away. Eyes, ears, small toes and heels are not used.
LIFTER_KEYPOINTS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 19, 22)
ROOT_KEYPOINT = BODY_25.root  # MidHip
INPUT_KEYPOINTS = tuple(k for k in LIFTER_KEYPOINTS if k != ROOT_KEYPOINT)


STANDARD_BONE_LENGTHS = bone_lengths(STANDARD_REST)
STANDARD_TOTAL_LENGTH = float(STANDARD_BONE_LENGTHS.sum())


def standardize(positions: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale a clip (T x 24 x 3) to the standard body's total bone length; (scaled, factor)."""
    total = float(bone_lengths(positions).sum(axis=-1).mean())
    factor = STANDARD_TOTAL_LENGTH / total
    return np.asarray(positions, dtype=np.float64) * factor, factor
