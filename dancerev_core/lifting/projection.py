"""From canonical 3D joints to BODY_25 keypoints as a camera would film them.

`body25_from_canonical` places the 25 BODY_25 points on a canonical skeleton (T x 24 x 3):
Neck, shoulders, elbows, wrists, hips, knees and ankles are canonical joints, MidHip is the
midpoint of the hips, the big toes are the canonical feet; nose, eyes and ears sit at fixed
offsets in the head's frame (up along neck -> head, left along the shoulder line), small toes
and heels at fixed offsets in the foot's frame (forward along ankle -> foot, down along the
shin), all scaled with the body. Only the points the lifter reads matter for it (see
`skeleton.LIFTER_KEYPOINTS`); the rest make a complete, plausible BODY_25 figure.

A `Camera` is a pinhole looking at a target point from `distance` metres, tilted down by
`elevation`, after the world is turned by `yaw` about the vertical (Z) axis through the
target. The turned world is the "view frame" the lifter answers in: X to the image's right,
Y away from the camera, Z up; a dancer facing the camera faces -Y, DanceRev's front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion import Motion, normalize_image_coordinates
from ..retarget.rotations import unit
from ..skeletons import BODY_25
from .skeleton import STANDARD_TOTAL_LENGTH, bone_lengths

# Offsets in metres for the standard body: (forward, up, left) in the head frame.
_FACE = {0: (0.10, 0.02, 0.0), 15: (0.085, 0.055, -0.032), 16: (0.085, 0.055, 0.032),
         17: (-0.01, 0.03, -0.075), 18: (-0.01, 0.03, 0.075)}
# (forward, down, outward) in the foot frame, per side: (big toe, small toe, heel).
_FOOT = ((0.025, 0.0, -0.02), (0.0, 0.0, 0.035), (-0.05, 0.055, 0.0))
_SIDES = ((7, 10, 4, 1.0, (19, 20, 21)), (8, 11, 5, -1.0, (22, 23, 24)))  # ankle, foot, knee
_DIRECT = {1: 12, 2: 17, 3: 19, 4: 21, 5: 16, 6: 18, 7: 20, 9: 2, 10: 5, 11: 8, 12: 1,
           13: 4, 14: 7}


def _orthogonal(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Unit part of v orthogonal to the unit vector `axis`."""
    return unit(v - np.sum(v * axis, axis=-1, keepdims=True) * axis)


def body25_from_canonical(positions: np.ndarray) -> np.ndarray:
    """BODY_25 points (... x 25 x 3) on canonical joints (... x 24 x 3); see the module."""
    p = np.asarray(positions, dtype=np.float64)
    out = np.zeros(p.shape[:-2] + (BODY_25.num_joints, 3))
    for keypoint, joint in _DIRECT.items():
        out[..., keypoint, :] = p[..., joint, :]
    out[..., 8, :] = 0.5 * (p[..., 1, :] + p[..., 2, :])
    size = (bone_lengths(p).sum(axis=-1) / STANDARD_TOTAL_LENGTH)[..., None]
    up = unit(p[..., 15, :] - p[..., 12, :])
    left = _orthogonal(p[..., 16, :] - p[..., 17, :], up)
    forward = np.cross(left, up)
    for keypoint, (f, u, s) in _FACE.items():
        out[..., keypoint, :] = p[..., 15, :] + size * (f * forward + u * up + s * left)
    for ankle, foot, knee, side, keypoints in _SIDES:
        toe_dir = unit(p[..., foot, :] - p[..., ankle, :])
        down = _orthogonal(p[..., ankle, :] - p[..., knee, :], toe_dir)
        outward = side * np.cross(toe_dir, down)
        for keypoint, (f, d, o), base in zip(keypoints, _FOOT, (foot, foot, ankle),
                                             strict=True):
            out[..., keypoint, :] = p[..., base, :] + size * (f * toe_dir + d * down
                                                              + o * outward)
    return out


def yaw_matrix(yaw: float | np.ndarray) -> np.ndarray:
    """Rotation(s) about Z by `yaw` radians (... x 3 x 3)."""
    c, s = np.cos(yaw), np.sin(yaw)
    zero, one = np.zeros_like(c), np.ones_like(c)
    return np.stack([np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1),
                     np.stack([zero, zero, one], -1)], -2)


def _lead(value: float | np.ndarray, points: np.ndarray, trailing: int) -> np.ndarray:
    """A per-camera parameter (scalar or B) shaped to broadcast over `points`' frames."""
    value = np.asarray(value, dtype=np.float64)
    return value.reshape(value.shape + (1,) * (points.ndim - value.ndim - trailing))


def to_view(points: np.ndarray, yaw: float | np.ndarray,
            target: np.ndarray) -> np.ndarray:
    """World points (B... x N... x 3) turned by `yaw` (B...) about Z through `target`
    (B... x 3): the view frame."""
    points = np.asarray(points, dtype=np.float64)
    c, s = np.cos(_lead(yaw, points, 1)), np.sin(_lead(yaw, points, 1))
    target = np.asarray(target, dtype=np.float64)
    target = target.reshape(target.shape[:-1] + (1,) * (points.ndim - target.ndim) + (3,))
    x, y = points[..., 0] - target[..., 0], points[..., 1] - target[..., 1]
    return np.stack([c * x - s * y + target[..., 0], s * x + c * y + target[..., 1],
                     points[..., 2] + 0 * target[..., 2]], axis=-1)


