"""All metrics for a real set of dances against one or more generated sets.

Sets of dances (`load_dance_set`): a folder is either a paired dataset (motions + songs,
formats/paired_dataset.py: genre from the folder or sidecar, musical beats from
`analyse_song` of the song, shifted by `audio_offset` and kept within the dance) or a folder
of motion files (.npz, .bvh, .pkl), such as `dancerev generate` writes: musical beats from the
motion's `meta["beat_times"]` (seconds from frame 0), genre from `meta["genre"]` else the
sub-folder the file is in, and the music a dance was made for from `meta["music"]` else the
file name without the `_K` that `--num K` adds. Every motion is filled, made absolute and
resampled to ONE evaluation frame rate (`Settings.fps`, the classifier's, 15 by default).

Metrics per set (JSON keys in brackets; None where a set lacks what a metric needs):
- classifier windows: non-overlapping runs of `window` (50) frames from each dance's start
  (tail dropped), features = the style classifier's last LSTM state (classifier.py).
- FID [fid]: Frechet distance between Gaussians of real and generated window features. For
  the real set itself: its even-numbered dances against its odd-numbered ones (name order),
  the noise floor of the data.
- ACC [acc]: share of generated windows whose predicted genre is the genre of their music;
  windows of genres the classifier does not know are left out (counted in acc_windows).
- diversity [diversity]: mean Euclidean distance between the features of every pair of
  windows from dances made for DIFFERENT music (all pairs; above MAX_EXACT_WINDOWS windows a
  seeded sample of MAX_PAIRS pairs).
- multimodality [multimodality]: for every music with 2+ dances, every pair of its dances,
  the distance between their windows at the same position (window k with window k); the
  mean over all those pairs. None when no music has 2+ dances.
- beat coverage [beat_coverage] and hit rate [beat_hit_rate] (beats.py, Lee et al.): pooled
  over the set's dances that have musical beats: coverage = all kinematic beats / all
  musical beats, hit rate = kinematic beats within `tolerance` s of a musical beat / all
  kinematic beats. The tolerance is stored with every result.
- beat-align score [beat_align] (Bailando): per dance at the evaluation fps, averaged over
  dances.
- FID_k, FID_g [fid_k, fid_g] and Div_k, Div_g [div_k, div_g] (motion_features.py, 3D
  canonical only): features per DANCE when the real set and every generated set hold at
  least MIN_DANCES dances, else per non-overlapping WINDOW of FEATURE_WINDOW_SECONDS (one
  unit for all sets, stated in the settings); z-scored with the real set's mean and std;
  FID as above (halves for the real set); Div = mean pairwise distance within the set.
- long-term FID: each dance cut into consecutive CLIP_SECONDS clips (tail dropped); for
  clip index k, the FID between ALL real clips (every position pooled: the real reference)
  and the set's k-th clips, on classifier features of the whole clip and, for 3D, on
  z-scored kinetic features. Needs 2+ dances reaching clip k.
- speed statistics: mean and std of the smoothed mean joint speed (units/s), kinematic beats
  per second, and the same for musical beats.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DanceRevError
from ..files import json_ready
from ..motion import Motion
from ..skeletons import CANONICAL_24
from .beats import (
    DEFAULT_TOLERANCE,
    beat_align_kinematic_frames,
    beat_align_score,
    beat_scores,
    kinematic_beats,
    speed_curve,
)
from .frechet import fid, mean_pairwise_distance, normalise_by
from .motion_features import geometric_features, kinetic_features

if TYPE_CHECKING:
    from .classifier import LoadedClassifier

DEFAULT_FPS = 15.0
WINDOW = 50
CLIP_SECONDS = 4.0
FEATURE_WINDOW_SECONDS = 2.0
MIN_DANCES = 20
MAX_EXACT_WINDOWS = 5000
MAX_PAIRS = 200_000
MOTION_SUFFIXES = (".npz", ".bvh", ".pkl")
TABLE = ("fid", "acc", "beat_coverage", "beat_hit_rate", "diversity", "multimodality",
         "fid_k", "fid_g", "div_k", "div_g", "beat_align")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    fps: float = DEFAULT_FPS
    tolerance: float = DEFAULT_TOLERANCE
    clip_seconds: float = CLIP_SECONDS
    feature_window_seconds: float = FEATURE_WINDOW_SECONDS
    unit: str = "auto"  # 3D features per "dance" or per "window"; "auto" by MIN_DANCES
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("fps", "clip_seconds", "feature_window_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise DanceRevError(f"{name.replace('_', ' ')} must be positive, got {value}")
        if not math.isfinite(self.tolerance) or self.tolerance < 0:
            raise DanceRevError(f"beat tolerance must be 0 s or more, got {self.tolerance}")
        if self.unit not in ("auto", "dance", "window"):
            raise DanceRevError(f"3D feature unit must be auto, dance or window, got "
                                f"{self.unit!r}")


@dataclass(eq=False)
class Dance:
    name: str
    motion: Motion  # absolute, filled, at the evaluation fps
    genre: str | None = None
    music: str | None = None  # dances with the same key were made for the same music
    beat_times: np.ndarray | None = None  # seconds from frame 0, within the dance


@dataclass(eq=False)
class DanceSet:
    name: str
    source: str
    dances: list[Dance]
    skipped: list[str] = field(default_factory=list)

    @property
    def joint_set(self) -> str:
        return self.dances[0].motion.skeleton

    @property
    def seconds(self) -> float:
        return sum(d.motion.num_frames / d.motion.fps for d in self.dances)


# ---------------------------------------------------------------------- loading
def eval_motion(motion: Motion, fps: float) -> Motion:
    """Filled, absolute, at `fps`: the form every metric reads."""
    return motion.to_absolute().fill_missing().resample(fps)


def load_dance_set(folder: str | Path, fps: float, name: str | None = None,
                   progress: bool = False) -> DanceSet:
    """Every dance in a folder (see the module docstring); unreadable files are skipped."""
    from ..console import progress_bar
    from ..formats.paired_dataset import AUDIO_SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        raise DanceRevError(f"{folder}: folder of dances not found")
    name = name or folder.name
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    paired = any(p.suffix.lower() in AUDIO_SUFFIXES for p in files)
    items = _paired_items(folder) if paired else [(p, None) for p in files
                                                   if p.suffix.lower() in MOTION_SUFFIXES]
    dances, skipped = [], []
    for path, clip in progress_bar(items, desc=f"reading {name}", unit="dance",
                                   disable=not progress):
        if isinstance(path, str):  # an unusable clip, already explained
            skipped.append(path)
            continue
        try:
            dance = _paired_dance(clip, fps) if clip else _motion_dance(folder, path, fps)
        except DanceRevError as error:
            skipped.append(str(error))
            continue
        if dance is not None:
            dances.append(dance)
    if not dances:
        raise DanceRevError(f"{folder}: no readable dance ({len(skipped)} skipped"
                            + (f", e.g. {skipped[0]}" if skipped else "") + ")")
    sets = sorted({d.motion.skeleton for d in dances})
    if len(sets) > 1:
        raise DanceRevError(f"{folder}: mixes joint sets {', '.join(sets)}; evaluate one kind "
                            "at a time")
    return DanceSet(name=name, source=str(folder), dances=dances, skipped=skipped)


def _paired_items(folder: Path) -> list[tuple[Any, Any]]:
    from ..formats.paired_dataset import list_clips

    listing = list_clips(folder, validate_motion=False)
    return ([(str(problem), None) for problem in listing.unusable]
            + [(clip.motion_path, clip) for clip in listing.clips])


def generated_dance(name: str, motion: Motion, fps: float, genre: str | None = None,
                    music: str | None = None) -> Dance:
    """A dance as `generate_dance` delivers it, for the metrics: at `fps`, with the song's
    beats its meta carries."""
    beats = np.asarray(motion.meta.get("beat_times", []), dtype=np.float64)
    return Dance(name, eval_motion(motion, fps), genre, music, beats)


def clip_within_song(clip: Any, music: Any, fps: float,
                     min_frames: int = 2) -> tuple[Motion, np.ndarray]:
    """A paired clip's motion (`eval_motion` at `fps`) cut where its song (`music`, the
    clip's analysed audio) ends, and the song's beats in seconds from the motion's start.
    Fewer than `min_frames` frames left is a one-line error."""
    motion = eval_motion(clip.load_motion(joints="canonical"), fps)
    frames = min(motion.num_frames, math.floor((music.duration - clip.audio_offset) * fps) + 1)
    if frames < min_frames:
        raise DanceRevError(f"{clip.name}: the song ends before the motion starts")
    motion = motion.trimmed(0, frames)
    beats = np.asarray(music.beat_times, dtype=np.float64) - clip.audio_offset
    return motion, beats[(beats >= 0) & (beats <= motion.duration)]


def _paired_dance(clip: Any, fps: float) -> Dance | None:
    """A real clip: its motion within its song, the song's beats from its start."""
    from ..music.analysis import analyse_song

    motion, beats = clip_within_song(clip, analyse_song(clip.audio_path), fps)
    return Dance(clip.name, motion, clip.genre, f"{clip.audio_path.name}@{clip.audio_offset:g}",
                 beats)


