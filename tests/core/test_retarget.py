"""Retargeting solver: the pose-bone convention, checked with this file's own forward
kinematics, on real dance (shared CMU clips) and on made-up motions that stress it.

Helpers here (a plausible human in T- or A-pose, a rig builder, Blender-style FK, the
bone-direction error) are shared with the other test_retarget_* files.
"""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError
from dancerev_core.formats.reading import read_motion
from dancerev_core.retarget import (
    RigRest,
    detect_bone_map,
    rest_from_edit_bones,
    rest_points,
    retarget,
    similarity_matrix,
)
from dancerev_core.retarget.rotations import quaternion_to_matrix
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import shared_data

J = {name: i for i, name in enumerate(CANONICAL_24.joint_names)}
SPINE_CHAIN = ("spine1", "spine2", "spine3", "neck", "head")
LIMBS = tuple((f"{s}_collar", f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist", f"{s}_hand")
              for s in ("left", "right")) + tuple(
    (f"{s}_hip", f"{s}_knee", f"{s}_ankle", f"{s}_foot") for s in ("left", "right"))
CMU_CLIPS = (("mocap", "cmu", "05", "005_02.bvh"), ("mocap", "cmu", "05", "005_07.bvh"),
             ("mocap", "cmu", "60", "60_03_scaled.bvh"))


# ------------------------------------------------------------------------ a made-up human
def rotate_about(points: np.ndarray, pivot: np.ndarray, axis: np.ndarray,
                 degrees: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    angle = np.radians(degrees)
    v = points - pivot
    return pivot + (v * np.cos(angle) + np.cross(axis, v) * np.sin(angle)
                    + np.outer(v @ axis, axis) * (1 - np.cos(angle)))


def human(pose: str = "T") -> dict[str, np.ndarray]:
    """Named points of a 1.75 m adult: canonical joints plus ends (metres, Z up, facing -Y).

    "T": arms level; "A": arms 40 degrees down with elbows bent 15 degrees forward, knees
    bent 5 degrees.
    """
    p = {"pelvis": (0, 0.0, 0.95), "spine1": (0, 0.01, 1.05), "spine2": (0, 0.01, 1.18),
         "spine3": (0, 0.0, 1.32), "neck": (0, 0.01, 1.50), "head": (0, -0.01, 1.60),
         "head_top": (0, 0.0, 1.75)}
    for side, x in (("left", 1.0), ("right", -1.0)):
        p.update({
            f"{side}_hip": (0.09 * x, 0.0, 0.90), f"{side}_knee": (0.10 * x, -0.01, 0.50),
            f"{side}_ankle": (0.10 * x, 0.02, 0.08), f"{side}_foot": (0.10 * x, -0.11, 0.02),
            f"{side}_toe_end": (0.10 * x, -0.17, 0.01),
            f"{side}_collar": (0.04 * x, 0.0, 1.43), f"{side}_shoulder": (0.18 * x, 0.01, 1.43),
            f"{side}_elbow": (0.46 * x, 0.02, 1.43), f"{side}_wrist": (0.72 * x, 0.0, 1.43),
            f"{side}_hand": (0.81 * x, 0.0, 1.43), f"{side}_finger_tip": (0.89 * x, 0.0, 1.43),
            f"{side}_thumb": (0.76 * x, -0.04, 1.42),
        })
    points = {name: np.array(value, dtype=float) for name, value in p.items()}
    if pose == "A":
        for side, x in (("left", 1.0), ("right", -1.0)):
            arm = [f"{side}_{n}" for n in ("elbow", "wrist", "hand", "finger_tip", "thumb")]
            shoulder = points[f"{side}_shoulder"]
            moved = rotate_about(np.stack([points[n] for n in arm]), shoulder,
                                 np.array([0.0, x, 0.0]), 40.0)
            elbow = moved[0]
            hinge = np.cross(elbow - shoulder, np.array([0.0, -1.0, 0.0]))
            moved[1:] = rotate_about(moved[1:], elbow, hinge, 15.0)
            points.update(dict(zip(arm, moved, strict=True)))
            leg = [f"{side}_{n}" for n in ("ankle", "foot", "toe_end")]
            knee = points[f"{side}_knee"]
            bent = rotate_about(np.stack([points[n] for n in leg]), knee,
                                np.array([1.0, 0.0, 0.0]), 5.0)
            points.update(dict(zip(leg, bent, strict=True)))
    return points


def point(points: dict[str, np.ndarray], spec) -> np.ndarray:
    """A named point, or ("mid", a, b, t) between two, or an explicit vector."""
    if isinstance(spec, str):
        return points[spec]
    if isinstance(spec, tuple) and spec and spec[0] == "mid":
        _, a, b, t = spec
        return points[a] + t * (points[b] - points[a])
    return np.asarray(spec, dtype=float)


def build_rig(spec: list[tuple], points: dict[str, np.ndarray], seed: int = 0,
              object_matrix: np.ndarray | None = None) -> RigRest:
    """A rest pose from (bone, parent, head, tail) rows; rolls are random on purpose."""
    rng = np.random.default_rng(seed)
    names = [row[0] for row in spec]
    parents = [row[1] for row in spec]
    heads = np.stack([point(points, row[2]) for row in spec])
    tails = np.stack([point(points, row[3]) for row in spec])
    rolls = rng.uniform(-np.pi, np.pi, len(spec))
    return rest_from_edit_bones(names, parents, heads, tails, rolls, object_matrix)


def canonical_spec(name: dict[str, str], root: str | None = None) -> list[tuple]:
    """The plain 22-bone humanoid under family names: `name[role]`, `{s}` for the side."""
    rows = [(name["pelvis"], root, "pelvis", "spine1"),
            (name["spine1"], name["pelvis"], "spine1", "spine2"),
            (name["spine2"], name["spine1"], "spine2", "spine3"),
            (name["spine3"], name["spine2"], "spine3", "neck"),
            (name["neck"], name["spine3"], "neck", "head"),
            (name["head"], name["neck"], "head", "head_top")]
    for side, s in (("left", name["L"]), ("right", name["R"])):
        def n(role: str, s: str = s) -> str:
            return name[role].format(s=s)
        rows += [(n("collar"), name["spine3"], f"{side}_collar", f"{side}_shoulder"),
                 (n("upper_arm"), n("collar"), f"{side}_shoulder", f"{side}_elbow"),
                 (n("forearm"), n("upper_arm"), f"{side}_elbow", f"{side}_wrist"),
                 (n("hand"), n("forearm"), f"{side}_wrist", f"{side}_hand"),
                 (n("finger"), n("hand"), f"{side}_hand", f"{side}_finger_tip"),
                 (n("thigh"), name["pelvis"], f"{side}_hip", f"{side}_knee"),
                 (n("shin"), n("thigh"), f"{side}_knee", f"{side}_ankle"),
                 (n("foot"), n("shin"), f"{side}_ankle", f"{side}_foot"),
                 (n("toe"), n("foot"), f"{side}_foot", f"{side}_toe_end")]
    if root is not None:
        rows.insert(0, (root, None, (0, 0, 0), (0, 0.1, 0)))
    return rows


SMPLX_NAMES = {"pelvis": "pelvis", "spine1": "spine1", "spine2": "spine2", "spine3": "spine3",
               "neck": "neck", "head": "head", "L": "left", "R": "right",
               "collar": "{s}_collar", "upper_arm": "{s}_shoulder", "forearm": "{s}_elbow",
               "hand": "{s}_wrist", "finger": "{s}_middle1", "thigh": "{s}_hip",
               "shin": "{s}_knee", "foot": "{s}_ankle", "toe": "{s}_foot"}


# ------------------------------------------------------------------- forward kinematics
def forward_kinematics(rest: RigRest, result, copies: dict[str, str] | None = None
                       ) -> np.ndarray:
    """World 4 x 4 pose matrices (T x B x 4 x 4), Blender's rule for each bone:
    P_b = P_parent @ inv(M_parent) @ M_b @ T(location) @ R(quaternion), then the object
    matrix; a bone in `copies` takes its source's pose (a Copy Transforms constraint)."""
    frames, count = result.rotations.shape[:2]
    rest_matrix = np.zeros((count, 4, 4))
    rest_matrix[:, :3, :3] = rest.matrices
    rest_matrix[:, :3, 3] = rest.heads
    rest_matrix[:, 3, 3] = 1.0
    local = np.zeros((frames, count, 4, 4))
    local[..., :3, :3] = quaternion_to_matrix(result.rotations)
    local[..., :3, 3] = result.locations
    local[..., 3, 3] = 1.0
    pose: dict[int, np.ndarray] = {}
    copies = {rest.index[k]: rest.index[v] for k, v in (copies or {}).items()}

    def solve(bone: int) -> np.ndarray:
        if bone not in pose:
            parent = rest.parents[bone]
            if bone in copies:
                source = copies[bone]
                pose[bone] = solve(source) @ np.linalg.inv(rest_matrix[source]) @ rest_matrix[bone]
            elif parent < 0:
                pose[bone] = rest_matrix[bone] @ local[:, bone]
            else:
                pose[bone] = (solve(parent) @ np.linalg.inv(rest_matrix[parent])
                              @ rest_matrix[bone] @ local[:, bone])
        return pose[bone]

    return np.stack([rest.object_matrix @ solve(b) for b in range(count)], axis=1)


def direction_errors(rest: RigRest, result, positions: np.ndarray,
                     copies: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Angle (degrees, per frame) between each driven bone's direction after FK and the
    dance's: from its joint to the next joint the rig has (the pelvis: the hip line)."""
    bone_map = result.bone_map
    points = rest_points(rest, bone_map)
    has = {j for j in J if np.isfinite(points[J[j]]).all()}
    pose = forward_kinematics(rest, result, copies)
    rest_world = np.zeros((rest.num_bones, 4, 4))
    rest_world[:, :3, :3] = rest.matrices
    rest_world[:, :3, 3] = rest.heads
    rest_world[:, 3, 3] = 1
    rest_world = rest.object_matrix @ rest_world
    aims = {"pelvis": ("right_hip", "left_hip")}
    spine = [j for j in SPINE_CHAIN if j in has]
    aims.update({j: (j, spine[i + 1]) for i, j in enumerate(spine[:-1]) if j != "head"})
    for chain in LIMBS:
        aims.update({a: (a, b) for a, b in zip(chain, chain[1:], strict=False)
                     if a in has and b in has})
    errors = {}
    for joint, bone in bone_map.drivers.items():
        if joint not in aims:
            continue
        start, end = aims[joint]
        b = rest.index[bone]
        moved = pose[:, b] @ np.linalg.inv(rest_world[b])  # rest world -> posed world

        def carry(name: str, moved: np.ndarray = moved) -> np.ndarray:
            p = rest.to_world(points[J[name]])
            return moved[:, :3, :3] @ p + moved[:, :3, 3]

        got = carry(end) - carry(start)
        want = positions[:, J[end]] - positions[:, J[start]]
        cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want,
                                                                                     axis=-1)
        errors[joint] = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    return errors


def assert_directions(rest: RigRest, result, positions: np.ndarray, copies=None,
                      expect_driven: int = 12) -> tuple[float, float]:
    errors = direction_errors(rest, result, positions, copies)
    assert len(errors) >= expect_driven, sorted(errors)
    every = np.concatenate(list(errors.values()))
    assert every.mean() < 2.0 and every.max() < 10.0, {
        k: (round(float(v.mean()), 3), round(float(v.max()), 3)) for k, v in errors.items()}
    return float(every.mean()), float(every.max())


@pytest.fixture(scope="session")
def dances() -> list[np.ndarray]:
    """Real dance: two CMU modern-dance clips (Character Creator skeleton) and a salsa clip
    (Daz skeleton), as canonical joints."""
    return [read_motion(shared_data(*parts), joints="canonical").positions.astype(np.float64)
            for parts in CMU_CLIPS]


# ------------------------------------------------------------------------------- tests
def test_identity_at_rest_and_exact_directions_on_real_dance(dances):
    rest = build_rig(canonical_spec(SMPLX_NAMES, root="root"), human("T"))
    bone_map = detect_bone_map(rest)
    assert bone_map.chosen == "smpl"
    at_rest = retarget(np.repeat(rest_points(rest, bone_map)[None], 3, axis=0), rest, bone_map)
    assert np.allclose(at_rest.rotations[..., 0], 1.0, atol=1e-9)
    for positions in dances:
        result = retarget(positions, rest, bone_map)
        assert result.rotations.shape == (len(positions), rest.num_bones, 4)
        assert np.allclose(np.linalg.norm(result.rotations, axis=-1), 1.0)
        assert_directions(rest, result, positions, expect_driven=19)


def rotation_steps(q: np.ndarray) -> np.ndarray:
    """Degrees each bone turns between consecutive frames (T-1 x B)."""
    dots = np.abs(np.sum(q[1:] * q[:-1], axis=-1))
    return 2 * np.degrees(np.arccos(np.clip(dots, 0, 1)))


def test_quaternions_are_continuous_on_real_dance(dances):
    rest = build_rig(canonical_spec(SMPLX_NAMES, root="root"), human("A"))
    parents = np.array(CANONICAL_24.parents[1:])
    for positions, fps in zip(dances, (60.0, 60.0, 120.0), strict=True):
        q = retarget(positions, rest, fps=fps).rotations
        assert (np.sum(q[1:] * q[:-1], axis=-1) >= 0).all()  # signs never flip
        # A bone turns no faster than the dance's own bones do (swing, against its parent)
        # and the twist speed limit, twice over (the parent turns too): mocap glitches show
        # up, flips of our own do not.
        bones = positions[:, 1:] - positions[:, parents]
        bones /= np.linalg.norm(bones, axis=-1, keepdims=True)
        dance_step = np.degrees(np.arccos(np.clip(np.sum(bones[1:] * bones[:-1], -1), -1, 1)))
        bound = 2 * (dance_step.max(axis=1) + 900.0 / fps) + 2.0
        assert (rotation_steps(q).max(axis=1) <= bound).all()


def straight_limb_sweep(frames: int = 720) -> np.ndarray:
    """A T-posed dancer whose straight arms circle through front, up, back, across and
    down, and whose straight right leg swings front, up high, sideways and back."""
    base = human("T")
    positions = np.repeat(np.stack([base[j] for j in CANONICAL_24.joint_names])[None],
                          frames, axis=0)
    t = np.linspace(0, 2 * np.pi, frames)
    for side, x in (("left", 1.0), ("right", -1.0)):
        shoulder = base[f"{side}_shoulder"]
        for k in range(frames):
            direction = np.array([x * np.cos(t[k]) * np.cos(1.3 * t[k]), -np.sin(t[k]),
                                  np.cos(t[k]) * np.sin(1.3 * t[k])])
            direction /= np.linalg.norm(direction)
            for joint, length in (("elbow", 0.28), ("wrist", 0.54), ("hand", 0.63)):
                positions[k, J[f"{side}_{joint}"]] = shoulder + direction * length
    hip = base["right_hip"]
    for k in range(frames):
        angle = 1.4 * np.sin(t[k])
        direction = np.array([-0.5 * np.sin(2 * t[k]), -np.sin(angle), -np.cos(angle)])
        direction /= np.linalg.norm(direction)
        forward = np.array([0.0, -1.0, 0.0]) - direction * direction[1] * -1.0
        positions[k, J["right_knee"]] = hip + direction * 0.40
        positions[k, J["right_ankle"]] = hip + direction * 0.82
        positions[k, J["right_foot"]] = positions[k, J["right_ankle"]] + 0.12 * forward / (
            np.linalg.norm(forward))
    return positions


def test_straight_limbs_never_flip():
    positions = straight_limb_sweep()
    for pose in ("T", "A"):
        rest = build_rig(canonical_spec(SMPLX_NAMES, root="root"), human(pose), seed=3)
        result = retarget(positions, rest)
        step = rotation_steps(result.rotations)
        # the limbs move about 1 degree a frame; a flip would show as tens of degrees
        assert step.max() < 6.0, (pose, step.max(axis=0).round(1))
        assert_directions(rest, result, positions, expect_driven=19)


def test_scaled_rotated_armature_object_gives_the_same_world_pose(dances):
    points = human("A")
    plain = build_rig(canonical_spec(SMPLX_NAMES, root="root"), points, seed=1)
    turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg about Z
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # Y up -> Z up
    rotation, scale = turn @ tilt, 0.01
    obj = similarity_matrix(rotation, scale, np.array([2.0, -1.0, 0.0]))
    # The same character, modelled in centimetres with Y up, placed by an object matrix.
    inverse = np.linalg.inv(obj)
    moved = {k: inverse[:3, :3] @ v + inverse[:3, 3] for k, v in points.items()}
    placed = build_rig(canonical_spec(SMPLX_NAMES, root="root"), moved, seed=1,
                       object_matrix=obj)
    positions = dances[0]
    a, b = retarget(positions, plain), retarget(positions, placed)
    pose_a = forward_kinematics(plain, a)[:, 1:, :3, 3]  # all but the root bone at (0, 0, 0)
    pose_b = forward_kinematics(placed, b)[:, 1:, :3, 3]
    assert np.abs(pose_a - pose_b).max() < 1e-6
    assert_directions(placed, b, positions, expect_driven=19)


def contact_frames(positions: np.ndarray, joint: str, fps: float) -> np.ndarray:
    """Frames where the dancer's joint rests on the ground: low and nearly still."""
    z = positions[:, J[joint], 2]
    speed = np.linalg.norm(np.diff(positions[:, J[joint], :2], axis=0), axis=-1) * fps
    speed = np.append(speed, speed[-1])
    return (z < np.percentile(z, 5) + 0.01) & (speed < 0.1)


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.6])
def test_feet_stay_planted_on_short_and_tall_characters(dances, scale):
    positions, fps = dances[0], 60.0
    # A character with the dancer's own proportions, scaled: its feet must follow exactly.
    frame = positions[0]
    points = {j: frame[J[j]] * scale for j in CANONICAL_24.joint_names}
    points.update({f"{s}_toe_end": points[f"{s}_foot"] + (0, -0.05 * scale, 0)
                   for s in ("left", "right")})
    points.update({"head_top": points["head"] + (0, 0, 0.15 * scale)})
    points.update({f"{s}_finger_tip": points[f"{s}_hand"] * 1.05 for s in ("left", "right")})
    rest = build_rig(canonical_spec(SMPLX_NAMES, root="root"), points)
    result = retarget(positions, rest)
    assert result.scale == pytest.approx(scale, rel=1e-6)
    pose = forward_kinematics(rest, result)[..., :3, 3]
    for side in ("left", "right"):
        joint = f"{side}_foot"
        contact = contact_frames(positions, joint, fps)
        assert contact.sum() > 20
        foot = pose[:, rest.index[f"{side}_foot"]]
        want = positions[:, J[joint]] * scale
        # heights match the dancer's, scaled; the foot slides only as much as hers, scaled
        # (within what the rigid rig cannot copy of the mocap's stretchy hips)
        lift = foot[contact, 2] - want[contact, 2]
        assert np.abs(lift - np.median(lift)).max() < 0.003 * scale
        slide = np.linalg.norm(np.diff(foot[:, :2], axis=0), axis=-1) * fps
        want_slide = np.linalg.norm(np.diff(want[:, :2], axis=0), axis=-1) * fps
        assert np.abs(slide - want_slide)[contact[:-1]].max() < 0.02 * scale


