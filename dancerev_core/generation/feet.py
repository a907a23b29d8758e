"""Planted feet: a foot on the floor stays where it stands (issue 18, "planted feet").

A model that writes joint positions frame by frame lets a standing foot glide over the floor
(a mean 0.8-1.2 m/s in contact against about 0.45 m/s in real dances,
evaluation/skating.py). The fix, on absolute canonical joints, leaving the hips' path alone:
1. Contacts, per foot: the foot is low (its lower joint, ankle or toe, within a few cm of
   the floor, the floor being the FLOOR_PERCENTILE of the foot joints' heights, as the
   skating figure has it) and slow (horizontally). Two thresholds each way (hysteresis):
   a contact is a run of frames where the foot stays fairly low and is not thrown fast
   that holds a frame where it is low and slow, so it does not flicker on and off.
2. Spots: the foot is pinned to one spot for as long as the leg can reach it from the hip,
   which does not move; when the body has travelled too far (the generated dances sway
   their whole body by tens of cm), the contact is cut and the foot moves on to the
   nearest spot it can reach next (`pieces`). Each piece keeps one foot heading (its mean),
   so the toe stays put too. Only the horizontal is pinned: every joint keeps its height,
   so the feet stay exactly as far out of the floor as they were (plausible.py stood them
   on it; a leg that cannot reach only raises its foot).
3. Easing: the foot moves from one spot to the next over at least 2 x EASE_SECONDS (a
   cosine ease, taking frames from the pieces' ends if the gap is shorter); before and
   after a contact, the offset between the pinned and the original foot fades in and out
   over EASE_SECONDS, so the foot neither jumps onto its spot nor off it.
4. The leg reaches the foot with analytic two-bone IK (hip-knee-ankle): the hip does not
   move, the thigh and shin keep their lengths exactly, and the knee bends the way the
   original knee bent (the pole: its offset from the original hip-ankle line, a nearly
   straight leg's turning towards its toes, since its own offset is noise; taking the
   original knee's position as the pole instead flips the knee where the foot has moved
   far from where it was). The toe hangs on the new ankle with the foot bone's original
   length and pitch.
Frames away from every contact come back exactly as they were. `generation.finish_dance`
plants the feet before beat sync, so that beat sync times the dance as it will look
(re-timing keeps a pinned foot pinned). numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body_frame import FEET, J

FLOOR_PERCENTILE = 5.0  # the floor: this percentile of the foot joints' heights (skating.py)
ENTER_HEIGHT = 0.05  # metres above the floor: a contact starts with the foot this low ...
ENTER_SPEED = 1.2  # ... and its horizontal speed (m/s, the slower foot joint) this slow
EXIT_HEIGHT = 0.08  # a contact lasts while the foot stays this low ...
EXIT_SPEED = 6.0  # ... and is not thrown out fast (a kick or a sweep along the floor)
SPEED_SMOOTHING = 0.05  # seconds: the half-width of the speed's moving average
MIN_CONTACT_SECONDS = 0.1  # shorter contacts are left alone (nothing to pin)
MAX_REACH = 0.99  # of the leg's length: a planted foot further from the hip moves on
STRAIGHT_KNEE = 0.02  # metres: a knee this near its hip-ankle line bends towards its toes
SPOT_GRID = 0.02  # metres: the resolution at which spots within reach are sought
EASE_SECONDS = 0.2  # fading the pin in before a contact and out after it
LEGS = {side: tuple(J[f"{side}_{part}"] for part in ("hip", "knee", "ankle", "foot"))
        for side in ("left", "right")}


@dataclass(frozen=True)
class Contact:
    """A foot on the floor: frames [start, stop) of the `side` ("left" or "right") foot,
    and the spot (x, y) its ankle is pinned to (None: its mean position over the contact)."""

    side: str
    start: int
    stop: int
    spot: tuple[float, float] | None = None


def floor_height(positions: np.ndarray) -> float:
    """The dance's floor: FLOOR_PERCENTILE of all foot joints' heights, as
    evaluation/skating.py measures it, so that both agree on what is a contact."""
    return float(np.percentile(np.asarray(positions)[:, FEET, 2], FLOOR_PERCENTILE))


def horizontal_speed(points: np.ndarray, fps: float) -> np.ndarray:
    """Per frame, the horizontal speed (m/s) of points (T x 3), by central differences."""
    if len(points) < 2:
        return np.zeros(len(points))
    return np.linalg.norm(np.gradient(points[:, :2], axis=0), axis=-1) * fps


def moving_average(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a window of 2 radius + 1 frames, the window shrinking at the ends."""
    if radius < 1 or len(values) < 2:
        return values
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    low, high = np.maximum(index - radius, 0), np.minimum(index + radius + 1, len(values))
    return (sums[high] - sums[low]) / (high - low)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The [start, stop) ranges where `mask` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def hysteresis(enter: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """The runs of frames where `stay` holds that hold an `enter` frame somewhere: a
    contact reaches back as far as forward, whichever frame it was first seen in."""
    on = np.zeros(len(enter), dtype=bool)
    for start, stop in runs(stay | enter):
        on[start:stop] = enter[start:stop].any()
    return on


def reach_radius(legs: np.ndarray) -> np.ndarray:
    """Per frame, how far (horizontally) from the hip the leg (legs: N x 4 x 3, hip, knee,
    ankle, toe) can put its ankle at the ankle's own height: MAX_REACH of its length, or
    as far as the original ankle is if the leg was straighter than that."""
    hip, knee, ankle = legs[:, 0], legs[:, 1], legs[:, 2]
    reach = np.maximum(MAX_REACH * (np.linalg.norm(knee - hip, axis=-1)
                                    + np.linalg.norm(ankle - knee, axis=-1)),
                       np.linalg.norm(ankle - hip, axis=-1))
    return np.sqrt(np.maximum(reach ** 2 - (hip[:, 2] - ankle[:, 2]) ** 2, 0.0))


def pieces(legs: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """A contact of one leg (N x 4 x 3: hip, knee, ankle, toe) cut into as few pieces as
    can each have one spot the leg reaches in all their frames: frames [start, stop) and
    the spot (x, y): for the first piece the reachable point nearest its mean ankle position,
    for the others the one nearest the spot before, so the foot moves as little as it must.

    Greedy, which is optimal for this covering: a piece grows while some point of a
    SPOT_GRID grid about its first frame's hip stays within reach of every one of its frames
    (give or take SPOT_GRID, so that one frame alone always has such a point). A body that
    travels away from its foot makes the foot move on to a new spot.
    """
    hip, ankle = legs[:, 0, :2], legs[:, 2, :2]
    radius = reach_radius(legs) + 0.75 * SPOT_GRID
    steps = np.arange(-np.ceil(radius.max() / SPOT_GRID), np.ceil(radius.max() / SPOT_GRID) + 1)
    grid = SPOT_GRID * np.stack(np.meshgrid(steps, steps), axis=-1).reshape(-1, 2)

    def within(frame: int) -> np.ndarray:  # the grid about its own hip, a frame's points
        return grid[np.linalg.norm(grid, axis=-1) <= radius[frame]] + hip[frame]

    found, start = [], 0
    while start < len(legs):
        feasible, frame = within(start), start + 1
        while frame < len(legs):
            still = feasible[np.linalg.norm(feasible - hip[frame], axis=-1) <= radius[frame]]
            if not len(still):
                break
            feasible, frame = still, frame + 1
        near = found[-1][2] if found else ankle[start:frame].mean(axis=0)
        found.append((start, frame,
                      feasible[np.argmin(np.linalg.norm(feasible - near, axis=-1))]))
        start = frame
    return found


def foot_contacts(positions: np.ndarray, fps: float) -> list[Contact]:
    """Where each foot stands on the floor (module docstring, step 1), in frame order."""
    positions = np.asarray(positions, dtype=np.float64)
    if len(positions) < 2:
        return []
    floor = floor_height(positions)
    radius = round(SPEED_SMOOTHING * fps)
    shortest = max(2, round(MIN_CONTACT_SECONDS * fps))
    contacts = []
    for side, (_, _, ankle, toe) in LEGS.items():
        height = np.minimum(positions[:, ankle, 2], positions[:, toe, 2]) - floor
        speed = moving_average(np.minimum(horizontal_speed(positions[:, ankle], fps),
                                          horizontal_speed(positions[:, toe], fps)), radius)
        on = hysteresis((height < ENTER_HEIGHT) & (speed < ENTER_SPEED),
                        (height < EXIT_HEIGHT) & (speed < EXIT_SPEED))
        for start, stop in runs(on):
            contacts += [Contact(side, start + first, start + last, (float(x), float(y)))
                         for first, last, (x, y)
                         in pieces(positions[start:stop, list(LEGS[side])])
                         if last - first >= shortest]
    return sorted(contacts, key=lambda c: (c.start, c.side))


def ease_in(frames: int) -> np.ndarray:
    """`frames` weights rising from just over 0 to just under 1 along a half cosine."""
    return 0.5 * (1.0 - np.cos(np.pi * np.arange(1, frames + 1) / (frames + 1)))


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles (radians) into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def pinned_cores(contacts: list[Contact], ease_frames: int) -> list[tuple[int, int]]:
    """For one foot's contacts (in order), the frames [start, stop) held fully pinned: the
    contacts, shortened at both ends of a gap of fewer than 2 x `ease_frames` frames so
    that the foot has 2 x `ease_frames` + 1 steps to move from one spot to the next (as
    far as the contacts are long: each keeps its middle frame at least)."""
    cores = [[c.start, c.stop] for c in contacts]
    for index in range(len(cores) - 1):
        need = max(0, 2 * ease_frames - (contacts[index + 1].start - contacts[index].stop))
        cores[index][1] -= need // 2
        cores[index + 1][0] += need - need // 2
    middles = [(c.start + c.stop - 1) // 2 for c in contacts]
    return [(start, stop) if stop > start else (middle, middle + 1)
            for (start, stop), middle in zip(cores, middles, strict=True)]


def pinned_foot_path(ankle: np.ndarray, toe: np.ndarray, contacts: list[Contact], fps: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one foot (its ankle and toe, T x 3): per frame, the ankle's horizontal target
    (T x 2), the foot's heading (T, radians) and whether the frame changes at all (T).

    A pinned core holds the ankle at its contact's spot and the foot at its mean heading.
    Where the next core comes sooner than 2 x EASE_SECONDS, the foot goes straight from one
    spot to the next (a cosine ease); otherwise the original path, shifted by the core's
    offset (and turned by its twist), fades back to itself over EASE_SECONDS.
    """
    frames = len(ankle)
    heading = np.arctan2(toe[:, 1] - ankle[:, 1], toe[:, 0] - ankle[:, 0])
    target, turned, moved = ankle[:, :2].copy(), heading.copy(), np.zeros(frames, bool)
    count = max(1, round(EASE_SECONDS * fps))
    cores = pinned_cores(contacts, count)
    spots, facings = [], []
    for (start, stop), contact in zip(cores, contacts, strict=True):
        flat = toe[start:stop, :2] - ankle[start:stop, :2]
        spots.append(ankle[start:stop, :2].mean(axis=0) if contact.spot is None
                     else np.asarray(contact.spot))
        facings.append(np.arctan2(flat[:, 1].sum(), flat[:, 0].sum()))  # mean direction
        target[start:stop], turned[start:stop], moved[start:stop] = spots[-1], facings[-1], True

    def fade(near: np.ndarray, edge: int, spot: np.ndarray, facing: float) -> None:
        """Frames `near` (nearest the core first) take the core's offset at its frame
        `edge`, fading out."""
        weight = 1.0 - ease_in(len(near))
        target[near] = ankle[near, :2] + weight[:, None] * (spot - ankle[edge, :2])
        turned[near] = heading[near] + weight * wrap(facing - heading[edge])
        moved[near] = True

    lead, tail = min(count, cores[0][0]), min(count, frames - cores[-1][1])
    fade(cores[0][0] - 1 - np.arange(lead), cores[0][0], spots[0], facings[0])
    fade(cores[-1][1] + np.arange(tail), cores[-1][1] - 1, spots[-1], facings[-1])
    for index in range(len(cores) - 1):
        stop, start = cores[index][1], cores[index + 1][0]
        free = start - stop  # frames between the two cores
        if free >= 2 * count:
            fade(stop + np.arange(count), stop - 1, spots[index], facings[index])
            fade(start - 1 - np.arange(count), start, spots[index + 1], facings[index + 1])
        elif free > 0:
            between = stop + np.arange(free)
            weight = ease_in(free)
            target[between] = (spots[index] + weight[:, None]
                               * (spots[index + 1] - spots[index]))
            turned[between] = facings[index] + weight * wrap(facings[index + 1]
                                                             - facings[index])
            moved[between] = True
    return target, turned, moved


def knee_bend(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, toe: np.ndarray
              ) -> np.ndarray:
    """Per frame (N x 3), the direction the original knee bends in: its offset from the
    hip-ankle line. A leg within STRAIGHT_KNEE of straight bends, increasingly, towards its
    toes instead (a straight leg's own offset is noise)."""
    def across(vector: np.ndarray, axis: np.ndarray) -> np.ndarray:
        return vector - (vector * axis).sum(-1, keepdims=True) * axis

    axis = ankle - hip
    axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    bend = across(knee - hip, axis)
    toes = across(toe - ankle, axis)
    toes /= np.maximum(np.linalg.norm(toes, axis=-1, keepdims=True), 1e-12)
    share = np.maximum(0.0, 1.0 - np.linalg.norm(bend, axis=-1) / STRAIGHT_KNEE)
    return bend + (STRAIGHT_KNEE * share)[:, None] * toes


def two_bone_ik(hip: np.ndarray, bend: np.ndarray, target: np.ndarray, thigh: np.ndarray,
                shin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle (N x 3 each) reaching `target` from the fixed `hip` with bones of
    exactly `thigh` and `shin` length, the knee bending towards `bend` (N x 3 directions;
    `knee_bend`) in the plane of hip, target and bend. Out of reach, the leg points straight
    at the target."""
    reach = target - hip
    distance = np.linalg.norm(reach, axis=-1)
    along = reach / np.maximum(distance, 1e-12)[:, None]
    distance = np.clip(distance, np.abs(thigh - shin) + 1e-9, thigh + shin)
    pole = bend - (bend * along).sum(-1, keepdims=True) * along
    size = np.linalg.norm(pole, axis=-1)
    fallback = np.cross(along, np.array([1.0, 0.0, 0.0]))  # no bend at all: forward (-Y)
    pole = np.where((size > 1e-9)[:, None], pole / np.maximum(size, 1e-12)[:, None],
                    fallback / np.maximum(np.linalg.norm(fallback, axis=-1), 1e-12)[:, None])
    cosine = np.clip((thigh ** 2 + distance ** 2 - shin ** 2) / (2 * thigh * distance), -1, 1)
    sine = np.sqrt(1.0 - cosine ** 2)
    new_knee = hip + thigh[:, None] * (cosine[:, None] * along + sine[:, None] * pole)
    new_ankle = hip + distance[:, None] * along
    return new_knee, new_ankle


def plant_feet(positions: np.ndarray, fps: float,
               contacts: list[Contact] | None = None) -> np.ndarray:
    """Absolute canonical24 joints (T x 24 x 3, metres, Z up) with every foot contact
    pinned in place (module docstring); `contacts` default `foot_contacts`. Only knees,
    ankles and toes move; every bone keeps its length in every frame."""
    positions = np.asarray(positions, dtype=np.float64)
    contacts = foot_contacts(positions, fps) if contacts is None else contacts
    out = positions.copy()
    for side, (hip, knee, ankle, toe) in LEGS.items():
        own = [c for c in contacts if c.side == side]
        if not own:
            continue
        target, heading, changed = pinned_foot_path(positions[:, ankle], positions[:, toe],
                                                    own, fps)
        moved = np.flatnonzero(changed)
        legs = positions[moved]
        goal = np.concatenate([target[moved], legs[:, ankle, 2:]], axis=1)
        thigh = np.linalg.norm(legs[:, knee] - legs[:, hip], axis=-1)
        shin = np.linalg.norm(legs[:, ankle] - legs[:, knee], axis=-1)
        bend = knee_bend(legs[:, hip], legs[:, knee], legs[:, ankle], legs[:, toe])
        new_knee, new_ankle = two_bone_ik(legs[:, hip], bend, goal, thigh, shin)
        foot = legs[:, toe] - legs[:, ankle]
        flat = np.linalg.norm(foot[:, :2], axis=-1)
        turned = np.stack([flat * np.cos(heading[moved]), flat * np.sin(heading[moved]),
                           foot[:, 2]], axis=1)
        out[moved, knee], out[moved, ankle], out[moved, toe] = new_knee, new_ankle, (
            new_ankle + turned)
    return out