def _motion_dance(root: Path, path: Path, fps: float) -> Dance:
    from ..formats.reading import read_motion

    raw = read_motion(path, joints="canonical")
    meta = raw.meta
    motion = eval_motion(raw, fps)
    relative = path.relative_to(root)
    genre = meta.get("genre") or (relative.parent.name if relative.parent.parts else None)
    stem = path.stem
    if meta.get("num", 1) > 1 and meta.get("variation"):
        stem = re.sub(rf"_{int(meta['variation'])}$", "", stem)
    music = meta.get("music") or (relative.parent / stem).as_posix()
    beats = meta.get("beat_times")
    if beats is not None:
        beats = np.asarray(beats, dtype=np.float64)
        beats = beats[(beats >= 0) & (beats <= motion.duration)]
    return Dance(relative.with_suffix("").as_posix(), motion, genre, music, beats)


# ---------------------------------------------------------------------- pieces of motion
def _cut(positions: np.ndarray, length: int) -> list[np.ndarray]:
    return [positions[s:s + length] for s in range(0, positions.shape[0] - length + 1, length)]


@dataclass(eq=False)
class Windows:
    """Pieces of a set's dances: arrays (N, T, J, D), which dance and which position."""

    data: np.ndarray
    dance: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.data)


def windows_of(dances: Sequence[Dance], length: int) -> Windows:
    data, dance, index = [], [], []
    for i, d in enumerate(dances):
        for k, piece in enumerate(_cut(d.motion.positions, length)):
            data.append(piece)
            dance.append(i)
            index.append(k)
    if not data:
        joints, dims = dances[0].motion.positions.shape[1:] if dances else (0, 0)
        return Windows(np.zeros((0, length, joints, dims), np.float32), np.zeros(0, int),
                       np.zeros(0, int))
    return Windows(np.stack(data), np.asarray(dance), np.asarray(index))


