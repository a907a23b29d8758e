"""Longer dances from short mocap segments: join them where their poses agree, and blend.

The model trains on windows of several seconds and must keep dancing for a minute, while
the CMU phrases last 1.5-20 s. A routine strings segments of one dancer together. Each join
looks, within the last and first `search` seconds of the two segments, for the cut whose
poses (relative to the pelvis, turned to the same facing) agree best; the second segment is
then turned about the vertical and moved on the floor so that the dancer continues from
where they are, facing where they face, and the two are cross-faded over `blend` seconds.
Bone lengths are restored after the cross-fade (a linear blend of two poses shortens bones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...body_frame import J, bone_lengths, facing, rotate_yaw
from ...lifting.postprocess import constant_bone_lengths
from ...motion import Motion

BLEND_SECONDS = 0.4
SEARCH_SECONDS = 1.0


@dataclass(frozen=True, eq=False)
class Segment:
    """A clean piece of one source clip (absolute, normalised canonical positions)."""

    motion: Motion
    source: str  # clip id
    start: float  # seconds into the source clip

    @property
    def duration(self) -> float:
        return self.motion.duration


@dataclass(eq=False)
class Routine:
    motion: Motion
    parts: list[dict] = field(default_factory=list)  # source, source seconds, routine seconds

    @property
    def duration(self) -> float:
        return self.motion.duration


def _local(positions: np.ndarray) -> np.ndarray:
    """Poses relative to the pelvis, turned so that each faces -y: comparable across clips."""
    relative = positions - positions[:, J["pelvis"]:J["pelvis"] + 1]
    angle = -np.pi / 2 - facing(positions)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    out = relative.copy()
    out[..., 0] = cos * relative[..., 0] - sin * relative[..., 1]
    out[..., 1] = sin * relative[..., 0] + cos * relative[..., 1]
    return out


def median_bone_lengths(positions: np.ndarray) -> np.ndarray:
    """Median length of each canonical bone over the frames (23, body_frame's order)."""
    return np.median(bone_lengths(positions), axis=0)


def _blend_frames(first: np.ndarray | Motion, second: np.ndarray | Motion, fps: float,
                  blend_seconds: float = BLEND_SECONDS) -> int:
    count = max(2, int(round(blend_seconds * fps)))
    return min(count, len(first) // 2, len(second) // 2)


def best_cut(first: np.ndarray, second: np.ndarray, fps: float, blend: int,
             search: int) -> tuple[int, int]:
    """(end frame in `first`, start frame in `second`) whose blend windows agree best."""
    step = max(1, int(round(fps / 15)))
    ends = range(max(blend, first.shape[0] - search), first.shape[0] + 1, step)
    starts = range(0, max(1, min(search, second.shape[0] - blend)) + 1, step)
    local_a, local_b = _local(first), _local(second)
    best, choice = np.inf, (first.shape[0], 0)
    for end in ends:
        window_a = local_a[end - blend:end]
        for start in starts:
            window_b = local_b[start:start + blend]
            if window_b.shape[0] < blend:
                continue
            cost = float(np.linalg.norm(window_a - window_b, axis=-1).mean())
            if cost < best:
                best, choice = cost, (end, start)
    return choice


def join(first: np.ndarray, second: np.ndarray, fps: float,
         blend_seconds: float = BLEND_SECONDS,
         search_seconds: float = SEARCH_SECONDS) -> tuple[np.ndarray, int, int]:
    """`first` then `second` (T x 24 x 3 each), continued and cross-faded.

    Returns the joined positions, the frame of `first` where the blend ends and the frame
    of `second` where it starts (to record which source frames were used).
    """
    blend = _blend_frames(first, second, fps, blend_seconds)
    end, start = best_cut(first, second, fps, blend, int(round(search_seconds * fps)))
    middle_a, middle_b = end - blend // 2 - 1, start + blend // 2
    turn = facing(first[middle_a:middle_a + 1])[0] - facing(second[middle_b:middle_b + 1])[0]
    pivot = second[middle_b, J["pelvis"], :2]
    moved = rotate_yaw(second, turn, pivot)
    moved[..., :2] += first[middle_a, J["pelvis"], :2] - pivot
    weight = np.linspace(0.0, 1.0, blend)
    weight = (weight * weight * (3 - 2 * weight))[:, None, None]  # smoothstep
    mixed = (1 - weight) * first[end - blend:end] + weight * moved[start:start + blend]
    mixed = constant_bone_lengths(mixed, median_bone_lengths(np.concatenate([first, second])))
    joined = np.concatenate([first[:end - blend], mixed, moved[start + blend:]])
    return joined, end, start


def build_routine(segments: list[Segment]) -> Routine:
    """Join the segments in order into one routine (absolute positions, first segment's fps)."""
    fps = segments[0].motion.fps
    positions = segments[0].motion.positions.astype(np.float64)
    parts = [{"source": segments[0].source, "source_start": segments[0].start,
              "source_end": segments[0].start + segments[0].duration, "routine_start": 0.0}]
    for segment in segments[1:]:
        following = segment.motion if segment.motion.fps == fps else segment.motion.resample(fps)
        following_positions = following.positions.astype(np.float64)
        blend = _blend_frames(positions, following_positions, fps)
        joined, end, start = join(positions, following_positions, fps)
        previous = parts[-1]
        previous["source_end"] = previous["source_start"] + end / fps - previous["routine_start"]
        parts.append({"source": segment.source, "source_start": segment.start + start / fps,
                      "source_end": segment.start + segment.duration,
                      "routine_start": (end - blend) / fps})
        positions = joined
    for part in parts:
        for key in ("source_start", "source_end", "routine_start"):
            part[key] = round(float(part[key]), 3)
    motion = segments[0].motion.with_positions(positions.astype(np.float32))
    return Routine(motion, parts)
