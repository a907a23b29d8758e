"""`dancerev recipe choose`: which of a run's checkpoints to ship, judged without the test songs.

A run's `best.json` is chosen by validation loss at the furthest curriculum stage, which keeps
moving and says nothing of how a dance looks; and the held-out test songs must stay unseen
until the choice is made. So each candidate is scored on material the test split does not
touch:
- the project's own demo groove (`synth.write_demo_track`, 60 s, `num` dances): does it keep
  dancing (energy of the last 10 s / first 10 s, as issue 8 measures it) and is it on the
  beat as delivered;
- spans of training songs (every `every`-th training clip, `num` dances for the span its real
  motion dances to): on the beat as delivered, how much it moves against the real motion,
  and FID_k of its 10 s segments (a third of the shortest span if shorter) against all
  the training motion's (how much it moves like the data);
- the fastest joint step over all of them, against the training motion's fastest.
- the run's own free-running check on its validation songs at the candidate's epoch
  (`history.jsonl`'s "health", written by `dancerev train` every `health_every` epochs),
  where the run recorded one.
The rule (`choose`): no freezing (groove energy ratio >= ENERGY_MIN, and the run's health
check did not find the dances frozen), no step faster than the training motion's fastest,
on the training spans at least as on the beat as the (warped) real training motion; then
the lowest training-span FID_k.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DanceRevError
from ..evaluation import quality as q
from ..evaluation.frechet import fid, normalise_by
from ..evaluation.health import Health
from ..evaluation.suite import Dance, Settings, beat_metrics, clip_within_song, generated_dance
from ..files import load_json

ENERGY_MIN = 0.5  # issue 8's no-freezing goal
GROOVE_SECONDS = 60.0
SEGMENT_SECONDS = 10.0


@dataclass(frozen=True)
class ChoiceMaterial:
    """What every candidate is scored on (all at `fps`)."""

    fps: float
    groove: Any  # MusicFeatures of the demo groove
    spans: list[tuple[Any, Any, float]]  # (clip, its MusicFeatures, seconds) per training span
    segment_seconds: float  # FID_k segments: 10 s, or a third of the shortest span
    reference: np.ndarray  # kinetic features of the training motion's 10 s segments
    real_speed: float  # mean joint speed of the training motion (m/s)
    real_fastest: float  # its fastest joint step (m/s)
    real_hit_rate: float  # beat hit rate of the real motion on the chosen spans


@dataclass(frozen=True)
class CheckpointScore:
    checkpoint: str
    epoch: int | None
    groove_energy: float
    groove_hit_rate: float
    train_hit_rate: float
    speed_vs_real: float
    fid_train: float
    fastest: float
    eligible: bool
    why_not: str
    health: dict[str, Any] | None = None  # the run's free-running check at this epoch

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choice_material(data_dir: str | Path, fps: float, every: int = 6,
                    log: Callable[[str], None] | None = None) -> ChoiceMaterial:
    """The groove and the training spans (see the module docstring)."""
    from ..formats.paired_dataset import list_clips
    from ..music.analysis import analyse_song
    from .evaluate import read_manifest
    from .synth import write_demo_track

    say = log or (lambda _message: None)
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    clips = list_clips(data_dir / manifest.get("train_on", "train"), validate_motion=False).clips
    if not clips:
        raise DanceRevError(f"{data_dir}: no training clips to choose on")
    real, spans, real_dances = [], [], []
    for index, clip in enumerate(clips):
        music = analyse_song(clip.audio_path, fps=fps)
        motion, beats = clip_within_song(clip, music, fps, min_frames=3)
        real.append(motion.positions.astype(np.float64))
        if index % every == 0:
            spans.append((clip, music, motion.duration))
            real_dances.append(Dance(clip.name, motion, clip.genre, clip.name, beats))
    segment = q.segment_seconds_for(min(seconds for _clip, _music, seconds in spans))
    pieces = [piece for positions in real for piece in q.segments(positions, fps, segment)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "groove.wav"
        write_demo_track(path, seconds=GROOVE_SECONDS + 1.0)
        groove = analyse_song(path, fps=fps, use_cache=False)
    say(f"choosing on the demo groove ({GROOVE_SECONDS:g} s) and {len(spans)} training spans "
        f"(FID reference: {len(pieces)} segments of {segment:.3g} s)")
    return ChoiceMaterial(
        fps=fps, groove=groove, spans=spans, segment_seconds=segment,
        reference=q.segment_features(pieces, fps),
        real_speed=float(np.mean([q.mean_joint_speed(p, fps).mean() for p in real])),
        real_fastest=max(q.max_joint_speed(p, fps) for p in real),
        real_hit_rate=float(beat_metrics(real_dances, Settings(fps=fps))["beat_hit_rate"]))


def score_checkpoint(path: str | Path, material: ChoiceMaterial, num: int = 4,
                     seed: int = 0) -> CheckpointScore:
    """One candidate's figures on the material, as delivered (`generate_dance`)."""
    from ..generation.pipeline import generate_dance
    from ..model.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path, expect_joint_set="canonical24")
    fps = material.fps
    if checkpoint.config.fps != fps:
        raise DanceRevError(f"{path}: model at {checkpoint.config.fps:g} fps, the others at "
                            f"{fps:g} fps")
    settings = Settings(fps=fps)
    groove = generate_dance(material.groove, checkpoint, seconds=GROOVE_SECONDS, seed=seed,
                            num=num)
    spans = [dance for clip, music, seconds in material.spans
             for dance in generate_dance(music, checkpoint, seconds=seconds,
                                         start=clip.audio_offset, seed=seed, num=num)]
    energy = float(np.median([q.energy_ratio(d.positions, fps, SEGMENT_SECONDS)
                              for d in groove]))
    fastest = max(q.max_joint_speed(d.positions, fps) for d in [*groove, *spans])
    pieces = [piece for d in spans
              for piece in q.segments(d.positions.astype(np.float64), fps,
                                      material.segment_seconds)]
    reference, generated = normalise_by(material.reference, q.segment_features(pieces, fps))
    train_hit = float(beat_metrics(_as_dances(spans, fps), settings)["beat_hit_rate"])
    epoch = checkpoint.training.get("epoch")
    health = run_health(Path(path), epoch)
    frozen = health is not None and Health.from_dict(health).freezes
    why_not = "; ".join(reason for reason, failed in (
        (f"freezes (energy ratio {energy:.2f} < {ENERGY_MIN})", energy < ENERGY_MIN),
        ("freezes on the run's validation songs (" + (Health.from_dict(health).summary()
                                                      if frozen else "") + ")", frozen),
        (f"too fast ({fastest:.1f} > {material.real_fastest:.1f} m/s)",
         fastest > material.real_fastest),
        (f"off the beat ({train_hit:.3f} < {material.real_hit_rate:.3f})",
         train_hit < material.real_hit_rate)) if failed)
    return CheckpointScore(
        checkpoint=str(path), epoch=epoch, groove_energy=energy,
        groove_hit_rate=float(beat_metrics(_as_dances(groove, fps), settings)["beat_hit_rate"]),
        train_hit_rate=train_hit,
        speed_vs_real=float(np.mean([q.mean_joint_speed(d.positions, fps).mean()
                                     for d in spans]) / material.real_speed),
        fid_train=float(fid(reference, generated)), fastest=float(fastest),
        eligible=not why_not, why_not=why_not, health=health)