def _halves(count: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.arange(count)
    return order[0::2], order[1::2]


def _fid_or_none(real: np.ndarray, generated: np.ndarray) -> float | None:
    if len(real) < 2 or len(generated) < 2:
        return None
    return fid(real, generated)


# ---------------------------------------------------------------------- the metrics
def diversity(features: np.ndarray, music: Sequence[str | None], seed: int = 0) -> float | None:
    """Mean distance over pairs of rows whose music differs (see the module docstring)."""
    keys = np.asarray([str(m) for m in music])
    count = len(features)
    if count < 2 or len(set(keys)) < 2:
        return None
    if count > MAX_EXACT_WINDOWS:
        rng = np.random.default_rng(seed)
        a, b = rng.integers(0, count, MAX_PAIRS), rng.integers(0, count, MAX_PAIRS)
        keep = keys[a] != keys[b]
        return float(np.linalg.norm(features[a[keep]] - features[b[keep]], axis=1).mean())
    total, pairs = 0.0, 0
    squared = (features ** 2).sum(axis=1)
    for begin in range(0, count, 512):
        block = slice(begin, begin + 512)
        distance = np.sqrt(np.maximum(squared[block, None] + squared[None, :]
                                      - 2 * features[block] @ features.T, 0.0))
        different = keys[block, None] != keys[None, :]
        total += distance[different].sum()
        pairs += different.sum()
    return float(total / pairs)


def multimodality(features: np.ndarray, windows: Windows,
                  music: Sequence[str | None]) -> float | None:
    """Mean distance of same-position windows of different dances for the same music."""
    distances = []
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(music):
        if key is not None:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        for x, first in enumerate(members):
            for second in members[x + 1:]:
                a = np.flatnonzero(windows.dance == first)
                b = np.flatnonzero(windows.dance == second)
                shared = min(len(a), len(b))
                if shared:
                    distances.append(np.linalg.norm(features[a[:shared]] - features[b[:shared]],
                                                    axis=1))
    if not distances:
        return None
    return float(np.concatenate(distances).mean())


def beat_metrics(dances: Sequence[Dance], settings: Settings) -> dict[str, Any]:
    """Beat coverage, hit rate, beat-align score and speed statistics of one set."""
    fps = settings.fps
    kinematic_total = kinematic_with_music = musical_total = hits = 0
    align, speeds, seconds, music_seconds = [], [], 0.0, 0.0
    for dance in dances:
        positions = dance.motion.positions
        speeds.append(speed_curve(positions, fps))
        kinematic = kinematic_beats(positions, fps) / fps
        kinematic_total += kinematic.size
        seconds += dance.motion.duration
        if dance.beat_times is None:
            continue
        musical = dance.beat_times
        scores = beat_scores(kinematic, musical, settings.tolerance)
        kinematic_with_music += kinematic.size
        musical_total += musical.size
        music_seconds += dance.motion.duration
        hits += round(scores.hit_rate * kinematic.size)
        align.append(beat_align_score(musical * fps, beat_align_kinematic_frames(positions,
                                                                                 fps)))
    speed = np.concatenate(speeds) if speeds else np.zeros(0)
    with_music = sum(d.beat_times is not None for d in dances)
    return {
        "beat_coverage": kinematic_with_music / musical_total if musical_total else None,
        "beat_hit_rate": hits / kinematic_with_music if kinematic_with_music else (
            0.0 if musical_total else None),
        "beat_align": float(np.mean(align)) if align else None,
        "kinematic_beats": kinematic_total, "musical_beats": musical_total,
        "dances_with_musical_beats": with_music,
        "kinematic_beats_per_second": kinematic_total / seconds if seconds else None,
        "musical_beats_per_second": musical_total / music_seconds if music_seconds else None,
        "speed_mean": float(speed.mean()) if speed.size else None,
        "speed_std": float(speed.std()) if speed.size else None,
        "tolerance_seconds": settings.tolerance, "fps": fps,
    }


def motion_feature_sets(sets: Sequence[DanceSet], settings: Settings,
                        unit: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kinetic, geometric) feature rows of each set, per dance or per window."""
    length = max(3, round(settings.feature_window_seconds * settings.fps))
    result = []
    for dance_set in sets:
        pieces = ([d.motion.positions for d in dance_set.dances] if unit == "dance"
                  else list(windows_of(dance_set.dances, length).data))
        kinetic = np.stack([kinetic_features(p, settings.fps) for p in pieces]) if pieces \
            else np.zeros((0, 72))
        geometric = np.stack([geometric_features(p) for p in pieces]) if pieces \
            else np.zeros((0, 32))
        result.append((kinetic, geometric))
    return result


def choose_unit(sets: Sequence[DanceSet], settings: Settings) -> str:
    if settings.unit != "auto":
        return settings.unit
    return "dance" if min(len(s.dances) for s in sets) >= MIN_DANCES else "window"


# ---------------------------------------------------------------------- the whole evaluation
@dataclass
class SpeedExample:
    """One dance's speed curve with its beats, for the report's plot."""

    set_name: str
    dance: str
    fps: float
    speed: np.ndarray
    kinematic: np.ndarray  # seconds
    musical: np.ndarray | None  # seconds


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    examples: list[SpeedExample]


def evaluate(real: DanceSet, generated: Sequence[DanceSet],
             classifier: LoadedClassifier | None = None, settings: Settings | None = None,
             notes: Sequence[str] = (), progress: bool = False,
             log: Log | None = None) -> Evaluation:
    """Every metric of the module docstring for `real` and each set in `generated`."""
    from ..console import progress_bar

    settings = settings or Settings()
    say = log or (lambda _message: None)
    sets = [real, *generated]
    notes = list(notes)
    joint_sets = sorted({s.joint_set for s in sets})
    if len(joint_sets) > 1:
        raise DanceRevError("the sets hold different joint sets ("
                            + ", ".join(f"{s.name}: {s.joint_set}" for s in sets)
                            + "); compare like with like")
    joints = joint_sets[0]
    if classifier is not None:
        if classifier.config.joint_set != joints:
            raise DanceRevError(f"the style classifier reads {classifier.config.joint_set}, "
                                f"the dances are {joints}")
        if not math.isclose(classifier.config.fps, settings.fps):
            raise DanceRevError(f"the style classifier reads {classifier.config.fps:g} fps, "
                                f"the evaluation runs at {settings.fps:g} fps")
    is_3d = joints == CANONICAL_24.name
    unit = choose_unit(sets, settings)
    steps = len(sets) * (2 + (classifier is not None))
    bar = progress_bar(total=steps, desc="metrics", unit="step", disable=not progress)
    rows: dict[str, dict[str, Any]] = {s.name: {} for s in sets}
    if len(rows) != len(sets):
        raise DanceRevError("two sets have the same name: "
                            + ", ".join(s.name for s in sets) + "; name them apart")

    for dance_set in sets:  # beats and speed
        rows[dance_set.name].update(beat_metrics(dance_set.dances, settings))
        bar.update()

    long_term: dict[str, Any] = {"clip_seconds": settings.clip_seconds, "sets": {}}
    clip_length = max(2, round(settings.clip_seconds * settings.fps))
    clips = [windows_of(s.dances, clip_length) for s in sets]
    for dance_set, pieces in zip(sets, clips, strict=True):
        long_term["sets"][dance_set.name] = {
            "dances": [int((pieces.index == k).sum()) for k in range(_clip_count(pieces))]}

    if classifier is not None:
        _classifier_metrics(classifier, sets, rows, clips, long_term, settings, bar)
    else:
        notes.append("no style classifier: FID, ACC, diversity and multimodality are not "
                     "computed")
        for row in rows.values():
            row.update(fid=None, acc=None, diversity=None, multimodality=None)

    if is_3d:
        features = motion_feature_sets(sets, settings, unit)
        _motion_feature_metrics(sets, features, rows)
        _long_term_kinetic(sets, clips, long_term, settings)
    else:
        notes.append(f"{joints} is 2D: FID_k, FID_g, Div_k and Div_g need canonical 3D joints")
        for row in rows.values():
            row.update(fid_k=None, fid_g=None, div_k=None, div_g=None)
    bar.update(len(sets))
    bar.close()

    for dance_set in sets:
        row = rows[dance_set.name]
        row.update(dances=len(dance_set.dances), seconds=round(dance_set.seconds, 3))
        without = len(dance_set.dances) - row["dances_with_musical_beats"]
        if without:
            notes.append(f"{dance_set.name}: {without} of {len(dance_set.dances)} dances have "
                         "no musical beats (no song, or no beat_times in the motion's meta): "
                         "left out of the beat metrics")
        if dance_set.skipped:
            notes.append(f"{dance_set.name}: {len(dance_set.skipped)} file(s) skipped, e.g. "
                         f"{dance_set.skipped[0]}")
    metrics = {
        "format": "dancerev-eval", "version": 1,
        "settings": {
            "fps": settings.fps, "tolerance_seconds": settings.tolerance,
            "joint_set": joints,
            "classifier": _classifier_summary(classifier),
            "classifier_window_frames": classifier.config.window if classifier else None,
            "feature_unit": (unit if is_3d else None),
            "feature_window_seconds": (settings.feature_window_seconds
                                       if is_3d and unit == "window" else None),
            "long_term_clip_seconds": settings.clip_seconds,
            "real_reference": "FID of the real row: even-numbered vs odd-numbered real dances",
        },
        "sets": [{"name": s.name, "role": "real" if i == 0 else "generated", "source": s.source,
                  "metrics": rows[s.name], "skipped": s.skipped} for i, s in enumerate(sets)],
        "long_term": long_term,
        "notes": notes,
    }
    for note in notes:
        say(f"note: {note}")
    examples = [example for s in sets if (example := _speed_example(s, settings))]
    return Evaluation(metrics=json_ready(metrics), examples=examples)


def _clip_count(pieces: Windows) -> int:
    return int(pieces.index.max()) + 1 if len(pieces) else 0


def _classifier_summary(classifier: LoadedClassifier | None) -> dict[str, Any] | None:
    if classifier is None:
        return None
    training = classifier.training
    return {"path": str(classifier.path), "genres": list(classifier.config.genres),
            "fps": classifier.config.fps, "window": classifier.config.window,
            "hidden": classifier.config.hidden, "val_accuracy": training.get("val_accuracy"),
            "trained_on": training.get("source")}


def _classifier_metrics(classifier: LoadedClassifier, sets: Sequence[DanceSet],
                        rows: dict[str, dict[str, Any]], clips: list[Windows],
                        long_term: dict[str, Any], settings: Settings, bar: Any) -> None:
    from .classifier import predict

    genres = classifier.config.genres
    model = classifier.model
    per_set = []
    for dance_set in sets:
        windows = windows_of(dance_set.dances, classifier.config.window)
        features, predicted = predict(model, windows.data)
        per_set.append((windows, features, predicted))
        bar.update()
    real_windows, real_features, _ = per_set[0]
    for i, (dance_set, (windows, features, predicted)) in enumerate(zip(sets, per_set,
                                                                       strict=True)):
        dances = dance_set.dances
        if i == 0:
            even, odd = _halves(len(dances))
            value = _fid_or_none(features[np.isin(windows.dance, even)],
                                 features[np.isin(windows.dance, odd)])
        else:
            value = _fid_or_none(real_features, features)
        truth = [dances[d].genre for d in windows.dance]
        known = np.asarray([g in genres for g in truth], dtype=bool)
        correct = [genres[p] == g for p, g, k in zip(predicted, truth, known, strict=True) if k]
        music = [dances[d].music for d in windows.dance]
        rows[dance_set.name].update(
            fid=value, acc=float(np.mean(correct)) if correct else None,
            acc_windows=int(known.sum()), windows=len(windows),
            diversity=diversity(features, music, settings.seed),
            multimodality=multimodality(features, windows, [d.music for d in dances]))
    # long-term: classifier features of whole clips
    clip_features = [predict(model, pieces.data)[0] for pieces in clips]
    reference = clip_features[0]
    for dance_set, pieces, features in zip(sets, clips, clip_features, strict=True):
        long_term["sets"][dance_set.name]["fid"] = [
            _fid_or_none(reference, features[pieces.index == k])
            for k in range(_clip_count(pieces))]


def _motion_feature_metrics(sets: Sequence[DanceSet],
                            features: list[tuple[np.ndarray, np.ndarray]],
                            rows: dict[str, dict[str, Any]]) -> None:
    for kind, column in (("k", 0), ("g", 1)):
        real = features[0][column]
        others = [f[column] for f in features[1:]]
        if len(real) < 2:
            for row in rows.values():
                row.update({f"fid_{kind}": None, f"div_{kind}": None})
            continue
        normalised = normalise_by(real, *others)
        even, odd = _halves(len(real))
        rows[sets[0].name].update({f"fid_{kind}": _fid_or_none(normalised[0][even],
                                                                normalised[0][odd]),
                                   f"div_{kind}": mean_pairwise_distance(normalised[0])})
        for dance_set, values in zip(sets[1:], normalised[1:], strict=True):
            rows[dance_set.name].update({f"fid_{kind}": _fid_or_none(normalised[0], values),
                                         f"div_{kind}": mean_pairwise_distance(values)})
        for dance_set, (kinetic, _) in zip(sets, features, strict=True):
            rows[dance_set.name]["feature_samples"] = len(kinetic)


def _long_term_kinetic(sets: Sequence[DanceSet], clips: list[Windows],
                       long_term: dict[str, Any], settings: Settings) -> None:
    kinetic = [np.stack([kinetic_features(c, settings.fps) for c in pieces.data])
               if len(pieces) else np.zeros((0, 72)) for pieces in clips]
    if len(kinetic[0]) < 2:
        return
    normalised = normalise_by(kinetic[0], *kinetic[1:])
    for dance_set, pieces, values in zip(sets, clips, normalised, strict=True):
        long_term["sets"][dance_set.name]["fid_k"] = [
            _fid_or_none(normalised[0], values[pieces.index == k])
            for k in range(_clip_count(pieces))]


def _speed_example(dance_set: DanceSet, settings: Settings) -> SpeedExample | None:
    """The longest dance with musical beats (else the longest dance) of a set."""
    with_beats = [d for d in dance_set.dances if d.beat_times is not None]
    dance = max(with_beats or dance_set.dances, key=lambda d: d.motion.num_frames)
    if dance.motion.num_frames < 3:
        return None
    return SpeedExample(dance_set.name, dance.name, settings.fps,
                        speed_curve(dance.motion.positions, settings.fps),
                        kinematic_beats(dance.motion.positions, settings.fps) / settings.fps,
                        dance.beat_times)
