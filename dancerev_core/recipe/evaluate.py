"""`dancerev recipe evaluate`: the default model's quality figures on held-out songs.

Issue 8 asks the default model for four qualities a user sees, measured on songs that were
not used in training. This module gathers the material and turns it into figures
(`quality.py` holds one plain function per figure, `quality_report.py` writes them out):

- real motion: the recipe data's test split (held-out motions on held-out songs; its
  clips' songs, beats from `analyse_song` shifted by the clip's audio offset, as
  `suite.load_dance_set` reads a paired folder) and its training split (the limits a real
  dancer reaches, and the reference of the long-term FID: the test clips are 7-20 s, too
  short and too few for 10 s segments);
- dances for the test songs: for every test clip, `--num` dances for exactly the span of
  its song the real motion dances to (same start, same length), all with the same seed, so
  that dances for different songs differ only through the music; as delivered (beat sync on) and,
  for the beat figures, again with the model's own timing (beat sync off);
- long dances: `--seconds` (60) of music that the model never heard: each held-out real song
  of the manifest (from `--music`), looped when shorter (the held-out song of the shipped
  data is 46 s; the loop's seam is a jump in the music), and the held-out synthesised songs
  of the test split re-rendered from their seeds at that length (`synth.render_song(seed,
  seconds, genre=...)`, as the recipe renders them); `--num` dances each.

Everything runs at the checkpoint's frame rate (15 fps), with the evaluation's beat
tolerance (`beats.DEFAULT_TOLERANCE`). The songs written for the long dances are kept in
REPORT_DIR/songs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..body_frame import FOOT_JOINT_HEIGHT, fastest_joint_speeds
from ..errors import DanceRevError
from ..evaluation import quality as q
from ..evaluation.beats import DEFAULT_TOLERANCE
from ..evaluation.suite import (
    Dance,
    Settings,
    beat_metrics,
    clip_within_song,
    eval_motion,
    generated_dance,
)
from ..files import load_json

if TYPE_CHECKING:
    from ..model.checkpoint import Checkpoint

Log = Callable[[str], None]
FORMAT = "dancerev.quality"
FORMAT_VERSION = 1
LOOP_MARGIN = 1.0  # seconds of song beyond the dance, so the features cover every frame


@dataclass(frozen=True)
class QualitySettings:
    seconds: float = 60.0  # length of the long dances
    num: int = 4  # dances per song (variations)
    seed: int = 0
    tolerance: float = DEFAULT_TOLERANCE
    music_dir: Path | None = None  # where the manifest's held-out real songs are


@dataclass(eq=False)
class Material:
    """What the figures read: real and generated dances, all absolute at `fps`."""

    fps: float
    real_test: list[Dance]  # music = song key
    real_train: list[np.ndarray]  # one array per training clip
    generated: list[Dance]  # for the test clips' spans; music = song key
    inputs: list[str]  # per generated dance: the test clip whose span it was made for
    long: list[Dance]  # `seconds` long; music = long song name
    own_timing: list[Dance] = field(default_factory=list)  # `generated` without beat sync
    long_songs: list[dict[str, Any]] = field(default_factory=list)
    test_summary: dict[str, Any] = field(default_factory=dict)  # the manifest's, for context
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- gathering
def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    """The recipe data's manifest.json (its split says which songs are held out)."""
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise DanceRevError(f"{path}: not found (run `dancerev recipe data` first)")
    manifest = load_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != "dancerev.recipe-data":
        raise DanceRevError(f"{path}: not a recipe data manifest")
    return manifest


def song_key(entry: dict[str, Any] | None, fallback: str) -> str:
    """One name per song: a real song's id, a synthesised song's seed and style."""
    song = (entry or {}).get("song") or {}
    if song.get("kind") == "real":
        return f"real:{song.get('id')}"
    if song.get("kind") == "synth":
        return f"synth:{song.get('seed')}:{song.get('style')}"
    return fallback


