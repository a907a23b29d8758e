"""Loops: a dance cut to whole beats whose end runs into its start when played on repeat.

For a game, a music video's background dancer or a looped song, the last frame must lead
into the first as any frame leads into the next. `make_loop` does it in three steps:

- Cut on the beat (`loop_span`): the loop runs from a beat of the dance to a later one, as
  many beats as fit, so when played against the music on repeat its seam falls on a beat
  and it is a whole number of beats long (within half a frame). It starts at the first beat
  with `blend` frames of the dance before it, not at frame 0: those frames are the poses
  that lead into the loop's first frame, which the end is blended into. The loop's frame 0
  is the dance's frame `loop_span(...)[0]`; music and dance stay in step from there.
- Close the path: a dance travels and turns, so after one pass the dancer stands and faces
  elsewhere than at the start. That difference (the root's floor position and the facing,
  `root_motion.body_yaw`, from the frame before the loop to its last frame; whole turns are
  kept, a dance that spins once per loop goes on spinning) is taken off evenly over the
  loop, so the dancer drifts back to where the loop began by the same small amount every
  frame: no jump, no change of velocity anywhere. A dance that travels far glides back
  visibly; for an engine that moves the character itself, loop the dance in place instead,
  `make_loop(in_place(positions), ...)`, and carry the travel on the root
  (`root_motion.root_travel`).
- Blend the end: the last `blend` frames (BLEND_BEATS, 1 beat by default, bounded by the
  dance's length) are mixed, with the C1 weight `root_motion.ease`, into the closed lead-in
  frames, in root-relative, facing-aligned coordinates (`root_motion.blend_poses`), so the
  step from the last frame to the first is nearly the dance's own step into its first frame.
numpy only.
"""

from __future__ import annotations

import numpy as np

from ..errors import DanceRevError
from .root_motion import blend_poses, ease, root_travel, with_travel

BLEND_BEATS = 1.0  # the loop's end is blended over this many beats into the poses before it


def loop_span(frames: int, fps: float, beat_times: np.ndarray,
              blend_beats: float = BLEND_BEATS) -> tuple[int, int, int]:
    """(first, stop, blend): the loop is frames [first, stop) of a dance of `frames` frames,
    from the earliest beat with `blend` frames before it to the latest beat that fits,
    `stop - first` rounded from the beats' distance. `blend` is `blend_beats` beats (the
    median beat interval), less when the dance is too short for it: at most the frames
    before the first beat and half the loop. Beat times in seconds from frame 0."""
    beats = np.sort(np.asarray(beat_times, dtype=np.float64).reshape(-1))
    beats = beats[(beats >= 0) & (beats * fps <= frames)]
    if beats.size < 2:
        raise DanceRevError(f"a loop on the beat needs two beats in the dance, it has "
                            f"{beats.size}")
    beat_frames = float(np.median(np.diff(beats))) * fps
    for blend in range(max(1, round(blend_beats * beat_frames)), 0, -1):
        starts = np.flatnonzero(np.round(beats * fps) >= blend)
        if starts.size == 0:
            continue
        start = beats[starts[0]]
        first = round(start * fps)
        stops = first + np.round((beats[starts[0] + 1:] - start) * fps).astype(int)
        stops = stops[stops <= frames]
        if stops.size and stops[-1] - first >= 2 * blend:
            return first, int(stops[-1]), blend
    raise DanceRevError(f"the dance ({frames} frames, {beats.size} beats) is too short for a "
                        "loop on the beat")


def make_loop(positions: np.ndarray, fps: float, beat_times: np.ndarray,
              blend_beats: float = BLEND_BEATS) -> np.ndarray:
    """Absolute canonical joints (T x 24 x 3) -> a loop (L x 24 x 3, float64), a whole number
    of beats long, that plays seamlessly on repeat; see the module's notes. It is frames
    `loop_span(T, fps, beat_times)` [first, stop) of the dance, its path closed and its
    end blended into the poses that lead into its first frame. `beat_times` are seconds
    from frame 0 (a dance's `meta["beat_times"]`)."""
    positions = np.asarray(positions, dtype=np.float64)
    first, stop, blend = loop_span(positions.shape[0], fps, beat_times, blend_beats)
    length = stop - first
    segment = positions[first - blend:stop]  # the lead-in, then the loop
    travel = root_travel(segment, fps=fps)
    drift = travel[-1] - travel[blend - 1]  # one pass: the frame before the loop to its last
    drift[2] -= 2 * np.pi * np.round(drift[2] / (2 * np.pi))  # whole turns stay in the loop
    share = np.arange(-blend, length) / length
    closed = with_travel(segment, -share[:, None] * drift)
    loop = closed[blend:].copy()
    loop[length - blend:] = blend_poses(loop[length - blend:], closed[:blend], ease(blend), fps)
    return loop
