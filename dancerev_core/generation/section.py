"""Regenerating a section of a dance: frames A..B danced anew (another seed), the rest kept.

An animator who likes a dance but for one passage asks for that passage again.
`regenerate_section` decodes a new piece over the section's music (`pipeline.decode_dances`
with its pre-roll: the decoder first hears the music before A, so the piece starts in the
flow of the song rather than from the decoder's fixed opening pose), finishes it as
`pipeline.finish_dance` does (opening held still, no glitches, the dance's own bone lengths,
on the floor, beat sync) except that it is not turned to face the front: that would turn
the piece away from the dance around it. It is aligned instead, and spliced in:

`splice_section` keeps every frame outside [first, stop) bit for bit. Inside, the piece is
first moved and turned as one body so that at the section's first frame its root stands
where the dance's does and faces the same way (`root_motion.body_yaw`); then, where the
dance goes on after the section, the difference in place and facing between the piece's
last frame and the dance's is taken off gradually over the section (with a smoothstep
share, so no velocity jumps where the bending starts or ends), so the piece hands back
where and as the dance continues. Last, the piece is blended with the dance's own frames
over `blend` frames at each end inside the section (`root_motion.blend_poses`, in
root-relative, facing-aligned coordinates, weight `root_motion.ease`: C1, so neither the
pose nor its velocity jumps). `regenerate_section` blends over half a beat.

What the blend guarantees at the seams: a step there is a weighted mean of the two dances'
steps plus the change of weight (at most 1.5 / (blend + 1) per frame) times how far the two
poses are apart (relative to root and facing). Over half a beat, two very different poses
make a quick but continuous change of pose, as a dancer makes between two moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..body_frame import rotate_yaw
from ..errors import DanceRevError
from ..lifting.postprocess import clip_bone_lengths, constant_bone_lengths
from ..music.features import MusicFeatures
from ..skeletons import CANONICAL_24
from .beat_sync import sync_to_beats
from .pipeline import decode_dances
from .plausible import on_the_floor_with_constant_bones, settled_start, without_glitches
from .root_motion import MODEL_FPS, ROOT, blend_poses, body_yaw, ease, with_travel

if TYPE_CHECKING:
    from ..model.checkpoint import Checkpoint

BLEND_BEATS = 0.5  # regenerate_section blends over this many beats at each end
DEFAULT_BEAT = 0.5  # seconds per beat when neither beats nor a tempo are known


def align_section(original: np.ndarray, replacement: np.ndarray, first: int, stop: int,
                  fps: float = MODEL_FPS) -> np.ndarray:
    """`replacement` (stop - first frames) moved and turned as one body to start where and as
    `original` does at frame `first`, then, unless the section runs to the dance's end,
    bent gradually (each frame turned about its root and moved, by a smoothstep share of the
    difference) to end where and as `original` does at frame stop - 1. Float64."""
    original = np.asarray(original, dtype=np.float64)
    piece = np.asarray(replacement, dtype=np.float64)
    yaw_original = body_yaw(original, fps)
    turn = yaw_original[first] - body_yaw(piece, fps)[0]
    piece = rotate_yaw(piece, turn, piece[0, ROOT, :2])
    piece[..., :2] += original[first, ROOT, :2] - piece[0, ROOT, :2]
    if stop < original.shape[0] and piece.shape[0] > 1:
        miss = np.zeros(3)
        miss[:2] = original[stop - 1, ROOT, :2] - piece[-1, ROOT, :2]
        miss[2] = yaw_original[stop - 1] - body_yaw(piece, fps)[-1]
        miss[2] -= 2 * np.pi * np.round(miss[2] / (2 * np.pi))  # the shorter way round
        u = np.linspace(0.0, 1.0, piece.shape[0])
        piece = with_travel(piece, (u * u * (3 - 2 * u))[:, None] * miss)
    return piece


def splice_section(original: np.ndarray, replacement: np.ndarray, first: int, stop: int,
                   blend: int, fps: float = MODEL_FPS) -> np.ndarray:
    """`original` (T x 24 x 3) with frames [first, stop) replaced by `replacement`, aligned
    to it (`align_section`) and blended into its neighbours over `blend` frames at each end
    inside the section (at most half the section; no blend at an end of the dance, where
    there is no neighbour). Frames outside the section are the original's, bit for bit, in
    its dtype."""
    original = np.asarray(original)
    frames = original.shape[0]
    if not 0 <= first < stop <= frames:
        raise DanceRevError(f"section [{first}, {stop}) is not within the dance's {frames} "
                            "frames")
    length = stop - first
    if np.shape(replacement) != (length, *original.shape[1:]):
        raise DanceRevError(f"the replacement has shape {np.shape(replacement)}, the section "
                            f"needs {(length, *original.shape[1:])}")
    piece = align_section(original, replacement, first, stop, fps)
    blend = max(0, min(int(blend), length // 2))
    if blend and first > 0:
        piece[:blend] = blend_poses(original[first:first + blend], piece[:blend],
                                    ease(blend), fps)
    if blend and stop < frames:
        piece[-blend:] = blend_poses(piece[-blend:], original[stop - blend:stop],
                                     ease(blend), fps)
    spliced = original.copy()
    spliced[first:stop] = piece
    return spliced


def section_frames(frames: int, fps: float, start_seconds: float, stop_seconds: float
                   ) -> tuple[int, int]:
    """Frames [first, stop) of a dance of `frames` frames for the seconds start..stop (each
    end rounded to the nearest frame; stop past the end ends with the dance)."""
    if not (np.isfinite(start_seconds) and np.isfinite(stop_seconds)) or start_seconds < 0:
        raise DanceRevError(f"section {start_seconds:g}..{stop_seconds:g} s: start must be "
                            "0 s or more")
    first, stop = round(start_seconds * fps), min(frames, round(stop_seconds * fps))
    if stop - first < 2:
        raise DanceRevError(f"section {start_seconds:g}..{stop_seconds:g} s holds fewer than "
                            f"two frames of the {frames / fps:.2f}-s dance")
    return first, stop


def beat_seconds(beat_times: np.ndarray, tempo: float | None = None) -> float:
    """Seconds per beat: the median beat interval, else 60 / tempo, else DEFAULT_BEAT."""
    beats = np.sort(np.asarray(beat_times, dtype=np.float64).reshape(-1))
    if beats.size >= 2:
        return float(np.median(np.diff(beats)))
    if tempo and np.isfinite(tempo) and tempo > 0:
        return 60.0 / float(tempo)
    return DEFAULT_BEAT


def regenerate_section(features: MusicFeatures, checkpoint: Checkpoint,
                       dance_positions: np.ndarray, start_seconds: float, stop_seconds: float,
                       seed: int, beat_times: np.ndarray, *, audio_start: float = 0.0,
                       decoder: str = "fast", beat_sync: bool = True,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The dance (T x 24 x 3 absolute canonical joints at the checkpoint's fps, frame 0 at
    `audio_start` seconds of the song `features` describe) with its seconds
    start..stop danced anew with `seed`, blended in over half a beat at each end; see the
    module's notes. `beat_times` are seconds from the dance's frame 0 (its
    `meta["beat_times"]`). Frames outside the section are the dance's, bit for bit."""
    config = checkpoint.config
    if config.joint_set != CANONICAL_24.name:
        raise DanceRevError(f"regenerating a section needs a {CANONICAL_24.name} model, "
                            f"{checkpoint.path.name} writes {config.joint_set}")
    original = np.asarray(dance_positions)
    fps = float(config.fps)
    first, stop = section_frames(original.shape[0], fps, start_seconds, stop_seconds)
    [decoded] = decode_dances(features, checkpoint, (stop - first) / fps, seed,
                              start=audio_start + first / fps, decoder=decoder,
                              progress=progress)
    if decoded.num_frames != stop - first:
        raise DanceRevError(f"the music ends {decoded.num_frames / fps:.2f} s into the "
                            f"section, which is {(stop - first) / fps:.2f} s long")
    beats = np.asarray(beat_times, dtype=np.float64).reshape(-1)
    lengths = clip_bone_lengths(original)
    piece = _finished(decoded.positions, fps, lengths, beats - first / fps if beat_sync else None)
    blend = max(1, round(BLEND_BEATS * beat_seconds(beats, features.tempo) * fps))
    spliced = splice_section(original, piece, first, stop, blend, fps)
    # the blends mix two bodies, which shortens bones that point apart: back to length
    spliced[first:stop] = constant_bone_lengths(spliced[first:stop], lengths)
    return spliced


def _finished(positions: np.ndarray, fps: float, lengths: np.ndarray,
              beats: np.ndarray | None) -> np.ndarray:
    """`pipeline.finish_dance` for a piece, without turning it to the front and with the
    dance's bone lengths (`lengths` are left-right symmetric, so the floor step keeps them)."""
    def plausible(piece: np.ndarray) -> np.ndarray:
        piece = constant_bone_lengths(without_glitches(piece, fps), lengths)
        return on_the_floor_with_constant_bones(piece, fps)

    piece = plausible(settled_start(np.asarray(positions, dtype=np.float64), fps))
    if beats is not None:
        piece = plausible(sync_to_beats(piece, fps, beats)[0])
    return piece
