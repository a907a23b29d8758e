"""The paper's clip JSON: reading, writing, round trips and bad files."""

import json

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError, InputFileError
from dancerev_core.formats.paper_json import PaperClip, read_paper_json, write_paper_json
from dancerev_core.motion import Motion
from dancerev_core.skeletons import BODY_25

FRAMES = 6
NECK, MIDHIP = BODY_25.index("Neck"), BODY_25.index("MidHip")


def clip_document(frames=FRAMES, dance_columns=274, seed=0):
    """A clip as the authors' prepro.py writes it: absolute normalised positions."""
    rng = np.random.default_rng(seed)
    return {
        "id": "ballet_017_0",
        "music_array": rng.normal(size=(frames, 438)).tolist(),
        "dance_array": rng.uniform(-1, 1, size=(frames, dance_columns)).tolist(),
    }


def write_document(path, document):
    path.write_text(json.dumps(document))
    return path


def test_read_makes_positions_root_relative(tmp_path):
    document = clip_document()
    path = write_document(tmp_path / "clip.json", document)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    clip = read_paper_json(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert clip.clip_id == "ballet_017_0"
    assert clip.music.dtype == np.float32 and clip.music.shape == (FRAMES, 438)
    np.testing.assert_array_equal(clip.music, np.float32(document["music_array"]))
    motion = clip.motion
    assert motion.skeleton == "body25" and motion.fps == 15.0 and motion.root_relative
    dance = np.array(document["dance_array"])[:, :50].reshape(FRAMES, 25, 2)
    np.testing.assert_allclose(motion.positions[:, MIDHIP], dance[:, MIDHIP], atol=1e-6)
    np.testing.assert_allclose(motion.positions[:, NECK], dance[:, NECK] - dance[:, MIDHIP],
                               atol=1e-6)
    np.testing.assert_allclose(motion.to_absolute().positions, dance, atol=1e-6)
    assert motion.meta["coordinates"] == "normalized [-1,1]"
    assert motion.meta["source"] == str(path)
    assert motion.meta["ignored_dance_columns"] == 224


def test_exactly_fifty_dance_columns(tmp_path):
    path = write_document(tmp_path / "clip.json", clip_document(dance_columns=50))
    assert read_paper_json(path).motion.meta["ignored_dance_columns"] == 0


def test_round_trip(tmp_path):
    source = read_paper_json(write_document(tmp_path / "in.json", clip_document()))
    out = write_paper_json(source, tmp_path / "sub" / "out.json")
    again = read_paper_json(out)
    assert again.clip_id == source.clip_id
    np.testing.assert_array_equal(again.music, source.music)  # float32-exact
    np.testing.assert_allclose(again.motion.positions, source.motion.positions, atol=1e-6)
    written = json.loads(out.read_text())
    assert len(written["dance_array"][0]) == 50
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.json"]  # no temp left


def test_float_formatting_is_float32_exact_and_short(tmp_path):
    rng = np.random.default_rng(1)
    music = (rng.normal(size=(40, 438)) * 10.0 ** rng.integers(-30, 30, size=(40, 438)))
    music = music.astype(np.float32)
    motion = Motion(positions=rng.uniform(-1, 1, (40, 25, 2)), fps=15.0, skeleton="body25",
                    joint_names=BODY_25.joint_names)
    clip = PaperClip("c", music, motion.to_root_relative())
    path = write_paper_json(clip, tmp_path / "c.json")
    np.testing.assert_array_equal(read_paper_json(path).music, music)
    tenth = PaperClip("d", np.full((1, 438), 0.1, np.float32), motion.trimmed(0, 1))
    text = write_paper_json(tenth, tmp_path / "d.json").read_text()
    assert "[0.1, 0.1," in text and "0.10000000149011612" not in text  # short, float32-exact


def test_writer_refuses_bad_clips(tmp_path):
    motion = Motion(positions=np.zeros((3, 25, 2)), fps=15.0, skeleton="body25",
                    joint_names=BODY_25.joint_names)
    with pytest.raises(DanceRevError, match="15 FPS"):
        PaperClip("c", np.zeros((3, 438)), motion.resample(30.0))
    with pytest.raises(DanceRevError, match="music has 2 frames"):
        PaperClip("c", np.zeros((2, 438)), motion)
    with pytest.raises(DanceRevError, match="T x 438"):
        PaperClip("c", np.zeros((3, 20)), motion)
    music = np.zeros((3, 438))
    music[1, 5] = np.nan
    with pytest.raises(DanceRevError, match="NaN"):
        write_paper_json(PaperClip("c", music, motion), tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()


def broken(case):
    document = clip_document()
    if case == "narrow music":
        document["music_array"] = [row[:437] for row in document["music_array"]]
    elif case == "narrow dance":
        document["dance_array"] = [row[:48] for row in document["dance_array"]]
    elif case == "ragged":
        document["dance_array"][2] = document["dance_array"][2][:60]
    elif case == "text":
        document["music_array"][0][0] = "0.5"
    elif case == "lengths":
        document["dance_array"] = document["dance_array"][:-1]
    elif case == "missing":
        del document["music_array"]
    elif case == "zero frames":
        document["music_array"], document["dance_array"] = [], []
    elif case in ("nan", "infinity"):
        document["dance_array"][1][7] = float("nan" if case == "nan" else "inf")
    return json.dumps(document)


@pytest.mark.parametrize("case, problem", [
    ("narrow music", "music_array has 437 values per frame, expected 438"),
    ("narrow dance", "dance_array has 48 values per frame, expected at least 50"),
    ("ragged", "dance_array is not a T x 50 or more table"),
    ("text", "music_array is not a T x 438 table"),
    ("lengths", "music_array has 6 frames but dance_array has 5"),
    ("missing", "missing music_array"),
    ("zero frames", "music_array is not a T x 438 table"),
    ("nan", "dance_array has NaN"),
    ("infinity", "dance_array has NaN or infinite"),
])
def test_bad_clip_files(tmp_path, case, problem):
    path = tmp_path / "clip.json"
    path.write_text(broken(case))
    with pytest.raises(InputFileError, match=problem) as error:
        read_paper_json(path)
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message


@pytest.mark.parametrize("text, problem", [
    ("", "file is empty"), ("{oops", "not valid JSON"), ("[1, 2]", "expected a JSON object"),
])
def test_unreadable_files(tmp_path, text, problem):
    path = tmp_path / "clip.json"
    path.write_text(text)
    with pytest.raises(InputFileError, match=problem):
        read_paper_json(path)
    with pytest.raises(InputFileError, match="no such file"):
        read_paper_json(tmp_path / "absent.json")
