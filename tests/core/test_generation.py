"""Generation: features -> motions, the fast decoder against the plain loop, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dancerev_core.cli import main
from dancerev_core.errors import DanceRevError
from dancerev_core.formats.motion_npz import load_motion
from dancerev_core.generation import pipeline
from dancerev_core.generation.beat_sync import sync_to_beats
from dancerev_core.generation.pipeline import (
    PREROLL_SECONDS,
    generate_dance,
    poses_to_motion,
    variation_paths,
    with_preroll,
)
from dancerev_core.generation.plausible import plausible_positions, settled_start
from dancerev_core.model import ModelConfig, Seq2Seq, load_checkpoint, save_checkpoint
from dancerev_core.model.fast_decode import (
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    fast_generate,
    prepare_decoder,
)
from dancerev_core.model.pose_encoding import model_poses_to_layout
from dancerev_core.music.features import NUM_FEATURES, MusicFeatures
from tests.conftest import shared_data


def small_model(seed: int = 0, **changes) -> Seq2Seq:
    sizes = dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32, window=4,
                 decoder_hidden=32)
    sizes.update(changes)
    torch.manual_seed(seed)
    return Seq2Seq(ModelConfig(**sizes)).eval()


def make_checkpoint(folder, **changes):
    """The `--epochs 0` checkpoint: a freshly initialised model, saved and loaded back."""
    path = save_checkpoint(folder / "model", small_model(**changes), training={"epoch": 0})
    return load_checkpoint(path, device="cpu")


def music(frames: int = 150, fps: float = 15.0, seed: int = 0) -> MusicFeatures:
    rng = np.random.default_rng(seed)
    beats = np.arange(0.25, frames / fps, 0.5)
    return MusicFeatures(features=rng.standard_normal((frames, NUM_FEATURES)).astype(np.float32),
                         fps=fps, beat_times=beats, tempo=120.0, duration=frames / fps)


# -- generate_dance ---------------------------------------------------------------------------

@pytest.mark.parametrize("joints, dims, count", [("body25", 2, 25), ("canonical24", 3, 24)])
def test_motion_in_the_checkpoints_joint_set_fps_and_layout(tmp_path, joints, dims, count):
    checkpoint = make_checkpoint(tmp_path, joint_set=joints)
    song = music()
    [dance] = generate_dance(song, checkpoint, decoder="plain")
    assert (dance.num_frames, dance.num_joints, dance.dims) == (150, count, dims)
    assert dance.fps == 15.0 and dance.skeleton == joints and not dance.root_relative
    # the positions are the model's poses, unflattened joint-major and made absolute, their
    # opening rush held still; 3D ones get constant bones and the floor (plausible.py); then
    # re-timed onto the beats (beat_sync.py), and 3D ones made plausible again
    # the decoder runs a pre-roll on the music first (the opening mirrored here), dropped
    span, preroll = with_preroll(song.features, 0, song.num_frames, 15)
    assert preroll == round(PREROLL_SECONDS * 15)
    poses = checkpoint.model.generate(torch.from_numpy(span),
                                      torch.Generator().manual_seed(0))[0].numpy()[preroll:]
    layout = model_poses_to_layout(poses, checkpoint.config)  # the root's travel integrated
    raw = settled_start(poses_to_motion(layout, joints, 15.0).positions, 15.0)
    canonical = joints == "canonical24"
    cleaned = plausible_positions(raw, 15.0) if canonical else raw
    synced, report = sync_to_beats(cleaned, 15.0, song.beat_times)
    expected = plausible_positions(synced, 15.0) if canonical else synced
    np.testing.assert_allclose(dance.positions, expected, atol=1e-5)
    assert dance.meta["beat_sync"] == report.summary()
    [own_timing] = generate_dance(song, checkpoint, decoder="plain", beat_sync=False)
    np.testing.assert_allclose(own_timing.positions, cleaned, atol=1e-5)
    assert "beat_sync" not in own_timing.meta
    assert dance.meta["beat_times"] == pytest.approx(list(song.beat_times))
    assert dance.meta["audio_start"] == 0.0 and dance.meta["variation"] == 1


def test_the_preroll_is_the_music_before_the_span_or_its_opening_mirrored():
    features = np.arange(20, dtype=np.float32)[:, None]  # frame k holds k
    span, preroll = with_preroll(features, 8, 12, 5)  # music before the span: the song's own
    assert preroll == 5 and span[:, 0].tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    span, preroll = with_preroll(features, 2, 12, 5)  # 2 frames of it, then mirrored
    assert preroll == 5 and span[:, 0].tolist()[:7] == [3, 2, 1, 0, 1, 2, 3]
    span, preroll = with_preroll(features, 0, 3, 5)  # from the start: all of it mirrored
    assert preroll == 5 and span[:, 0].tolist() == [5, 4, 3, 2, 1, 0, 1, 2]
    span, preroll = with_preroll(features[:3], 0, 3, 5)  # a 3-frame song has 2 to mirror
    assert preroll == 2 and span[:, 0].tolist() == [2, 1, 0, 1, 2]
    span, preroll = with_preroll(features[:1], 0, 1, 5)  # one frame: nothing to mirror
    assert preroll == 0 and span[:, 0].tolist() == [0]


def test_span_from_start_for_seconds_with_beats_relative_to_frame_zero(tmp_path):
    checkpoint = make_checkpoint(tmp_path)
    song = music(frames=150)
    [dance] = generate_dance(song, checkpoint, seconds=3.0, start=2.0)
    assert dance.num_frames == 45 and dance.meta["audio_start"] == 2.0
    # song beats at 0.25, 0.75, ...: from 2.0 s for 3 s they are 2.25 .. 4.75, here 0.25 .. 2.75
    assert dance.meta["beat_times"] == pytest.approx(np.arange(0.25, 3.0, 0.5))
    # a span past the song's end stops with the song
    [tail] = generate_dance(song, checkpoint, seconds=60.0, start=9.0)
    assert tail.num_frames == 15
    with pytest.raises(DanceRevError, match="past the end"):
        generate_dance(song, checkpoint, start=10.0)
    with pytest.raises(DanceRevError, match="seconds"):
        generate_dance(song, checkpoint, seconds=0.0)
    with pytest.raises(DanceRevError, match="fps"):
        generate_dance(music(fps=30.0), checkpoint)


@pytest.fixture
def no_preroll(monkeypatch):
    """Variations differ by the decoder's random initial state. An untrained test model
    forgets it within the 1-s pre-roll; a trained one does not (the shipped model's
    variations lie 0.16 m apart per joint with the pre-roll, 0.13 m without), so tests of
    how variations differ run these small models without it."""
    monkeypatch.setattr(pipeline, "PREROLL_SECONDS", 0.0)


@pytest.mark.parametrize("decoder", ["fast", "plain"])
def test_same_seed_same_dance_and_variations_differ(tmp_path, decoder, no_preroll):
    checkpoint = make_checkpoint(tmp_path)
    song = music(frames=60)
    first = generate_dance(song, checkpoint, seed=5, num=3, decoder=decoder)
    again = generate_dance(song, checkpoint, seed=5, num=3, decoder=decoder)
    other = generate_dance(song, checkpoint, seed=6, num=3, decoder=decoder)
    assert [d.meta["variation"] for d in first] == [1, 2, 3]
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert np.abs(a.positions - c.positions).max() > 1e-3
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert np.abs(first[a].positions - first[b].positions).max() > 1e-3


def test_variation_paths():
    assert variation_paths("out/dance.npz", 1) == [Path("out/dance.npz")]
    assert [p.name for p in variation_paths("out/dance.npz", 3)] == [
        "dance_1.npz", "dance_2.npz", "dance_3.npz"]


# -- the fast decoder ----------------------------------------------------------------------

@pytest.mark.parametrize("joints, reads_music", [("body25", False), ("canonical24", False),
                                                 ("canonical24", True)])
def test_fast_decoder_matches_the_plain_loop(joints, reads_music):
    model = small_model(decoder_hidden=128, joint_set=joints, decoder_reads_music=reads_music)
    features = torch.randn(2, 300, NUM_FEATURES)
    plain = model.generate(features, torch.Generator().manual_seed(1), num=2)
    fp32 = fast_generate(model, features, torch.Generator().manual_seed(1), num=2,
                         precision="fp32")
    int8 = fast_generate(model, features, torch.Generator().manual_seed(1), num=2)
    assert int8.shape == fp32.shape == plain.shape == (2, 2, 300, model.config.pose_size)
    assert (fp32 - plain).abs().max() < FP32_TOLERANCE
    assert (int8 - plain).abs().max() < INT8_TOLERANCE
    assert (int8 - plain).abs().max() > 0  # really quantised


def test_long_song_in_windows_equals_unwindowed_generation():
    """3000 frames, encoder in 256-frame windows vs the whole song at once.

    Windowed encoding is exact in exact arithmetic (each window sees its whole receptive
    field); in floats the sums run in another order, so the encoder outputs agree to ~1e-6
    and the decoder, fed back its own poses, carries that to the dance within FP32_TOLERANCE.
    """
    model = small_model(window=8, n_layers=2)
    features = torch.randn(3000, NUM_FEATURES)
    with torch.no_grad():
        whole = model.encode(features[None])
        windows = model.encode(features[None], chunk=256)
    assert (whole - windows).abs().max() < 1e-5
    reference = model.generate(features, torch.Generator().manual_seed(2), chunk=None)
    fast = fast_generate(model, features, torch.Generator().manual_seed(2), chunk=256,
                         precision="fp32")
    assert fast.shape == (1, 3000, 50)
    assert torch.isfinite(fast).all()
    assert (fast - reference).abs().max() < FP32_TOLERANCE
    quantised = fast_generate(model, features, torch.Generator().manual_seed(2), chunk=256)
    assert (quantised - reference).abs().max() < INT8_TOLERANCE


def test_prepared_weights_follow_weight_changes():
    model = small_model()
    prepared = prepare_decoder(model)
    assert prepare_decoder(model) is prepared
    with torch.no_grad():
        model.decoder.cells[1].weight_hh.mul_(0.5)
    assert prepare_decoder(model) is not prepared


def test_progress_reports_and_can_cancel():
    model = small_model()
    features = torch.randn(200, NUM_FEATURES)
    calls = []
    fast_generate(model, features, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(64, 200), (128, 200), (192, 200), (200, 200)]

    def cancel(done, total):
        raise KeyboardInterrupt

    threads = torch.get_num_threads()
    with pytest.raises(KeyboardInterrupt):
        fast_generate(model, features, progress=cancel, threads=1)
    assert torch.get_num_threads() == threads and not model.training


# -- the command line -------------------------------------------------------------------------

def write_excerpt(path, seconds: float) -> None:
    import soundfile

    from dancerev_core.music.audio import load_audio

    song = sorted(shared_data("music").glob("*.ogg"))[0]
    soundfile.write(path, load_audio(song, 22_050, max_seconds=seconds), 22_050)


def write_tone(path, seconds: float = 2.0) -> None:
    import soundfile

    t = np.arange(int(22_050 * seconds)) / 22_050
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22_050)


def test_cli_generates_dances_for_a_real_song(tmp_path, monkeypatch, capsys, no_preroll):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    audio = tmp_path / "excerpt.wav"
    write_excerpt(audio, 15.0)
    model = save_checkpoint(tmp_path / "ckpt", small_model())
    out = tmp_path / "dance.npz"
    args = ["generate", str(audio), "--model", str(model), "-o", str(out), "--seconds", "8",
            "--start", "4", "--seed", "3", "--num", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    first, second = (load_motion(tmp_path / name) for name in ("dance_1.npz", "dance_2.npz"))
    assert "dance_1.npz: 120 frames at 15 fps" in printed
    for dance in (first, second):
        assert (dance.num_frames, dance.num_joints, dance.dims, dance.fps) == (120, 25, 2, 15)
        assert dance.skeleton == "body25" and np.isfinite(dance.positions).all()
        beats = dance.meta["beat_times"]
        assert len(beats) >= 4 and all(0 <= b < 8 for b in beats)
        assert dance.meta["audio_start"] == 4.0 and dance.meta["seed"] == 3
    assert np.abs(first.positions - second.positions).max() > 1e-3
    # same seed, same dance (the second run reads the features from the cache)
    assert main(args[:-2] + ["-o", str(tmp_path / "again.npz")]) == 0
    again = load_motion(tmp_path / "again.npz")
    assert again.meta["num"] == 1 and again.num_frames == 120


def cli_error(capsys, args) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dancerev generate: error: ")
    return err


def test_cli_refuses_missing_mismatched_and_pickled_checkpoints(tmp_path, capsys):
    audio = tmp_path / "tone.wav"
    write_tone(audio)
    model = save_checkpoint(tmp_path / "ckpt", small_model())
    out = ["-o", str(tmp_path / "out.npz")]
    err = cli_error(capsys, ["generate", str(audio), "--model", str(tmp_path / "nope"), *out])
    assert "checkpoint not found" in err
    err = cli_error(capsys, ["generate", str(audio), "--model", str(model), "--joints",
                             "canonical24", *out])
    assert "joint set 'body25'" in err
    pickle = tmp_path / "model.pt"
    torch.save(small_model().state_dict(), pickle)
    err = cli_error(capsys, ["generate", str(audio), "--model", str(pickle), *out])
    assert "never unpickles" in err
    err = cli_error(capsys, ["generate", str(audio), "--model", str(model), "--num", "0", *out])
    assert "--num" in err
    err = cli_error(capsys, ["generate", str(audio), "--model", str(model), "--start", "30",
                             "--no-cache", *out])
    assert "past the end" in err
    assert not (tmp_path / "out.npz").exists()
