"""Training data: feature alignment, pose layout, split by clip, mirroring, bad datasets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError
from dancerev_core.formats.motion_npz import save_motion
from dancerev_core.formats.paper_json import PaperClip, write_paper_json
from dancerev_core.motion import Motion
from dancerev_core.music.features import MusicFeatures, block_slices
from dancerev_core.skeletons import BODY_25, CANONICAL_24
from dancerev_core.training.data import align_features, load_training_data, model_motion
from dancerev_core.training.window_starts import epoch_rng, fixed_starts, moved_starts
from tests.conftest import shared_data

BEAT = block_slices()["beat"].start


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))


def ramp_music(frames=61, beats=(0.5, 1.0)):
    """30 fps features whose every column holds the frame number: alignment is readable."""
    features = np.repeat(np.arange(frames, dtype=np.float32)[:, None], 438, axis=1)
    return MusicFeatures(features, 30.0, np.array(beats), 120.0, (frames - 1) / 30)


def body25_motion(frames, seed=0, fps=15.0):
    positions = np.random.default_rng(seed).uniform(-1, 1, size=(frames, 25, 2))
    return Motion(positions, fps, BODY_25.name, BODY_25.joint_names)


def paper_dataset(root, frames=(50, 50, 50, 50, 50, 50, 50, 50, 50, 50),
                  genres=("ballet", "hiphop")):
    """Paper JSON clips in genre folders; music row j holds the clip and frame numbers."""
    for index, count in enumerate(frames):
        genre = genres[index % len(genres)]
        music = np.zeros((count, 438), np.float32)
        music[:, 0], music[:, 1] = index, np.arange(count)
        clip = PaperClip(f"{genre}_{index:02d}", music, body25_motion(count, seed=index))
        (root / genre).mkdir(parents=True, exist_ok=True)
        write_paper_json(clip, root / genre / f"clip{index:02d}.json")
    return root


# -- alignment ---------------------------------------------------------------------------

def test_features_at_whole_frame_offsets_are_copied_rows():
    music = ramp_music()
    np.testing.assert_array_equal(align_features(music, 0.0, 15.0, 100)[:, 0], np.arange(0, 61, 2))
    odd = align_features(music, 1 / 30, 15.0, 5)  # the paper's odd stream
    np.testing.assert_array_equal(odd[:, 0], [1, 3, 5, 7, 9])
    shifted = align_features(music, 1.0, 15.0, 100)  # motion frame 0 at 1 s of the song
    np.testing.assert_array_equal(shifted[:, 0], np.arange(30, 61, 2))
    assert shifted.shape == (16, 438)  # ends with the song
    assert align_features(music, 5.0, 15.0, 10).shape == (0, 438)  # song over before


def test_features_between_frames_are_interpolated_with_beats_rebuilt():
    music = ramp_music()
    aligned = align_features(music, 0.05, 15.0, 10)  # 1.5 native frames
    np.testing.assert_allclose(aligned[:, 0], 1.5 + 2 * np.arange(10), atol=1e-5)
    # beats at 0.5 s and 1.0 s of the song: 0.45 s and 0.95 s after motion frame 0
    assert np.flatnonzero(aligned[:, BEAT]).tolist() == [7]  # 0.45 s -> frame 6.75 -> 7
    np.testing.assert_allclose(align_features(music, 0.0, 20.0, 4)[:, 0], [0, 1.5, 3, 4.5])


def test_offset_zero_at_15_fps_is_what_generation_sees(tmp_path):
    from dancerev_core.music.analysis import analyse_song

    song = shared_data("music", "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_"
                                "(string_orchestra).hq.ogg")
    native = analyse_song(song, fps=30.0)
    aligned = align_features(native, 0.0, 15.0, 10_000)
    np.testing.assert_array_equal(aligned, analyse_song(song, fps=15.0).features)


# -- motion to poses ---------------------------------------------------------------------

def test_model_motion_fills_resamples_and_makes_root_relative():
    positions = np.random.default_rng(1).normal(size=(61, 24, 3))
    positions[10, 5] = np.nan
    motion = Motion(positions, 60.0, CANONICAL_24.name, CANONICAL_24.joint_names)
    result = model_motion(motion, 15.0)
    assert result.fps == 15.0 and result.num_frames == 16 and result.root_relative
    assert np.isfinite(result.positions).all()
    expected = motion.fill_missing().positions[::4]
    np.testing.assert_allclose(result.positions[:, 0], expected[:, 0], atol=1e-6)
    np.testing.assert_allclose(result.positions[:, 7], expected[:, 7] - expected[:, 0],
                               atol=1e-5)


def test_pixel_keypoints_need_the_video_size():
    motion = body25_motion(10).with_positions(
        np.full((10, 25, 2), 540.0), meta={"coordinates": "pixels"})
    with pytest.raises(DanceRevError, match="--image-size"):
        model_motion(motion, 15.0)
    normalised = model_motion(motion, 15.0, image_size=(1080.0, 1080.0)).to_absolute()
    np.testing.assert_allclose(normalised.positions, 0.0, atol=1e-6)


# -- windows and split -------------------------------------------------------------------

def test_windows_hold_aligned_features_and_flattened_root_relative_poses(tmp_path):
    root = paper_dataset(tmp_path / "paper", frames=(50, 45, 20))
    data = load_training_data(root, seq_len=20, val_fraction=0.0, pose_encoding="absolute")
    assert data.summary["format"] == "paper" and data.joint_set == "body25"
    assert len(data.train) == 2 + 2 + 1 and len(data.val) == 0  # tails dropped
    assert data.train.features.shape == (5, 20, 438) and data.train.poses.shape == (5, 20, 50)
    second = data.train.clip_names.index("ballet/clip00") + 1
    np.testing.assert_array_equal(data.train.features[second, :, 1], np.arange(20, 40))
    motion = body25_motion(50, seed=0)
    relative = motion.to_root_relative().positions.reshape(50, 50)
    np.testing.assert_allclose(data.train.poses[second], relative[20:40], atol=1e-6)
    assert data.summary["genres"] == {"ballet": 2, "hiphop": 1}
    assert data.summary["train"] == {"clips": 3, "windows": 5, "frames": 100,
                                     "seconds": 6.667}
    # the model's default encoding: the root's x (MidHip, value 16) as per-frame displacement,
    # taken over the whole clip, so the second window's first frame keeps its true step
    moving = load_training_data(root, seq_len=20, val_fraction=0.0)
    assert moving.summary["pose_encoding"] == "displacement"
    expected = relative[20:40].copy()
    expected[:, 16] = relative[20:40, 16] - relative[19:39, 16]
    np.testing.assert_allclose(moving.train.poses[second], expected, atol=1e-5)


def test_windows_recut_at_moved_starts_are_the_clips_own_frames(tmp_path):
    root = paper_dataset(tmp_path / "paper", frames=(50, 45, 20))
    data = load_training_data(root, seq_len=20, val_fraction=0.0)
    assert sorted(len(f) for f, _ in data.train.clips) == [20, 45, 50]
    cuts = [data.train.recut(epoch_rng(0, epoch)) for epoch in (1, 2, 1)]
    np.testing.assert_array_equal(cuts[0][0], cuts[2][0])  # seeded by (seed, epoch)
    assert not np.array_equal(cuts[0][0], cuts[1][0])  # and new every epoch
    window = 0
    for clip, (features, poses) in zip(sorted(set(data.train.clip_names),
                                              key=data.train.clip_names.index),
                                       data.train.clips, strict=True):
        for _ in range(data.train.clip_names.count(clip)):  # as many windows per clip
            start = int(cuts[1][0][window, 0, 1])  # music column 1 holds the frame number
            assert 0 <= start <= len(features) - 20
            np.testing.assert_array_equal(cuts[1][0][window], features[start:start + 20])
            np.testing.assert_array_equal(cuts[1][1][window], poses[start:start + 20])
            window += 1
    assert cuts[1][0].shape == data.train.features.shape
    # each start moves at most half a window from the paper's
    moved = np.stack([moved_starts(200, 20, epoch_rng(0, e)) for e in range(200)])
    assert np.abs(moved - fixed_starts(200, 20)).max() == 10
    assert moved.min() == 0 and moved.max() == 180 and len(np.unique(moved[:, 3])) == 21


def test_split_is_by_clip_and_deterministic(tmp_path):
    root = paper_dataset(tmp_path / "paper")
    data = load_training_data(root, seq_len=20, val_fraction=0.2, seed=3)
    assert data.summary["split"] == "by clip"
    assert len(data.summary["val_clips"]) == 2 and data.summary["val"]["windows"] == 4
    assert set(data.train.clip_names).isdisjoint(data.val.clip_names)
    assert set(data.val.clip_names) == set(data.summary["val_clips"])
    again = load_training_data(root, seq_len=20, val_fraction=0.2, seed=3)
    assert again.summary["val_clips"] == data.summary["val_clips"]
    np.testing.assert_array_equal(again.train.poses, data.train.poses)
    splits = {tuple(load_training_data(root, seq_len=20, val_fraction=0.2,
                                       seed=seed).summary["val_clips"]) for seed in range(6)}
    assert len(splits) > 1


def test_single_clip_validates_on_its_last_window(tmp_path):
    root = paper_dataset(tmp_path / "one", frames=(65,))
    notes = []
    data = load_training_data(root, seq_len=20, log=notes.append)
    assert (len(data.train), len(data.val)) == (2, 1)
    np.testing.assert_array_equal(data.val.features[0, :, 1], np.arange(40, 60))
    assert "last window" in data.summary["split"] and any("last window" in n for n in notes)
    single = load_training_data(paper_dataset(tmp_path / "short", frames=(30,)), seq_len=20)
    assert (len(single.train), len(single.val)) == (1, 0)


def test_mirroring_adds_mirrored_training_windows_only(tmp_path):
    root = paper_dataset(tmp_path / "paper", frames=(40, 40, 40, 40))
    plain = load_training_data(root, seq_len=20, val_fraction=0.25)
    mirrored = load_training_data(root, seq_len=20, val_fraction=0.25, mirror=True)
    assert len(mirrored.train) == 2 * len(plain.train) and len(mirrored.val) == len(plain.val)
    index = mirrored.train.clip_names.index(plain.train.clip_names[0] + " (mirrored)")
    poses = plain.train.poses[0].reshape(20, 25, 2)
    expected = poses[:, list(BODY_25.mirror_permutation)] * np.array([-1.0, 1.0])
    np.testing.assert_allclose(mirrored.train.poses[index].reshape(20, 25, 2), expected,
                               atol=1e-6)
    np.testing.assert_array_equal(mirrored.train.features[index], plain.train.features[0])


# -- the paired folder with real data -----------------------------------------------------

def test_paired_clip_honours_the_audio_offset(tmp_path):
    import soundfile

    from dancerev_core.music.audio import load_audio

    bvh = shared_data("mocap", "cmu", "05", "005_03.bvh")
    song = shared_data("music", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg")
    waveform = load_audio(song, 22050)[:22050 * 12]
    for name, offset in (("plain", 0.0), ("late", 2.0)):
        folder = tmp_path / name / "modern"
        folder.mkdir(parents=True)
        shutil.copy(bvh, folder / "take.bvh")
        soundfile.write(folder / "take.wav", waveform, 22050)
        (folder / "take.json").write_text(json.dumps({"audio_offset": offset}))
    plain = load_training_data(tmp_path / "plain", seq_len=10, val_fraction=0.0)
    late = load_training_data(tmp_path / "late", seq_len=10, val_fraction=0.0)
    assert plain.joint_set == "canonical24" and plain.train.poses.shape[2] == 72
    np.testing.assert_array_equal(late.train.poses, plain.train.poses)
    # 2 s at 15 fps = 30 frames = 3 windows later in the song
    np.testing.assert_array_equal(late.train.features[:-3], plain.train.features[3:])
    assert plain.summary["genres"] == {"modern": 1}
    with pytest.raises(DanceRevError, match="the data is canonical24 .3D. but the model "
                                            "config says joint_set 'body25'"):
        load_training_data(tmp_path / "plain", seq_len=10, joint_set="body25")


def test_bad_datasets_are_one_line_errors(tmp_path):
    with pytest.raises(DanceRevError, match="dataset folder not found"):
        load_training_data(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DanceRevError, match="not a dataset"):
        load_training_data(tmp_path / "empty")
    root = paper_dataset(tmp_path / "paper", frames=(15, 12))
    with pytest.raises(DanceRevError, match="no clip gives a training window of 20 frames"):
        load_training_data(root, seq_len=20)
    with pytest.raises(DanceRevError, match="features at 15 fps"):
        load_training_data(root, fps=30.0, seq_len=5)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name, motion in (("a", body25_motion(30)), ("b", Motion(
            np.zeros((30, 24, 3)), 15.0, CANONICAL_24.name, CANONICAL_24.joint_names))):
        save_motion(motion, mixed / f"{name}.npz")
        shutil.copy(shared_data("music", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"),
                    mixed / f"{name}.ogg")
    with pytest.raises(DanceRevError, match="mixes 2D and 3D"):
        load_training_data(mixed, seq_len=10)


def test_aistpp_pickles_in_a_paired_folder_are_reported(tmp_path):
    folder = tmp_path / "aist"
    folder.mkdir()
    (folder / "gBR_sBM_cAll_d04_mBR0_ch01.pkl").write_bytes(b"\x80\x04.")
    shutil.copy(shared_data("music", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"),
                folder / "gBR_sBM_cAll_d04_mBR0_ch01.ogg")
    notes = []
    with pytest.raises(DanceRevError, match="no clip gives a training window"):
        load_training_data(folder, data_format="paired", log=notes.append)
    assert any("AIST++ .pkl motions are not read" in note for note in notes)