def test_feet_planted_on_a_real_character_of_other_proportions(dances):
    rest0 = pytest.importorskip("dancerev_core.retarget").rest_from_mpfb(
        shared_data("characters", "mpfb2", "rig.mixamo.json"))
    positions, fps = dances[0], 60.0
    for scale in (0.6, 1.4):
        rest = rest0.with_object_matrix(similarity_matrix(scale=scale))
        result = retarget(positions, rest)
        pose = forward_kinematics(rest, result)[..., :3, 3]
        leg = 0.83 * scale  # the MPFB2 human's hip-to-ankle length
        for side, toe in (("left", "mixamorig:LeftToeBase"), ("right", "mixamorig:RightToeBase")):
            contact = contact_frames(positions, f"{side}_foot", fps)
            foot = pose[:, rest.index[toe]]
            rest_height = rest.to_world(rest.heads[rest.index[toe]])[2]
            height = foot[contact, 2] - rest_height
            assert np.median(np.abs(height)) < 0.03 * leg, np.median(np.abs(height))
            slide = np.linalg.norm(np.diff(foot[:, :2], axis=0), axis=-1) * fps
            assert np.median(slide[contact[:-1]]) < 0.15 * leg, np.median(slide[contact[:-1]])


def test_smoothing_and_world_anchor(dances):
    rest = build_rig(canonical_spec(SMPLX_NAMES, root="root"), human("T"))
    positions = dances[0] + np.random.default_rng(0).normal(0, 0.01, dances[0].shape)
    rough = retarget(positions, rest).rotations
    smooth = retarget(positions, rest, smoothing=2.0).rotations
    jitter = [np.abs(np.diff(q, 2, axis=0)).mean() for q in (rough, smooth)]
    assert jitter[1] < 0.5 * jitter[0]
    start = retarget(positions, rest, anchor="rest").root_translation
    world = retarget(positions, rest, anchor="world").root_translation
    assert np.allclose(start[0, :2], 0, atol=1e-9)
    assert np.allclose(world[:, :2] - world[0, :2], start[:, :2] - start[0, :2])
    with pytest.raises(DanceRevError, match="anchor"):
        retarget(positions, rest, anchor="moon")


def test_bad_inputs_fail_with_one_line():
    rest = build_rig(canonical_spec(SMPLX_NAMES), human("T"))
    with pytest.raises(DanceRevError, match="T x 24 x 3"):
        retarget(np.zeros((5, 17, 3)), rest)
    bad = np.zeros((2, 24, 3))
    bad[0, 0, 0] = np.nan
    with pytest.raises(DanceRevError, match="NaN"):
        retarget(bad, rest)
