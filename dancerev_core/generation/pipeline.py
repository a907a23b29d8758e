"""Music features -> dances: the Seq2Seq model's poses turned into motions.

The model writes one pose vector per frame in the checkpoint's joint set and fps (the layout
in model/config.py, root absolute and other joints relative to it, as the checkpoint encodes
and scales it: model/pose_encoding.py); this module cuts the
features to the requested span, runs the model (the fast int8 decoder by default, see
model/fast_decode.py) and unflattens the poses into absolute `Motion`s that carry the music's
beats, so later stages (metrics, the add-on's keyframes) can line the dance up with the song.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DanceRevError
from ..model.pose_encoding import model_poses_to_layout
from ..motion import Motion
from ..music.features import MusicFeatures
from ..skeletons import CANONICAL_24, joint_set
from . import feet
from .beat_sync import sync_to_beats
from .plausible import plausible_positions, settled_start

if TYPE_CHECKING:
    from ..model.checkpoint import Checkpoint

DECODERS = ("fast", "plain")
# The decoder starts from a fixed "beginning of pose" frame and needs a moment to find its
# way into a dance (issue 15: a quick turn at the start of every dance, bench/opening_turn.py).
# It runs this long on the music before the span asked for, and that part is dropped.
PREROLL_SECONDS = 1.0


def with_preroll(features: np.ndarray, first: int, stop: int, frames: int
                 ) -> tuple[np.ndarray, int]:
    """Features [first, stop) with up to `frames` frames of music before them, and how many.

    The song's own music before `first`; where the song starts sooner, it continues mirrored
    about the song's first frame (frame -j plays frame j), so the music runs on smoothly.
    """
    lowest = max(first - frames, -(len(features) - 1))
    before = features[np.abs(np.arange(lowest, first))]
    return np.concatenate([before, features[first:stop]]), len(before)


def frame_span(features: MusicFeatures, seconds: float | None, start: float) -> tuple[int, int]:
    """Frames [first, stop) of the features for `seconds` of music from `start` (seconds).

    Both ends round to the nearest frame; a span running past the song ends with the song.
    """
    if not math.isfinite(start) or start < 0:
        raise DanceRevError(f"start must be 0 s or more, got {start}")
    if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
        raise DanceRevError(f"seconds must be more than 0, got {seconds}")
    first = round(start * features.fps)
    if first >= features.num_frames:
        raise DanceRevError(f"start {start:g} s is at or past the end of the music "
                            f"({features.num_frames / features.fps:.2f} s)")
    stop = features.num_frames
    if seconds is not None:
        stop = min(stop, first + max(1, round(seconds * features.fps)))
    return first, stop


def poses_to_motion(poses: np.ndarray, joints: str, fps: float,
                    meta: dict | None = None) -> Motion:
    """(T, J*D) model poses -> absolute Motion (unflatten joint-major, undo root-relative)."""
    js = joint_set(joints)
    positions = np.asarray(poses, dtype=np.float32).reshape(len(poses), js.num_joints, js.dims)
    relative = Motion(positions=positions, fps=fps, skeleton=js.name,
                      joint_names=js.joint_names, root_relative=True, meta=dict(meta or {}))
    return relative.to_absolute()


def generate_dance(features: MusicFeatures, checkpoint: Checkpoint, seconds: float | None = None,
                   seed: int = 0, num: int = 1, *, start: float = 0.0, decoder: str = "fast",
                   beat_sync: bool = True, plant_feet: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> list[Motion]:
    """`num` dances as delivered: `decode_dances` (see there), then `finish_dance` (the
    opening held still, canonical 3D ones made physically plausible and, with `beat_sync`,
    the default, re-timed so their accents land on the song's beats; with `plant_feet`,
    the default, their standing feet pinned to the floor)."""
    return [finish_dance(dance, beat_sync, plant_feet=plant_feet)
            for dance in decode_dances(features, checkpoint, seconds, seed, num, start=start,
                                       decoder=decoder, progress=progress)]


def decode_dances(features: MusicFeatures, checkpoint: Checkpoint, seconds: float | None = None,
                  seed: int = 0, num: int = 1, *, start: float = 0.0, decoder: str = "fast",
                  progress: Callable[[int, int], None] | None = None) -> list[Motion]:
    """`num` dances for the music from `start` for `seconds` (default: to the song's end).

    Returns absolute motions in the checkpoint's joint set at its fps (the features must be
    at that fps: `analyse_song(path, fps=checkpoint.config.fps)`). Frame 0 of each motion
    is the music at `meta["audio_start"]` seconds (`start` rounded to a frame), and
    `meta["beat_times"]` lists the song's beats in seconds relative to that frame 0 (beats
    within the motion only), with `meta["tempo"]` in BPM; also the seed, the variation
    (1..num) and the decoder used. The same seed and num give the same dances; the num
    dances are one batched pass and differ by the model's random initial LSTM states.
    `decoder="fast"` is model/fast_decode.py (int8 on CPU, within its INT8_TOLERANCE of the
    fp32 result; the rearranged fp32 path on other devices); "plain" is the straightforward
    fp32 loop `Seq2Seq.generate`. Any length works: the encoder runs in windows and the
    decoder needs constant memory per step. `progress(done, total)` (fast decoder only) is
    called every few dozen frames; an exception raised there cancels (its total includes
    the pre-roll: the decoder first runs PREROLL_SECONDS on the music before the span, see
    `with_preroll`, and those frames are dropped). These are the model's poses as decoded;
    `finish_dance` turns them into what users get.
    """
    import torch

    from ..model.fast_decode import fast_generate, int8_available

    config = checkpoint.config
    if decoder not in DECODERS:
        raise DanceRevError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    if num < 1:
        raise DanceRevError(f"number of dances must be at least 1, got {num}")
    if features.features.ndim != 2 or features.features.shape[1] != config.num_features:
        raise DanceRevError(f"model {checkpoint.path.name} takes {config.num_features} music "
                            f"features per frame, got {features.features.shape[1:]}")
    if not math.isclose(features.fps, config.fps, rel_tol=1e-9):
        raise DanceRevError(f"features are at {features.fps:g} fps, model "
                            f"{checkpoint.path.name} at {config.fps:g} fps")
    first, stop = frame_span(features, seconds, start)
    span, preroll = with_preroll(features.features, first, stop,
                                 round(PREROLL_SECONDS * config.fps))
    model = checkpoint.model
    device = next(model.parameters()).device
    music = torch.from_numpy(np.ascontiguousarray(span, dtype=np.float32)).to(device)
    generator = torch.Generator().manual_seed(seed)
    if decoder == "plain":
        poses = model.generate(music, generator, num)
        used = "plain fp32"
    else:
        precision = "int8" if device.type == "cpu" and int8_available() else "fp32"
        poses = fast_generate(model, music, generator, num, precision=precision,
                              progress=progress)
        used = f"fast {precision}"
    poses = model_poses_to_layout(poses[:, preroll:].float().cpu().numpy(), config)
    audio_start = first / features.fps
    length = (stop - first) / features.fps
    beats = np.asarray(features.beat_times, dtype=np.float64) - audio_start
    beats = beats[(beats >= 0) & (beats < length)]
    meta = {"source": "dancerev generate", "model": checkpoint.path.name,
            "audio_start": audio_start, "beat_times": [round(float(b), 6) for b in beats],
            "tempo": float(features.tempo), "seed": int(seed), "num": int(num),
            "decoder": used}
    return [poses_to_motion(poses[k], config.joint_set, config.fps,
                            {**meta, "variation": k + 1})
            for k in range(num)]


def finish_dance(dance: Motion, beat_sync: bool = True, *, plant_feet: bool = True) -> Motion:
    """A decoded dance as delivered, in this order: its opening rush held still
    (`plausible.settled_start`); for canonical 3D joints, made physically plausible
    (plausible.py) and, unless `plant_feet` is False, its feet standing on the floor pinned
    in place with the legs reaching them (feet.py; `meta["feet"]` says what was done), so
    that beat sync times the dance as it will look; re-timed onto the beats in its meta
    (beat_sync.py, unless `beat_sync` is False; `meta["beat_sync"]` says what moved), then
    made plausible again. (Re-timing keeps a pinned foot pinned, and the plausible pass
    only moves a foot where a bone was shortened; planting after beat sync instead costs
    the beats: bench/skating.py.) The decoded dance is left as it was."""
    positions, meta = settled_start(dance.positions, dance.fps), dict(dance.meta)
    canonical = dance.skeleton == CANONICAL_24.name
    if canonical:
        positions = plausible_positions(positions, dance.fps)
        meta["plausible"] = "no glitches, constant bone lengths, feet on the floor (plausible.py)"
        if plant_feet:
            contacts = feet.foot_contacts(positions, dance.fps)
            positions = feet.plant_feet(positions, dance.fps, contacts)
            held = sum(c.stop - c.start for c in contacts) / max(1, 2 * len(positions))
            meta["feet"] = (f"feet planted on {len(contacts)} spots ({held:.0%} of foot-frames), "
                            "ankle and toe pinned, legs re-solved by two-bone IK, hips "
                            "unchanged (feet.py)")
    if beat_sync:
        positions, report = sync_to_beats(positions, dance.fps, meta["beat_times"])
        meta["beat_sync"] = report.summary()
        if canonical:  # re-timing blends neighbouring frames, which shortens fast-turning bones
            positions = plausible_positions(positions, dance.fps)
    return dance.with_positions(np.asarray(positions, dtype=np.float32), meta=meta)


def variation_paths(output: str | Path, num: int) -> list[Path]:
    """OUT.npz for one dance; OUT_1.npz .. OUT_K.npz for K variations."""
    output = Path(output)
    if num == 1:
        return [output]
    return [output.with_name(f"{output.stem}_{k}{output.suffix}") for k in range(1, num + 1)]