def gather(checkpoint: Checkpoint, data_dir: str | Path, out_dir: str | Path,
           settings: QualitySettings, log: Log | None = None) -> Material:
    """Read the real motion, write the long songs, generate every dance (see module doc)."""
    from ..formats.paired_dataset import list_clips
    from ..generation.pipeline import decode_dances, finish_dance, generate_dance
    from ..music.analysis import analyse_song

    say = log or (lambda _message: None)
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    fps = float(checkpoint.config.fps)
    clips = {entry["name"]: entry for entry in manifest.get("clips", [])}
    material = Material(fps=fps, real_test=[], real_train=[], generated=[], inputs=[], long=[],
                        test_summary=manifest.get("summary", {}).get("test", {}))

    test = list_clips(data_dir / manifest.get("evaluate_on", "test"), validate_motion=False)
    say(f"test split: {len(test.clips)} clips; generating {settings.num} dances for each "
        "clip's song span")
    for clip in test.clips:
        music = analyse_song(clip.audio_path, fps=fps)
        try:
            motion, beats = clip_within_song(clip, music, fps, min_frames=3)
        except DanceRevError:
            material.notes.append(f"{clip.name}: skipped, its song ends before its motion")
            continue
        key = song_key(clips.get(f"test/{clip.name}"), clip.audio_path.name)
        material.real_test.append(Dance(clip.name, motion, clip.genre, key, beats))
        decoded = decode_dances(music, checkpoint, seconds=motion.num_frames / fps,
                                start=clip.audio_offset, seed=settings.seed, num=settings.num)
        for k, dance in enumerate(decoded, 1):
            name = f"{clip.name}#{k}"
            material.generated.append(generated_dance(name, finish_dance(dance), fps,
                                                      clip.genre, key))
            material.own_timing.append(generated_dance(
                name, finish_dance(dance, beat_sync=False), fps, clip.genre, key))
            material.inputs.append(clip.name)

    train = list_clips(data_dir / manifest.get("train_on", "train"), validate_motion=False)
    material.real_train = [eval_motion(c.load_motion(joints="canonical"), fps)
                           .positions.astype(np.float64) for c in train.clips]
    say(f"train split: {len(material.real_train)} clips (physical limits, FID reference)")

    material.long_songs = long_songs(manifest, settings, Path(out_dir) / "songs",
                                     material.notes)
    for song in material.long_songs:
        music = analyse_song(song["path"], fps=fps)
        dances = generate_dance(music, checkpoint, seconds=settings.seconds,
                                seed=settings.seed, num=settings.num)
        for k, dance in enumerate(dances, 1):
            material.long.append(generated_dance(f"{song['name']}#{k}", dance, fps,
                                                 song.get("genre"), song["name"]))
        say(f"long song {song['name']}: {song['how']}; {settings.num} dances of "
            f"{dances[0].duration:.1f} s")
    if not material.real_test or not material.long:
        raise DanceRevError(f"{data_dir}: nothing to evaluate on (test clips: "
                            f"{len(material.real_test)}, long songs: {len(material.long)})")
    return material