def run_health(path: Path, epoch: int | None) -> dict[str, Any] | None:
    """The health figures its run recorded at `epoch` for a checkpoint in RUN/ or
    RUN/snapshots/ (None when the run has no history there or measured none that epoch)."""
    from ..training.config import HISTORY, SNAPSHOTS
    from ..training.progress import read_history

    run = path.parent.parent if path.parent.name == SNAPSHOTS else path.parent
    for entry in read_history(run / HISTORY):
        if entry.get("epoch") == epoch and entry.get("health"):
            return entry["health"]
    return None


def choose(scores: Sequence[CheckpointScore]) -> CheckpointScore | None:
    """The eligible candidate with the lowest training-span FID_k (None if none is)."""
    eligible = [score for score in scores if score.eligible]
    return min(eligible, key=lambda score: score.fid_train) if eligible else None


def _as_dances(motions: Sequence[Any], fps: float) -> list[Dance]:
    return [generated_dance(f"{index}", motion, fps) for index, motion in enumerate(motions)]


def checkpoint_paths(items: list[str]) -> list[Path]:
    """Files as given; folders: their *.json files that are model checkpoints."""
    from ..model.checkpoint import FORMAT

    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            headers = {path: load_json(path) for path in sorted(item.glob("*.json"))}
            found = [path for path, header in headers.items()
                     if isinstance(header, dict) and header.get("format") == FORMAT]
            if not found:
                raise DanceRevError(f"{item}: no model checkpoints (*.json) in this folder")
            paths += found
        elif item.is_file():
            paths.append(item)
        else:
            raise DanceRevError(f"{item}: no such checkpoint or folder")
    return paths
