"""Training data: a dataset folder -> aligned (music features, pose) windows, split by clip.

Two dataset layouts are read (`data_format`):
- "paired": the paired dataset folder of `formats.paired_dataset` (BVH, motion .npz or
  OpenPose folders, each with its song). Music features come from `analyse_song` (cached);
  AIST++ `.pkl` motions are not listed by that reader: convert them to `.npz` first
  (`dancerev convert`).
- "paper": a folder of the paper's JSON clips (or one clip file), whose `music_array` is
  already at 15 fps, one row per dance frame.
"auto" picks "paired" when the folder holds songs, else "paper" when it holds paper clips.

Per clip (all numpy, no torch):
1. the motion: missing keypoints filled (`fill_missing`), resampled to the model fps, 2D pixel
   coordinates normalised to [-1, 1] by the video size (the paper's normalisation; OpenPose
   files do not record the size, so it must be given), made root-relative and flattened
   joint-major to pose vectors (`ModelConfig` pose layout), then re-encoded as the model's
   `pose_encoding` says (the root's travel as per-frame displacement, model/pose_encoding.py;
   per clip, so a window's first frame keeps its true displacement). 3D inputs arrive as
   canonical24, 2D as body25; that joint set must be the model's.
2. the music: motion frame j is at `audio_offset + j / fps` seconds of the song. Features are
   taken from the native 30 fps analysis at those instants: copied rows when every instant is
   a native frame (offset a whole number of 1/30 s and 30 / fps whole; with offset 0 at 15 fps
   this is exactly `analyse_song(fps=15)`, what generation feeds the model), else linear
   interpolation with the beat column rebuilt from the beat times. The clip ends where the
   motion or the song ends.
3. windows: non-overlapping runs of `seq_len` frames from the clip's start; the tail shorter
   than `seq_len` is dropped (as the paper's non-overlapping sub-sequences). DEFAULT_SEQ_LEN is
   120 frames (8 s at 15 fps): the released configuration trains on whole 900-frame minutes,
   which small datasets of 5-60 s mocap takes cannot fill; 8 s still holds several
   ground-truth/self-fed cycles of the curriculum.

Split BY CLIP, so a clip's windows never straddle train and validation: round(val_fraction x
clips) clips (at least 1, at most clips - 1) chosen by a permutation seeded with `seed`
validate. With a single clip there is nothing to split by: its last window validates (the
summary says so, as validation is then not independent); a single clip with a single window
trains without validation. `val_fraction` 0 means no validation. Mirroring (`mirror`) adds a
left/right mirrored copy of every training clip (validation is never augmented).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DanceRevError
from ..model.config import POSE_ENCODINGS
from ..model.pose_encoding import encode_layout
from ..motion import Motion, fps_fraction, normalize_image_coordinates
from ..music.features import (
    FEATURE_FPS,
    NUM_FEATURES,
    MusicFeatures,
    beat_one_hot,
    block_slices,
)
from ..skeletons import BODY_25, CANONICAL_24, joint_set
from .window_starts import cut_at, fixed_starts, moved_starts

DEFAULT_SEQ_LEN = 120
DEFAULT_VAL_FRACTION = 0.1
FORMATS = ("auto", "paired", "paper")
PAPER_FPS = 15.0
MAX_LISTED = 20  # skipped clips named in the summary; the rest are counted

Log = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class AlignedClip:
    """One clip in the model's view: features and motion frame by frame at the model fps."""

    name: str
    genre: str
    features: np.ndarray  # T x num_features, float32
    motion: Motion  # T frames, filled, model joint set, root-relative

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames

    def poses(self) -> np.ndarray:
        """T x pose_size: positions flattened joint-major (root absolute, others relative)."""
        return self.motion.positions.reshape(self.num_frames, -1)

    def mirrored(self) -> AlignedClip:
        return AlignedClip(f"{self.name} (mirrored)", self.genre, self.features,
                           self.motion.mirrored())