def long_songs(manifest: dict[str, Any], settings: QualitySettings, folder: Path,
               notes: list[str]) -> list[dict[str, Any]]:
    """Write `settings.seconds` (+ a margin) of each held-out song into `folder`.

    Real held-out songs come from `settings.music_dir` (looped when shorter); synthesised
    ones are re-rendered from the test split's seeds with the genre they were rendered for.
    """
    from ..formats.paired_dataset import AUDIO_SUFFIXES
    from ..music.audio import load_audio
    from .synth import render_song, write_wav

    length = settings.seconds + LOOP_MARGIN
    rate = int(manifest.get("config", {}).get("sample_rate", 22_050))
    songs: list[dict[str, Any]] = []
    music = Path(settings.music_dir) if settings.music_dir else None
    candidates = (sorted(p for p in music.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
                  if music and music.is_dir() else [])
    for song_id in manifest.get("split", {}).get("held_out_songs", []):
        found = [p for p in candidates if p.stem == song_id]
        if not found:
            notes.append(f"held-out song {song_id}: not found in {settings.music_dir} "
                         "(--music); long dances use the synthesised held-out songs only")
            continue
        waveform = load_audio(found[0], rate)
        duration = waveform.size / rate
        repeats = math.ceil(length / duration)
        looped = np.tile(waveform, repeats)[:int(round(length * rate))]
        name = "real-" + re.sub(r"[^A-Za-z0-9]+", "_", song_id).strip("_")[:60]
        how = (f"held-out real song ({duration:.1f} s) looped {repeats}x to {length:g} s"
               if repeats > 1 else f"first {length:g} s of the held-out real song")
        songs.append({"name": name, "kind": "real", "id": song_id, "how": how,
                      "path": str(write_wav(folder / f"{name}.wav", looped, rate))})
    seen = set()
    for entry in manifest.get("clips", []):
        song = entry.get("song") or {}
        if entry.get("part") != "test" or song.get("kind") != "synth":
            continue
        key = (song["seed"], entry["genre"])
        if key in seen:
            continue
        seen.add(key)
        synth = render_song(int(song["seed"]), length, rate, genre=entry["genre"])
        name = f"synth-{song['seed']}-{synth.style}"
        if synth.style != song.get("style"):
            notes.append(f"{name}: rendered as {synth.style}, the test clip's was "
                         f"{song.get('style')}")
        songs.append({"name": name, "kind": "synth", "seed": int(song["seed"]),
                      "genre": entry["genre"], "style": synth.style,
                      "tempo": round(synth.tempo, 1),
                      "how": f"held-out seed re-synthesised at {length:g} s "
                             f"({synth.style}, {synth.tempo:.0f} BPM)",
                      "path": str(write_wav(folder / f"{name}.wav", synth.waveform, rate))})
    return songs


# ---------------------------------------------------------------------- the figures
def _figure(group: str, key: str, title: str, value: float | None, unit: str,
            goal: tuple[str, float] | None, real: float | None = None, how: str = "",
            **details: Any) -> dict[str, Any]:
    """One row: value, the real data's value, the goal (">=" or "<=", bound) and pass/fail."""
    passed = None
    if goal is not None and value is not None and math.isfinite(value):
        sign, bound = goal
        passed = bool(value >= bound if sign == ">=" else value <= bound)
    return {"group": group, "key": key, "title": title, "value": value, "unit": unit,
            "real": real, "goal": None if goal is None else {"op": goal[0], "value": goal[1]},
            "passed": passed, "how": how, "details": details}


def compute_figures(material: Material, tolerance: float = DEFAULT_TOLERANCE
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every figure of issue 8 item 4 (list of rows) and the curves the plots draw."""
    fps = material.fps
    long = [d.motion.positions.astype(np.float64) for d in material.long]
    generated = [d.motion.positions.astype(np.float64) for d in material.generated]
    real_test = [d.motion.positions.astype(np.float64) for d in material.real_test]
    segment = q.segment_seconds_for(min(len(p) for p in long) / fps)
    rows, curves = [], {"segment_seconds": segment, "fps": fps}

    # no freezing
    ratios = [q.energy_ratio(p, fps, segment) for p in long]
    real_ratios = [q.energy_ratio(p, fps, segment) for p in material.real_train
                   if len(p) >= 2 * q.window_frames(fps, segment)]
    rows.append(_figure(
        "no freezing", "energy_ratio", f"motion energy, last {segment:g} s / first {segment:g} s"
        f" (median of {len(long)} dances of {len(long[0]) / fps:.0f} s)",
        float(np.median(ratios)), "ratio", (">=", q.ENERGY_GOAL),
        float(np.median(real_ratios)) if real_ratios else None,
        how="mean joint speed (m/s, absolute joints) in the last window over the first, per "
        f"long dance; the median dance; real: the median of the {len(real_ratios)} training "
        "routines at least two windows long (real routines fall below the goal at times too: "
        "their worst and share below are in the details)",
        worst=min(ratios), share_below_goal=float(np.mean(np.asarray(ratios) < q.ENERGY_GOAL)),
        real_worst=min(real_ratios) if real_ratios else None,
        real_share_below_goal=float(np.mean(np.asarray(real_ratios) < q.ENERGY_GOAL))
        if real_ratios else None,
        per_dance=dict(zip([d.name for d in material.long], ratios, strict=True))))
    speed_gen = float(np.mean([q.mean_joint_speed(p, fps).mean() for p in generated]))
    speed_real = float(np.mean([q.mean_joint_speed(p, fps).mean() for p in real_test]))
    rows.append(_figure(
        "no freezing", "energy_level", "mean joint speed on the test songs (m/s)", speed_gen,
        "m/s", None, speed_real, how="mean over dances of the mean joint speed; no goal: "
        "a dance that is slow from the start passes the ratio above",
        ratio_to_real=speed_gen / speed_real if speed_real > 0 else None))
    curves["energy"] = {"bin_seconds": 1.0,
                        "dances": [q.energy_curve(p, fps).tolist() for p in long],
                        "real_test_mean": speed_real}
    # long-term FID: reference = segments of the even-numbered training clips; the real level
    # = as many segments as there are long dances, from the odd-numbered ones
    halves = material.real_train[0::2], material.real_train[1::2] or []
    reference_pieces, pool_pieces = ([s for p in half for s in q.segments(p, fps, segment)]
                                     for half in halves)
    pieces = [q.segments(p, fps, segment) for p in long]
    count = min(len(x) for x in pieces)
    for kind in ("kinetic", "geometric"):
        reference = q.segment_features(reference_pieces, fps, kind)
        by_segment = [q.segment_features([x[k] for x in pieces], fps, kind)
                      for k in range(count)]
        curves[f"fid_{kind[0]}"] = q.long_term_fid(reference, by_segment)
        curves[f"fid_{kind[0]}_real_level"] = q.real_fid_level(
            reference, q.segment_features(pool_pieces, fps, kind), len(long))
    curves["fid_reference_segments"] = len(reference_pieces)
    curves["fid_real_level_segments"] = min(len(long), len(pool_pieces))
    fid_how = (f"FID of the k-th {segment:g}-s segments of all {len(long)} long dances against "
               f"the {len(reference_pieces)} {segment:g}-s segments of the even-numbered "
               "training clips ({} features z-scored by them)")
    rows.append(_figure(
        "no freezing", "fid_k_rise", f"long-term FID_k per {segment:g} s segment: highest later"
        " / first", q.curve_rise(curves["fid_k"]), "ratio", ("<=", q.FLAT_GOAL),
        how=fid_how.format("kinetic") + "; a curve that is already high in its first segment "
        "is flat too: read it with the energy ratio and the level below",
        curve=curves["fid_k"]))
    rows.append(_figure(
        "no freezing", "fid_k_level", f"long-term FID_k, last {segment:g} s segment",
        _last(curves["fid_k"]), "FID", None, curves["fid_k_real_level"],
        how=fid_how.format("kinetic") + f"; real: {curves['fid_real_level_segments']} segments "
        "of the odd-numbered training clips (the same sample size, mean of 5 draws)"))
    rows.append(_figure(
        "no freezing", "fid_g_rise", "long-term FID_g (geometric), highest later / first",
        q.curve_rise(curves["fid_g"]), "ratio", None, how=fid_how.format("geometric")
        + "; shown, not judged", curve=curves["fid_g"], real_level=curves["fid_g_real_level"]))

    # on the beat
    beat_settings = Settings(fps=fps, tolerance=tolerance)
    beats_gen = beat_metrics(material.generated, beat_settings)
    beats_real = beat_metrics(material.real_test, beat_settings)
    beats_long = beat_metrics(material.long, beat_settings)
    beats_own = beat_metrics(material.own_timing, beat_settings) if material.own_timing else {}
    natural = material.test_summary.get("beats_before_warp", {}).get("hit_rate")
    rows.append(_figure(
        "on the beat", "beat_hit_rate", f"beat hit rate (±{tolerance:g} s)",
        beats_gen["beat_hit_rate"], "share", (">=", beats_real["beat_hit_rate"] or 0.0),
        beats_real["beat_hit_rate"], how="kinematic beats within the tolerance of a musical "
        "beat / kinematic beats, pooled over the dances for the test songs; goal: the real "
        "test motion's on the same spans, which the recipe warped onto those beats (before "
        f"the warp: {_percent(natural)})", coverage=beats_gen["beat_coverage"],
        real_coverage=beats_real["beat_coverage"], beat_align=beats_gen["beat_align"],
        real_beat_align=beats_real["beat_align"], long_dances_hit_rate=beats_long[
            "beat_hit_rate"], kinematic_beats=beats_gen["kinematic_beats"],
        real_kinematic_beats=beats_real["kinematic_beats"],
        real_before_warp=natural))
    if beats_own:
        rows.append(_figure(
            "on the beat", "beat_hit_rate_own_timing",
            f"beat hit rate (±{tolerance:g} s), the model's own timing (no beat sync)",
            beats_own["beat_hit_rate"], "share", None, natural,
            how="as above for the same dances generated without beat sync (beat_sync.py); "
            "real: the test motion before the recipe's warp", coverage=beats_own[
                "beat_coverage"], beat_align=beats_own["beat_align"]))

    # variety
    all_pieces = [s for p in material.real_train for s in q.segments(p, fps, segment)]
    features = q.dance_features(generated, fps, all_pieces)
    real_features = q.dance_features(real_test, fps, all_pieces)
    between, within = q.pair_distances(features, [d.music for d in material.generated],
                                       material.inputs)
    real_between, _ = q.pair_distances(real_features, [d.music for d in material.real_test])
    variation_poses = [q.pose_distance(generated[i], generated[j])
                       for i in range(len(generated)) for j in range(i + 1, len(generated))
                       if material.inputs[i] == material.inputs[j]]
    space = ("motion feature space: kinetic + geometric features of each dance, z-scored with "
             f"the {len(all_pieces)} {segment:g}-s segments of the training motion, blocks "
             "weighted equally")
    rows.append(_figure(
        "variety", "songs_differ", "distance between dances of different songs / between "
        "variations", _ratio(between, within), "ratio", (">=", q.SONGS_DIFFER_GOAL),
        how=f"{space}; mean distance over pairs made for different songs over pairs made "
        "for the same song span", between=between, within=within))
    rows.append(_figure(
        "variety", "song_variety", "distance between dances of different songs (generated / "
        "real)", _ratio(between, real_between), "ratio", (">=", q.SONG_VARIETY_GOAL),
        how=f"{space}; real: the test motion's pairs on different songs",
        between=between, real_between=real_between))
    rows.append(_figure(
        "variety", "variations_differ", "distance between --num variations of one song / real "
        "between-song distance", _ratio(within, real_between), "ratio",
        (">=", q.VARIATIONS_GOAL), how=f"{space}", within=within, real_between=real_between,
        pose_distance_cm=100 * float(np.mean(variation_poses)) if variation_poses else None))

    # physically plausible
    everything = generated + long
    depth = [q.foot_penetration(p) for p in everything]
    real_depth = [q.foot_penetration(p) for p in material.real_train]
    frames = np.concatenate(depth)
    rows.append(_figure(
        "physically plausible", "foot_penetration", "feet below the floor, deepest (cm)",
        100 * max(float(d.max()) for d in depth), "cm", ("<=", 100 * q.FOOT_GOAL),
        100 * max(float(d.max()) for d in real_depth),
        how=f"floor z = 0, soles {100 * FOOT_JOINT_HEIGHT:g} cm under the lowest foot joint "
        "(the recipe's convention); every generated frame; real: the training motion",
        p99_cm=100 * float(np.percentile(frames, 99)),
        frames_over_goal=float((frames > q.FOOT_GOAL).mean()),
        real_frames_over_goal=float((np.concatenate(real_depth) > q.FOOT_GOAL).mean())))
    variation = [q.bone_variation(p) for p in everything]
    real_variation = [q.bone_variation(p) for p in material.real_train]
    deviation = [q.bone_deviation(p).max(axis=1) for p in everything]
    for index, key, title, goal in ((0, "bone_cv", "bone length std / mean, worst bone",
                                     q.BONE_CV_GOAL),
                                    (1, "bone_deviation", "bone length, largest deviation "
                                     "from its median / median, worst bone",
                                     q.BONE_DEVIATION_GOAL)):
        table = np.stack([v[index] for v in variation])
        real_table = np.stack([v[index] for v in real_variation])
        worst = np.unravel_index(int(table.argmax()), table.shape)
        details: dict[str, Any] = {"worst_bone": q.BONE_NAMES[worst[1]],
                                   "per_bone_mean": dict(zip(q.BONE_NAMES, table.mean(axis=0)
                                                             .round(4).tolist(), strict=True))}
        if index == 1:
            details.update(_when(deviation, fps))
        rows.append(_figure(
            "physically plausible", key, title, float(table.max()), "ratio", ("<=", goal),
            float(real_table.max()), how="per bone over each generated dance; the worst "
            "dance and bone; real: the training motion", **details))
    drift = np.stack([q.bone_drift(p, fps, segment) for p in long])
    real_drift = [q.bone_drift(p, fps, segment) for p in material.real_train
                  if len(p) >= 2 * q.window_frames(fps, segment)]
    rows.append(_figure(
        "physically plausible", "bone_drift", f"bone length drift, last {segment:g} s vs first,"
        " worst bone", float(drift.max()), "ratio", ("<=", q.BONE_DRIFT_GOAL),
        float(np.max(real_drift)) if real_drift else None,
        how="|mean length in the last window - in the first| / median, per bone of each long "
        "dance", worst_bone=q.BONE_NAMES[int(drift.max(axis=0).argmax())]))
    steps = [fastest_joint_speeds(p, fps) for p in everything]
    real_jumps = [q.max_joint_speed(p, fps) for p in material.real_train]
    rows.append(_figure(
        "physically plausible", "max_joint_speed", f"fastest joint between frames (m/s, at "
        f"{fps:g} fps)", max(float(s.max()) for s in steps), "m/s", ("<=", max(real_jumps)),
        max(real_jumps), how="largest joint displacement between consecutive frames x fps over "
        "every generated dance; goal: the training motion's largest, at the same fps",
        real_median_of_clips=float(np.median(real_jumps)), **_when(steps, fps)))
    return rows, curves


def _percent(value: float | None) -> str:
    return "not recorded" if value is None else f"{100 * value:.1f} %"


def _last(curve: list[float | None]) -> float | None:
    return curve[-1] if curve else None


def _when(per_frame: list[np.ndarray], fps: float) -> dict[str, float]:
    """Where the worst value of per-frame series sits, and the worst after the first second
    (the model's first frames are its start-up, not its dancing)."""
    worst = max(range(len(per_frame)), key=lambda i: per_frame[i].max())
    skip = int(round(fps))
    later = [p[skip:].max() for p in per_frame if p.size > skip]
    return {"worst_at_seconds": float(per_frame[worst].argmax() / fps),
            "worst_after_first_second": float(max(later)) if later else None}


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom <= 0:
        return None
    return float(top / bottom)


# ---------------------------------------------------------------------- the whole step
def evaluate_checkpoint(checkpoint_path: str | Path, data_dir: str | Path,
                        out_dir: str | Path, settings: QualitySettings = QualitySettings(),
                        log: Log | None = None) -> dict[str, Any]:
    """Generate, measure and write REPORT_DIR/quality.json, quality.md and the plots."""
    from ..model.checkpoint import load_checkpoint
    from .quality_report import write_quality_report

    if not math.isfinite(settings.seconds) or settings.seconds < 3 / 15:
        raise DanceRevError(f"--seconds must be a positive length, got {settings.seconds}")
    if settings.num < 1:
        raise DanceRevError(f"--num must be at least 1, got {settings.num}")
    checkpoint = load_checkpoint(checkpoint_path, expect_joint_set="canonical24")
    material = gather(checkpoint, data_dir, out_dir, settings, log)
    rows, curves = compute_figures(material, settings.tolerance)
    training = checkpoint.training or {}
    best = training.get("best") or {}
    result = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "checkpoint": {"path": str(checkpoint.path), "epoch": training.get("epoch"),
                       "val_loss": training.get("val_loss", best.get("loss")
                                                if best.get("metric") == "val_loss" else None),
                       "self_fed_length": training.get("self_fed_length")},
        "data": str(data_dir),
        "settings": {"seconds": settings.seconds, "num": settings.num, "seed": settings.seed,
                     "fps": material.fps, "beat_tolerance_seconds": settings.tolerance,
                     "segment_seconds": curves["segment_seconds"], "decoder": "fast"},
        "dances": {"test_clips": len(material.real_test), "generated_for_test_songs":
                   len(material.generated), "long": len(material.long)},
        "test_songs": sorted({d.music for d in material.real_test}),
        "long_songs": [{k: v for k, v in s.items() if k != "path"} | {
            "file": Path(s["path"]).name} for s in material.long_songs],
        "figures": rows,
        "passed": sum(r["passed"] is True for r in rows),
        "failed": sum(r["passed"] is False for r in rows),
        "curves": curves,
        "notes": material.notes,
    }
    result = plain(result)
    write_quality_report(result, out_dir)
    return result


def plain(value: Any) -> Any:
    """numpy to Python, NaN and infinities to None: JSON without surprises."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One line per figure: PASS/FAIL/info, value, real data's value, goal."""
    lines = []
    for row in result["figures"]:
        mark = {True: "PASS", False: "FAIL", None: "info"}[row["passed"]]
        text = f"{mark:4}  {row['group']}: {row['title']} = {fmt(row['value'])}"
        if row["real"] is not None:
            text += f" (real {fmt(row['real'])})"
        if row["goal"]:
            text += f"; goal {row['goal']['op']} {fmt(row['goal']['value'])}"
        lines.append(text)
    return lines


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)

