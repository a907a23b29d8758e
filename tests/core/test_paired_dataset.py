"""The paired dataset folder: matching, sidecars, and reporting unusable clips."""

import json
import shutil

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.errors import DanceRevError
from dancerev_core.formats.motion_npz import save_motion
from dancerev_core.formats.paired_dataset import list_clips
from dancerev_core.motion import Motion
from dancerev_core.skeletons import CANONICAL_24
from tests.conftest import shared_data

SONG = ("music", "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg")


def canonical_motion(frames=20):
    positions = np.random.default_rng(0).normal(size=(frames, 24, 3))
    return Motion(positions, 30.0, CANONICAL_24.name, CANONICAL_24.joint_names)


@pytest.fixture
def dataset(tmp_path):
    """A small real dataset: CMU BVH files paired with a real song, plus broken entries."""
    song = shared_data(*SONG)
    bvh = shared_data("mocap", "cmu", "05", "005_03.bvh")
    root = tmp_path / "dataset"
    (root / "ballet").mkdir(parents=True)
    (root / "salsa").mkdir()
    shutil.copy(bvh, root / "ballet" / "phrase.bvh")
    shutil.copy(song, root / "ballet" / "phrase.ogg")
    shutil.copy(shared_data("mocap", "cmu", "60", "60_02_scaled.bvh"), root / "salsa" / "lead.bvh")
    shutil.copy(song, root / "salsa" / "lead.ogg")
    (root / "salsa" / "lead.json").write_text(json.dumps({"audio_offset": 2.5,
                                                          "genre": "latin"}))
    save_motion(canonical_motion(), root / "salsa" / "generated.npz")
    shutil.copy(song, root / "salsa" / "generated.ogg")
    # Unusable: no song, song without motion, broken motion, bad sidecar, two songs.
    shutil.copy(bvh, root / "ballet" / "lonely.bvh")
    shutil.copy(song, root / "ballet" / "orphan.ogg")
    (root / "ballet" / "broken.bvh").write_text("HIERARCHY\nROOT a\n{\n")
    shutil.copy(song, root / "ballet" / "broken.ogg")
    save_motion(canonical_motion(), root / "salsa" / "offset.npz")
    shutil.copy(song, root / "salsa" / "offset.ogg")
    (root / "salsa" / "offset.json").write_text('{"audio_offset": -1}')
    save_motion(canonical_motion(), root / "salsa" / "twice.npz")
    shutil.copy(song, root / "salsa" / "twice.ogg")
    shutil.copy(song, root / "salsa" / "twice.flac")
    return root


def test_lists_usable_clips_and_reports_the_rest(dataset):
    before = {p: p.read_bytes() for p in dataset.rglob("*") if p.is_file()}
    listing = list_clips(dataset)
    by_name = {clip.name: clip for clip in listing.clips}
    assert sorted(by_name) == ["ballet/phrase", "salsa/generated", "salsa/lead"]
    assert by_name["ballet/phrase"].genre == "ballet"
    assert by_name["salsa/lead"].genre == "latin"
    assert by_name["salsa/lead"].audio_offset == 2.5
    assert by_name["salsa/generated"].audio_path.name == "generated.ogg"
    problems = {p.path.name: p.reason for p in listing.unusable}
    assert "no song" in problems["lonely.bvh"]
    assert "without a motion" in problems["orphan.ogg"]
    assert "MOTION" in problems["broken.bvh"]
    assert "audio_offset" in problems["offset.json"]
    assert "several songs" in problems["twice.npz"]
    assert listing.genres() == ["ballet", "latin", "salsa"]
    motion = by_name["salsa/lead"].load_motion()
    assert motion.skeleton == CANONICAL_24.name and motion.fps == 120.0
    after = {p: p.read_bytes() for p in dataset.rglob("*") if p.is_file()}
    assert after == before  # listing never touches the user's files


def test_openpose_folders_pair_with_songs(tmp_path):
    frame = shared_data("openpose", "im1010_openpose.json")
    clip = tmp_path / "data" / "hiphop" / "take1"
    clip.mkdir(parents=True)
    for index in range(3):
        shutil.copy(frame, clip / f"take1_{index:012d}_keypoints.json")
    shutil.copy(shared_data(*SONG), clip.parent / "take1.ogg")
    listing = list_clips(tmp_path / "data")
    assert [c.name for c in listing.clips] == ["hiphop/take1"], listing.unusable
    assert listing.clips[0].motion_path.is_dir()


def test_cli_reports_and_exit_codes(dataset, capsys):
    assert main(["dataset", str(dataset)]) == 0
    output = capsys.readouterr().out
    assert "3 usable clips (ballet 1, latin 1, salsa 1), 5 unusable" in output
    empty = dataset / "empty"
    empty.mkdir()
    assert main(["dataset", str(empty)]) == 2
    assert "no motion files" in capsys.readouterr().err


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DanceRevError, match="dataset folder not found"):
        list_clips(tmp_path / "nowhere")