def project(points: np.ndarray, yaw: float | np.ndarray, elevation: float | np.ndarray,
            distance: float | np.ndarray, focal: float | np.ndarray,
            width: float | np.ndarray, height: float | np.ndarray,
            target: np.ndarray) -> np.ndarray:
    """World points (B... x N... x 3) to pixels (... x 2) for cameras given per B...:
    x right, y down, origin top-left (see `Camera`)."""
    points = np.asarray(points, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    view = to_view(points, yaw, target)
    view = view - target.reshape(target.shape[:-1] + (1,) * (points.ndim - target.ndim) + (3,))
    c, s = np.cos(_lead(elevation, points, 1)), np.sin(_lead(elevation, points, 1))
    distance = _lead(distance, points, 1)
    # Camera at target + distance * (0, -cos e, sin e), looking at the target.
    x = view[..., 0]
    forward = view[..., 1] + distance * c
    above = view[..., 2] - distance * s
    up = s * forward + c * above
    depth = np.maximum(c * forward - s * above, 1e-3)
    focal = _lead(focal, points, 1)
    return np.stack([_lead(width, points, 1) / 2 + focal * x / depth,
                     _lead(height, points, 1) / 2 - focal * up / depth], axis=-1)


@dataclass(frozen=True)
class Camera:
    """A pinhole camera; see the module docstring for the frames."""

    yaw: float  # radians: the world turns by this about Z through `target` first
    elevation: float  # radians the camera looks down (negative: looks up)
    distance: float  # metres from the target
    focal: float  # pixels
    width: float  # image size in pixels
    height: float
    target: tuple[float, float, float] = (0.0, 0.0, 1.0)  # world point it looks at

    def to_view(self, points: np.ndarray) -> np.ndarray:
        """World points (... x 3) into the view frame (the world turned by `yaw`)."""
        return to_view(points, self.yaw, np.asarray(self.target, dtype=np.float64))

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (... x 3) to pixels (... x 2): x right, y down, origin top-left."""
        return project(points, self.yaw, self.elevation, self.distance, self.focal,
                       self.width, self.height, np.asarray(self.target, dtype=np.float64))


ASPECTS = (16 / 9, 16 / 9, 4 / 3, 1.0, 9 / 16)


def random_cameras(rng: np.random.Generator, targets: np.ndarray,
                   body_height: float = 1.7) -> dict[str, np.ndarray]:
    """Camera parameters (arrays of B) as dance videos are filmed, for targets (B x 3).

    Any yaw; looking down up to 30 deg or up to 10 deg; 3-9 m away; a 16:9, 4:3, 1:1 or 9:16
    (phone held upright) image in which the dancer fills 35-90 % of the height; the target
    jittered by up to 0.4 m sideways and 0.2 m vertically so the dancer is not always centred.
    """
    count = len(targets)
    height = np.full(count, 720.0)
    distance = rng.uniform(3.0, 9.0, count)
    fill = rng.uniform(0.35, 0.9, count)
    jitter = np.concatenate([rng.uniform(-0.4, 0.4, (count, 2)),
                             rng.uniform(-0.2, 0.2, (count, 1))], axis=1)
    return {"yaw": rng.uniform(0.0, 2 * np.pi, count),
            "elevation": np.radians(rng.uniform(-10, 30, count)),
            "distance": distance, "focal": fill * height * distance / body_height,
            "width": np.round(np.asarray(ASPECTS)[rng.integers(0, len(ASPECTS), count)]
                              * height),
            "height": height, "target": np.asarray(targets, dtype=np.float64) + jitter}


def random_camera(rng: np.random.Generator, target: np.ndarray,
                  body_height: float = 1.7) -> Camera:
    """One camera from `random_cameras`."""
    values = random_cameras(rng, np.asarray(target, dtype=np.float64)[None], body_height)
    return Camera(**{k: float(v[0]) for k, v in values.items() if k != "target"},
                  target=tuple(float(v) for v in values["target"][0]))


def project_motion(motion: Motion, camera: Camera) -> Motion:
    """A canonical 3D motion filmed by `camera`: BODY_25 normalised to [-1, 1] by the image
    size and root-relative, as DanceRev's (and the paper's) 2D data is."""
    pixels = camera.project(body25_from_canonical(motion.positions))
    filmed = Motion(positions=pixels.astype(np.float32), fps=motion.fps,
                    skeleton=BODY_25.name, joint_names=BODY_25.joint_names,
                    meta={"source": motion.meta.get("source", ""), "coordinates": "pixels"})
    return normalize_image_coordinates(filmed, camera.width, camera.height).to_root_relative()


def normalize_pixels(pixels: np.ndarray, width: np.ndarray | float,
                     height: np.ndarray | float) -> np.ndarray:
    """Array form of `motion.normalize_image_coordinates` (pixels -> [-1, 1]) for batches;
    `width` and `height` broadcast against `pixels[..., 0]`."""
    pixels = np.asarray(pixels, dtype=np.float64)
    out = np.empty_like(pixels)
    out[..., 0] = pixels[..., 0] * (2.0 / np.asarray(width, np.float64)) - 1.0
    out[..., 1] = pixels[..., 1] * (2.0 / np.asarray(height, np.float64)) - 1.0
    return out