@dataclass(eq=False)
class Windows:
    """N windows of L frames: features (N, L, F) and poses (N, L, P), float32.

    `clips` keeps each clip's whole (features, encoded poses), which the windows were cut
    from, so training can cut them again at other starts (window_starts.py)."""

    features: np.ndarray
    poses: np.ndarray
    clip_names: list[str] = field(default_factory=list)
    clips: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features)

    def recut(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(features, poses) of as many windows per clip, at starts moved by `rng`."""
        seq_len = self.features.shape[1]
        pieces = [cut_at(features, poses, moved_starts(len(features), seq_len, rng), seq_len)
                  for features, poses in self.clips]
        return (np.concatenate([f for f, _ in pieces]).astype(np.float32, copy=False),
                np.concatenate([p for _, p in pieces]).astype(np.float32, copy=False))


@dataclass(eq=False)
class TrainingData:
    train: Windows
    val: Windows  # may hold no window
    joint_set: str
    summary: dict[str, Any]
    val_clips: list[AlignedClip] = field(default_factory=list)  # whole, for the health check


# ---------------------------------------------------------------------- the whole dataset
def load_training_data(path: str | Path, *, fps: float = 15.0, seq_len: int = DEFAULT_SEQ_LEN,
                       joint_set: str | None = None, data_format: str = "auto",
                       val_fraction: float = DEFAULT_VAL_FRACTION, seed: int = 0,
                       mirror: bool = False, image_size: tuple[float, float] | None = None,
                       pose_encoding: str = "displacement",
                       log: Log | None = None) -> TrainingData:
    """Read a dataset, cut it into windows and split it by clip (see the module docstring).

    `joint_set` None takes the data's own (canonical24 for 3D, body25 for 2D); a given one
    that the data does not have is a one-line error. `log` receives notes (skipped clips,
    the split rule when it is not the ordinary one).
    """
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise DanceRevError(f"seq_len must be a whole number of frames >= 1, got {seq_len!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise DanceRevError(f"validation fraction must be in [0, 1), got {val_fraction}")
    if pose_encoding not in POSE_ENCODINGS:
        raise DanceRevError(f"unknown pose encoding {pose_encoding!r} (known: "
                            f"{', '.join(POSE_ENCODINGS)})")
    say = log or (lambda _message: None)
    path = Path(path)
    chosen = detect_format(path) if data_format == "auto" else data_format
    if chosen == "paired":
        clips, skipped = read_paired(path, fps, image_size)
    elif chosen == "paper":
        clips, skipped = read_paper(path, fps)
    else:
        raise DanceRevError(f"unknown dataset format {data_format!r} (known: "
                            f"{', '.join(FORMATS)})")
    data_joint_set = _common_joint_set(path, clips)
    if joint_set is not None and joint_set != data_joint_set:
        raise DanceRevError(f"{path}: the data is {data_joint_set} ({_dims(data_joint_set)}) "
                            f"but the model config says joint_set {joint_set!r}")
    usable = []
    for clip in clips:
        if clip.num_frames < seq_len:
            skipped.append(f"{clip.name}: {clip.num_frames} frames at {fps:g} fps, shorter "
                           f"than one window (seq_len {seq_len})")
        else:
            usable.append(clip)
    for reason in skipped:
        say(f"skipped {reason}")
    if not usable:
        raise DanceRevError(f"{path}: no clip gives a training window of {seq_len} frames "
                            f"({len(clips)} clips read, {len(skipped)} skipped)")
    train_clips, val_clips, split_rule = split_by_clip(usable, seq_len, val_fraction, seed)
    if split_rule != "by clip":
        say(f"note: {split_rule}")
    if mirror:
        train_clips = train_clips + [clip.mirrored() for clip in train_clips]
    train = cut_windows(train_clips, seq_len, pose_encoding)
    val = cut_windows(val_clips, seq_len, pose_encoding)
    summary = _summary(path, chosen, fps, seq_len, data_joint_set, usable, train, val,
                       val_clips, skipped, split_rule, val_fraction, seed, mirror)
    summary["pose_encoding"] = pose_encoding
    return TrainingData(train=train, val=val, joint_set=data_joint_set, summary=summary,
                        val_clips=val_clips)


def detect_format(path: Path) -> str:
    """'paired' when the folder holds songs, 'paper' for paper clips; else a one-line error."""
    from ..formats.paired_dataset import AUDIO_SUFFIXES

    if path.is_file() and path.suffix.lower() == ".json":
        return "paper"
    if not path.is_dir():
        raise DanceRevError(f"{path}: dataset folder not found")
    files = [p for p in path.rglob("*") if p.is_file()]
    if any(p.suffix.lower() in AUDIO_SUFFIXES for p in files):
        return "paired"
    if any(p.suffix.lower() == ".json" and _is_paper_clip(p) for p in files):
        return "paper"
    raise DanceRevError(f"{path}: not a dataset: no songs for a paired dataset and no paper "
                        f"JSON clips (music_array + dance_array) found")


def _is_paper_clip(path: Path) -> bool:
    with open(path, "rb") as stream:
        head = stream.read(1 << 16)
    return b'"music_array"' in head or b'"dance_array"' in head


# ---------------------------------------------------------------------- readers
def read_paired(folder: Path, fps: float,
                image_size: tuple[float, float] | None = None) -> tuple[list[AlignedClip],
                                                                        list[str]]:
    """Every usable clip of a paired dataset folder, and why the others were skipped."""
    from ..formats.paired_dataset import list_clips
    from ..music.analysis import analyse_song

    listing = list_clips(folder, validate_motion=False)
    skipped = [str(problem) for problem in listing.unusable]
    skipped += [f"{path}: AIST++ .pkl motions are not read from dataset folders yet; convert "
                f"them first (dancerev convert {path.name} -o {path.stem}.npz)"
                for path in sorted(folder.rglob("*.pkl"))]
    clips = []
    for clip in listing.clips:
        try:
            motion = model_motion(clip.load_motion(joints="canonical"), fps, image_size)
            music = analyse_song(clip.audio_path, fps=FEATURE_FPS)
            features = align_features(music, clip.audio_offset, fps, motion.num_frames)
        except DanceRevError as error:
            skipped.append(f"{clip.name}: {error}")
            continue
        if len(features) == 0:
            skipped.append(f"{clip.name}: the song ({music.duration:.2f} s) ends before the "
                           f"motion starts (audio_offset {clip.audio_offset:g} s)")
            continue
        motion = motion.trimmed(0, len(features))
        clips.append(AlignedClip(clip.name, clip.genre, features, motion))
    return clips, skipped


def read_paper(path: Path, fps: float) -> tuple[list[AlignedClip], list[str]]:
    """Every paper JSON clip under `path` (or the one clip `path`), genre = its folder's name."""
    from ..formats.paper_json import read_paper_json

    if fps != PAPER_FPS:
        raise DanceRevError(f"the paper's clips hold music features at {PAPER_FPS:g} fps; the "
                            f"model config's fps is {fps:g}")
    if path.is_file():
        root, files = path.parent, [path]
    elif path.is_dir():
        root, files = path, sorted(p for p in path.rglob("*.json") if p.is_file())
    else:
        raise DanceRevError(f"{path}: dataset folder not found")
    clips, skipped = [], []
    for file in files:
        name = file.relative_to(root).with_suffix("").as_posix()
        try:
            paper = read_paper_json(file)
            motion = paper.motion.fill_missing()
        except DanceRevError as error:
            skipped.append(str(error))
            continue
        clips.append(AlignedClip(name, file.parent.name, paper.music, motion))
    return clips, skipped


def model_motion(motion: Motion, fps: float,
                 image_size: tuple[float, float] | None = None) -> Motion:
    """Filled, resampled to `fps`, 2D pixels normalised, root-relative (the paper's view)."""
    if motion.skeleton not in (CANONICAL_24.name, BODY_25.name):
        raise DanceRevError(f"motion has a {motion.skeleton!r} skeleton; training needs "
                            f"{CANONICAL_24.name} (3D) or {BODY_25.name} (2D)")
    motion = motion.fill_missing().resample(fps)
    if motion.dims == 2 and motion.meta.get("coordinates") == "pixels":
        if image_size is None:
            raise DanceRevError("2D keypoints are in pixels; give the video's size "
                                "(--image-size WIDTHxHEIGHT) to normalise them to [-1, 1] "
                                "as the paper does")
        motion = normalize_image_coordinates(motion, *image_size)
    return motion.to_root_relative()


def align_features(music: MusicFeatures, offset: float, fps: float,
                   num_frames: int) -> np.ndarray:
    """Feature rows at `offset + j / fps` s, j < num_frames, as far as the song reaches.

    Copied rows when every instant is a frame of `music`, else linear interpolation with the
    beat column rebuilt from `music.beat_times` (each beat marks its nearest frame).
    """
    step = fps_fraction(music.fps) / fps_fraction(fps)  # music frames per motion frame
    start = offset * music.fps
    last = music.num_frames - 1
    if start > last:
        return np.zeros((0, music.features.shape[1]), np.float32)
    count = min(num_frames, math.floor((last - start) / step + 1e-9) + 1)
    whole_start = round(start)
    if step.denominator == 1 and abs(start - whole_start) < 1e-6:
        kept = music.decimated(whole_start, int(step)).features[:count]
        return np.ascontiguousarray(kept, dtype=np.float32)
    position = start + np.arange(count) * float(step)
    lower = np.minimum(np.floor(position).astype(np.int64), last)
    upper = np.minimum(lower + 1, last)
    weight = (position - lower)[:, None]
    source = music.features.astype(np.float64)
    blended = source[lower] * (1.0 - weight) + source[upper] * weight
    blended[:, block_slices()["beat"]] = beat_one_hot(
        np.asarray(music.beat_times) - offset, fps, count)[:, None]
    return blended.astype(np.float32)


# ---------------------------------------------------------------------- split and windows
def split_by_clip(clips: list[AlignedClip], seq_len: int, val_fraction: float,
                  seed: int) -> tuple[list[AlignedClip], list[AlignedClip], str]:
    """(train clips, validation clips, the rule used); see the module docstring."""
    if val_fraction == 0:
        return list(clips), [], "no validation (validation fraction 0)"
    if len(clips) == 1:
        if clips[0].num_frames // seq_len < 2:
            return list(clips), [], ("one clip with one window: training without "
                                     "validation")
        clip = clips[0]
        cut = (clip.num_frames // seq_len - 1) * seq_len
        return [_trimmed(clip, 0, cut)], [_trimmed(clip, cut, cut + seq_len)], (
            "one clip only: its last window validates (not independent of training, which "
            "uses the clip's earlier windows)")
    count = min(len(clips) - 1, max(1, round(val_fraction * len(clips))))
    chosen = set(np.random.default_rng(seed).permutation(len(clips))[:count].tolist())
    train = [clip for i, clip in enumerate(clips) if i not in chosen]
    val = [clip for i, clip in enumerate(clips) if i in chosen]
    return train, val, "by clip"


def cut_windows(clips: list[AlignedClip], seq_len: int,
                pose_encoding: str = "displacement") -> Windows:
    """Non-overlapping windows of `seq_len` frames from each clip's start; tails dropped."""
    features, poses, names, whole = [], [], [], []
    for clip in clips:
        clip_poses = encode_layout(clip.poses(), clip.motion.skeleton, pose_encoding)
        clip_features = clip.features[:len(clip_poses)]
        starts = fixed_starts(len(clip_poses), seq_len)
        if not len(starts):
            continue
        cut_features, cut_poses = cut_at(clip_features, clip_poses, starts, seq_len)
        features.append(cut_features)
        poses.append(cut_poses)
        names += [clip.name] * len(starts)
        whole.append((clip_features.astype(np.float32), clip_poses.astype(np.float32)))
    if not features:
        return Windows(np.zeros((0, seq_len, NUM_FEATURES), np.float32),
                       np.zeros((0, seq_len, 0), np.float32), [])
    return Windows(np.concatenate(features).astype(np.float32),
                   np.concatenate(poses).astype(np.float32), names, whole)


# ---------------------------------------------------------------------- helpers
def _trimmed(clip: AlignedClip, start: int, stop: int) -> AlignedClip:
    return AlignedClip(clip.name, clip.genre, clip.features[start:stop],
                       clip.motion.trimmed(start, stop))


def _dims(name: str) -> str:
    return f"{joint_set(name).dims}D"


def _common_joint_set(path: Path, clips: list[AlignedClip]) -> str:
    sets = Counter(clip.motion.skeleton for clip in clips)
    if not sets:
        return CANONICAL_24.name
    if len(sets) > 1:
        raise DanceRevError(f"{path}: mixes 2D and 3D motions ("
                            + ", ".join(f"{n} {name}" for name, n in sorted(sets.items()))
                            + "); train on one kind at a time")
    return next(iter(sets))


def _summary(path: Path, data_format: str, fps: float, seq_len: int, joint_set_name: str,
             usable: list[AlignedClip], train: Windows, val: Windows,
             val_clips: list[AlignedClip], skipped: list[str], split_rule: str,
             val_fraction: float, seed: int, mirror: bool) -> dict[str, Any]:
    """What the model was trained on, for the checkpoint's `training` dict (plain JSON)."""
    def part(windows: Windows) -> dict[str, Any]:
        frames = len(windows) * seq_len
        return {"clips": len(set(windows.clip_names)), "windows": len(windows),
                "frames": frames, "seconds": round(frames / fps, 3)}

    return {
        "source": str(path), "format": data_format, "fps": fps, "joint_set": joint_set_name,
        "seq_len": seq_len, "clips": len(usable),
        "seconds_read": round(sum(clip.num_frames for clip in usable) / fps, 3),
        "genres": dict(sorted(Counter(clip.genre for clip in usable).items())),
        "train": part(train), "val": part(val),
        "val_clips": sorted({clip.name for clip in val_clips}),
        "split": split_rule, "val_fraction": val_fraction, "seed": seed, "mirror": mirror,
        "skipped": len(skipped), "skipped_examples": skipped[:MAX_LISTED],
    }
