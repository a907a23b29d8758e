"""The data recipe: synthesised music keeps its tempo, the warp puts real dance on the beat,
and the builder writes a trainable, deterministic dataset that keeps the held-out split."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.formats.reading import read_motion
from dancerev_core.music.analysis import analyse_song
from dancerev_core.music.fast_features import extract_fast
from dancerev_core.music.features import SAMPLE_RATE
from dancerev_core.recipe.pairing import RecipeConfig, build_dataset
from dancerev_core.recipe.pairing.builder import synth_seed
from dancerev_core.recipe.pairing.cleaning import (
    FEET,
    FOOT_JOINT_HEIGHT,
    REFERENCE_LEG_LENGTH,
    clean_segments,
    glitch_steps,
    leg_lengths,
    normalise_body,
)
from dancerev_core.recipe.pairing.kinematic import alignment, beat_times
from dancerev_core.recipe.pairing.routines import Segment, build_routine
from dancerev_core.recipe.pairing.sources import find_songs
from dancerev_core.recipe.pairing.warp import RATE_BOUNDS, fit_warp, warp_motion
from dancerev_core.recipe.synth import DEMO_TEMPO, render_song, write_demo_track
from dancerev_core.skeletons import CANONICAL_24
from dancerev_core.training import load_training_data
from tests.conftest import shared_data

HELD_OUT_SONG = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra)"
TRAIN_SONG = "Kevin_MacLeod_-_Vibe_Ace"


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))


def on_beat_share(intended: np.ndarray, tracked: np.ndarray, tolerance: float = 0.07) -> float:
    """Share of the intended beats (away from the fades) that the tracker found."""
    inner = intended[(intended > 1.0) & (intended < intended[-1] - 2.0)]
    return float((np.abs(inner[:, None] - tracked[None, :]).min(axis=1) <= tolerance).mean())


# ---------------------------------------------------------------------- synthesised music
@pytest.mark.parametrize("style", ["funk", "waltz", "polka", "shuffle", "latin", "ballad"])
def test_beat_tracker_finds_the_synthesised_tempo(style):
    song = render_song(1000, 20.0, SAMPLE_RATE, style=style)
    features = extract_fast(song.waveform)
    assert features.tempo == pytest.approx(song.tempo, rel=0.08)
    assert on_beat_share(song.beat_times, features.beat_times) >= 0.9


def test_demo_track_is_a_groove_at_its_tempo(tmp_path):
    path = tmp_path / "demo.wav"
    song = write_demo_track(path, seconds=24.0)
    assert song.tempo == DEMO_TEMPO and song.beats_per_bar == 4
    music = analyse_song(path)  # the path users run: decode, resample, fast features
    assert music.duration == pytest.approx(24.0, abs=0.01)
    assert music.tempo == pytest.approx(DEMO_TEMPO, rel=0.05)
    assert on_beat_share(song.beat_times, music.beat_times) >= 0.9
    rms = float(np.sqrt(np.mean(song.waveform ** 2)))
    assert 0.1 < rms < 0.6 and np.abs(song.waveform).max() <= 1.0


def test_synthesiser_is_deterministic_and_varied():
    first, again = render_song(5, 6.0, 16_000), render_song(5, 6.0, 16_000)
    assert np.array_equal(first.waveform, again.waveform)
    others = [render_song(seed, 6.0, 16_000) for seed in (6, 7, 8, 9)]
    assert len({(s.style, s.tempo, s.key) for s in [first, *others]}) == 5
    assert not np.array_equal(first.waveform[:1000], others[0].waveform[:1000])


# ---------------------------------------------------------------------- the warp
def test_warp_known_answer_steady_beats():
    """A dancer stepping every 0.6 s onto a 0.5 s beat plays at 1.2x, every step a beat."""
    kinematic = np.arange(0.3, 12.0, 0.6)
    musical = np.arange(0.25, 16.0, 0.5)
    warp = fit_warp(kinematic, musical, 12.0, 16.0)
    assert warp.anchors == kinematic.size
    assert np.allclose(warp.rates(), 1.2)
    mapped = np.interp(kinematic, warp.motion_times, warp.music_times)
    assert np.abs(mapped[:, None] - musical[None, :]).min(axis=1).max() < 1e-9


def test_warp_without_beats_is_natural_speed():
    warp = fit_warp(np.array([]), np.arange(0, 10, 0.5), 8.0, 10.0)
    assert warp.anchors == 0 and np.allclose(warp.rates(), 1.0)


def cmu_segments(*clips: str) -> list[Segment]:
    segments = []
    for clip in clips:
        subject = "05" if clip.startswith("005") else clip[:2]
        name = f"{clip}.bvh" if subject == "05" else f"{clip}_scaled.bvh"
        motion = normalise_body(read_motion(shared_data("mocap", "cmu", subject, name),
                                            joints="canonical"))
        for start, stop in clean_segments(motion):
            segments.append(Segment(motion.trimmed(start, stop), clip, start / motion.fps))
    return segments


@pytest.mark.parametrize("clips, beat", [(("005_02", "005_04"), 0.52), (("60_02",), 0.55)])
def test_warp_puts_real_dance_on_the_beat_within_bounds(clips, beat):
    routine = build_routine(cmu_segments(*clips)).motion
    musical = 0.2 + np.arange(0, routine.duration * 1.4, beat)
    song_seconds = float(musical[-1] + 0.5)
    warp = fit_warp(beat_times(routine), musical, routine.duration, song_seconds)
    low, high = RATE_BOUNDS
    assert np.all(np.diff(warp.music_times) > 0) and np.all(np.diff(warp.motion_times) > 0)
    assert np.all(warp.rates() >= low - 1e-9) and np.all(warp.rates() <= high + 1e-9)
    assert warp.motion_times[0] == 0.0 and warp.motion_times[-1] == pytest.approx(
        routine.duration)
    start = np.ceil(warp.music_start * 30) / 30
    warped = warp_motion(routine, warp, 30.0, start)
    before = alignment(routine, musical, start)
    after = alignment(warped, musical, start)
    assert after["hit_rate"] > before["hit_rate"] + 0.15
    assert after["hit_rate"] >= 0.7


# ---------------------------------------------------------------------- cleaning and joins
def test_cleaning_scales_grounds_and_cuts_glitches():
    motion = normalise_body(read_motion(shared_data("mocap", "cmu", "60", "60_09_scaled.bvh"),
                                        joints="canonical"))
    assert np.median(leg_lengths(motion.positions)) == pytest.approx(REFERENCE_LEG_LENGTH,
                                                                    rel=1e-4)
    lowest = motion.positions[:, FEET, 2].min(axis=1)
    assert np.percentile(lowest, 5) == pytest.approx(FOOT_JOINT_HEIGHT, abs=1e-4)
    assert glitch_steps(motion).size > 0  # this trial has marker glitches and a T-pose snap
    segments = clean_segments(motion)
    assert segments and all(glitch_steps(motion.trimmed(a, b)).size == 0 for a, b in segments)
    assert sum(b - a for a, b in segments) > 0.9 * motion.num_frames


def test_routine_joins_are_continuous():
    segments = cmu_segments("005_01", "005_03", "005_09")
    routine = build_routine(segments)
    assert [part["source"] for part in routine.parts] == ["005_01", "005_03", "005_09"]

    def fastest(positions, fps):
        return float(np.linalg.norm(np.diff(positions, axis=0), axis=-1).max() * fps)

    source_top = max(fastest(s.motion.positions, s.motion.fps) for s in segments)
    assert fastest(routine.motion.positions, routine.motion.fps) <= 1.25 * source_top
    parents = np.array(CANONICAL_24.parents[1:])
    bones = np.linalg.norm(routine.motion.positions[:, 1:] - routine.motion.positions[:, parents],
                           axis=-1)
    assert np.abs(bones - np.median(bones, axis=0)).max() < 0.02


# ---------------------------------------------------------------------- the builder
@pytest.fixture
def sources(tmp_path):
    """A small subset of the shared data, linked (never copied) into folders of its own."""
    mocap, music = tmp_path / "mocap", tmp_path / "music"
    for subject, name in (("05", "005_01.bvh"), ("05", "005_03.bvh"), ("05", "005_20.bvh"),
                          ("60", "60_02_scaled.bvh")):
        (mocap / subject).mkdir(parents=True, exist_ok=True)
        (mocap / subject / name).symlink_to(shared_data("mocap", "cmu", subject, name))
    music.mkdir()
    for stem in (HELD_OUT_SONG, TRAIN_SONG):
        (music / f"{stem}.hq.ogg").symlink_to(shared_data("music", f"{stem}.hq.ogg"))
        (music / f"{stem}.txt").symlink_to(shared_data("music", f"{stem}.txt"))
    return mocap, music


def digests(folder):
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()
            and path.name != "manifest.json"}


def test_builder_writes_a_trainable_dataset_that_keeps_the_split(sources, tmp_path, capsys):
    mocap, music = sources
    out = tmp_path / "data"
    assert main(["recipe", "data", str(out), "--mocap", str(mocap), "--music", str(music),
                 "--quick", "--seed", "3"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    capsys.readouterr()

    assert main(["dataset", str(out)]) == 0
    listing = capsys.readouterr().out
    assert ", 0 unusable" in listing
    data = load_training_data(out / "train", seq_len=60)
    assert len(data.train) > 0 and data.joint_set == "canonical24"
    assert data.train.poses.shape[-1] == 72 and np.isfinite(data.train.poses).all()

    split = manifest["split"]
    assert split["held_out_motions"] == ["005_20"]
    assert split["held_out_songs"] == [f"{HELD_OUT_SONG}.hq"]
    train = [clip for clip in manifest["clips"] if clip["part"] == "train"]
    test = [clip for clip in manifest["clips"] if clip["part"] == "test"]
    assert train and test
    for clip in train:
        assert {part["source"] for part in clip["routine"]} <= {"005_01", "005_03", "60_02"}
        assert clip["song"].get("id") != f"{HELD_OUT_SONG}.hq"
        assert clip["song"].get("seed") not in split["held_out_synth_seeds"]
    for clip in test:
        assert {part["source"] for part in clip["routine"]} == {"005_20"}
    assert {p.parent.name for p in (out / "test").rglob("*.npz")} == {"ballet"}

    summary = manifest["summary"]["train"]
    low, high = RATE_BOUNDS
    assert low - 1e-3 <= summary["warp_rate"]["min"] <= summary["warp_rate"]["max"] <= high + 1e-3
    assert summary["beats_after_warp"]["hit_rate"] > summary["beats_before_warp"]["hit_rate"]
    assert manifest["measurement"]["beat_tolerance_seconds"] == 0.1

    again = tmp_path / "again"
    build_dataset(again, mocap, music, RecipeConfig.quick(seed=3))
    assert digests(again) == digests(out)
    second = json.loads((again / "manifest.json").read_text())
    assert {k: v for k, v in second.items() if k != "build"} == {
        k: v for k, v in manifest.items() if k != "build"}


def test_builder_refuses_to_overwrite_and_reports_bad_folders(sources, tmp_path, capsys):
    mocap, music = sources
    out = tmp_path / "data"
    (out / "mine").mkdir(parents=True)
    (out / "mine" / "notes.txt").write_text("keep me")
    assert main(["recipe", "data", str(out), "--mocap", str(mocap), "--music", str(music),
                 "--quick", "--force"]) == 2
    assert "not a recipe build" in capsys.readouterr().err
    assert (out / "mine" / "notes.txt").read_text() == "keep me"
    assert main(["recipe", "data", str(tmp_path / "x"), "--mocap", str(tmp_path / "none"),
                 "--music", str(music)]) == 2


def test_songs_need_an_attribution_and_one_is_held_out(tmp_path):
    (tmp_path / "a.ogg").write_bytes(b"x" * 10)
    (tmp_path / "b.hq.ogg").write_bytes(b"x" * 20)
    (tmp_path / "b.txt").write_text("b by someone. https://creativecommons.org/licenses/by/3.0/")
    (tmp_path / "c.mp3").write_bytes(b"x" * 30)
    (tmp_path / "c.txt").write_text("c is in the Public Domain")
    songs, notes = find_songs(tmp_path, ("ballet",))
    assert [s.song_id for s in songs] == ["b.hq", "c"]
    assert [s.licence for s in songs] == ["CC BY 3.0", "Public domain"]
    assert [s.held_out for s in songs] == [True, False]  # no Hungarian Dance: the shortest
    assert any("a.ogg" in note and "attribution" in note for note in notes)


def test_synth_seeds_differ_by_part_and_seed():
    train = {synth_seed(0, "train", i) for i in range(200)}
    test = {synth_seed(0, "test", i) for i in range(200)}
    assert len(train) == 200 and not train & test
    assert synth_seed(1, "train", 0) != synth_seed(0, "train", 0)
