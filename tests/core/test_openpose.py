"""OpenPose JSON: the real frame, folders of frames, person choice, and bad files."""

import copy
import json
import shutil

import numpy as np
import pytest

from dancerev_core.errors import DanceRevError, InputFileError
from dancerev_core.formats.openpose import (
    choose_person,
    read_openpose_folder,
    read_openpose_frame,
    read_openpose_people,
)
from dancerev_core.skeletons import BODY_25
from tests.conftest import shared_data

NECK, RELBOW, MIDHIP = BODY_25.index("Neck"), BODY_25.index("RElbow"), BODY_25.index("MidHip")
# Values read by eye from /work/shared/data/openpose/im1010_openpose.json.
REAL_NECK = (78.5691, 57.8892, 0.628322)
REAL_MIDHIP = (77.7931, 96.9218, 0.588614)


@pytest.fixture
def real_path():
    return shared_data("openpose", "im1010_openpose.json")


@pytest.fixture
def real(real_path):
    return json.loads(real_path.read_text())


def shifted(document, dx=0.0, dy=0.0, scale=1.0):
    """A copy whose detected keypoints are scaled about the origin, then moved."""
    document = copy.deepcopy(document)
    for person in document["people"]:
        values = person["pose_keypoints_2d"]
        for i in range(0, len(values), 3):
            if values[i + 2] > 0:
                values[i] = values[i] * scale + dx
                values[i + 1] = values[i + 1] * scale + dy
    return document


def write_frames(folder, documents, name="clip_{:012d}_keypoints.json"):
    folder.mkdir(parents=True, exist_ok=True)
    for number, document in enumerate(documents):
        text = document if isinstance(document, str) else json.dumps(document)
        (folder / name.format(number)).write_text(text)
    return folder


def one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------- the real frame
def test_real_frame_values(real_path):
    keypoints = read_openpose_frame(real_path)
    assert keypoints.shape == (25, 3)
    np.testing.assert_allclose(keypoints[NECK], REAL_NECK)
    np.testing.assert_allclose(keypoints[MIDHIP], REAL_MIDHIP)
    assert keypoints[RELBOW, 2] == 0.0  # not detected in this frame
    assert len(read_openpose_people(real_path)) == 1


def test_folder_of_real_frames_in_natural_order(tmp_path, real):
    # Unpadded numbers: "clip_10" sorts before "clip_2" as text, not as frame numbers.
    folder = write_frames(tmp_path / "video", [shifted(real, dx=i) for i in range(12)],
                          name="cam2_clip_{}_keypoints.json")
    motion = read_openpose_folder(folder)
    assert motion.skeleton == "body25" and motion.dims == 2 and motion.fps == 30.0
    assert motion.num_frames == 12 and motion.confidence.shape == (12, 25)
    np.testing.assert_allclose(motion.positions[:, NECK, 0], REAL_NECK[0] + np.arange(12),
                               rtol=1e-6)
    np.testing.assert_allclose(motion.positions[:, NECK, 1], REAL_NECK[1], rtol=1e-6)
    np.testing.assert_allclose(motion.confidence[:, NECK], REAL_NECK[2], rtol=1e-6)
    assert motion.missing_mask()[:, RELBOW].all()
    assert not motion.missing_mask()[:, NECK].any()
    assert motion.meta["source"] == str(folder) and motion.meta["source_format"] == "openpose"


def test_reading_leaves_files_untouched(tmp_path, real_path):
    folder = tmp_path / "video"
    folder.mkdir()
    for number in range(3):
        shutil.copy(real_path, folder / f"v_{number:012d}_keypoints.json")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    real_before = (real_path.read_bytes(), real_path.stat().st_mtime_ns)
    read_openpose_folder(folder, fps=15.0)
    read_openpose_frame(real_path)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()} == before
    assert (real_path.read_bytes(), real_path.stat().st_mtime_ns) == real_before


def test_version_1_3_with_empty_hands_and_face(tmp_path, real):
    document = copy.deepcopy(real)
    document["version"] = 1.3
    document["part_candidates"] = []
    person = document["people"][0]
    person["person_id"] = [-1]
    for key in ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"):
        person[key] = []
    path = tmp_path / "v13_000000000000_keypoints.json"
    path.write_text(json.dumps(document))
    np.testing.assert_allclose(read_openpose_frame(path)[NECK], REAL_NECK)
    assert read_openpose_folder(tmp_path).positions.shape == (1, 25, 2)


def test_zero_people_frame_is_missing(tmp_path, real):
    nobody = {"version": 1.3, "people": []}
    folder = write_frames(tmp_path / "v", [real, nobody, real])
    assert read_openpose_frame(folder / "clip_000000000001_keypoints.json") is None
    motion = read_openpose_folder(folder)
    assert (motion.confidence[1] == 0).all() and (motion.positions[1] == 0).all()
    np.testing.assert_allclose(motion.positions[2, NECK], REAL_NECK[:2], rtol=1e-6)


def test_gap_in_numbering_becomes_missing_frames(tmp_path, real):
    folder = tmp_path / "v"
    folder.mkdir()
    for number in (5, 6, 8):
        (folder / f"clip_{number:012d}_keypoints.json").write_text(json.dumps(real))
    motion = read_openpose_folder(folder)
    assert motion.num_frames == 4
    assert (motion.confidence[2] == 0).all() and (motion.confidence[3] > 0).any()
    assert motion.meta["first_frame"] == 5 and motion.meta["missing_files"] == 1


def two_people(first, second):
    return {"version": 1.2, "people": first["people"] + second["people"]}


def test_largest_person_is_chosen_first(tmp_path, real):
    small = shifted(real, dx=300, scale=0.5)
    path = tmp_path / "f_0_keypoints.json"
    path.write_text(json.dumps(two_people(small, real)))  # the large one is listed second
    np.testing.assert_allclose(read_openpose_frame(path)[NECK], REAL_NECK)
    second = read_openpose_frame(path, person="0")
    np.testing.assert_allclose(second[NECK, 0], REAL_NECK[0] * 0.5 + 300)


def test_continuity_beats_size_until_the_dancer_is_lost(tmp_path, real):
    dancer = shifted(real, scale=0.5)  # small, near the top left
    stranger = shifted(real, dx=400, scale=1.5)  # larger, far to the right
    frames = [dancer, two_people(stranger, shifted(dancer, dx=3)), stranger]
    motion = read_openpose_folder(write_frames(tmp_path / "v", frames))
    neck_x = motion.positions[:, NECK, 0]
    np.testing.assert_allclose(neck_x[:2], [REAL_NECK[0] * 0.5, REAL_NECK[0] * 0.5 + 3],
                               rtol=1e-6)  # frame 1: the nearer, smaller dancer
    np.testing.assert_allclose(neck_x[2], REAL_NECK[0] * 1.5 + 400, rtol=1e-6)


def test_fixed_index_and_absent_index(tmp_path, real):
    other = shifted(real, dx=200)
    folder = write_frames(tmp_path / "v", [two_people(real, other), real])
    motion = read_openpose_folder(folder, person="1")
    np.testing.assert_allclose(motion.positions[0, NECK, 0], REAL_NECK[0] + 200, rtol=1e-6)
    assert (motion.confidence[1] == 0).all()  # nobody at index 1 in frame 1


def test_choose_person_rule_directly(real):
    person = np.array(real["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    far_big = person.copy()
    far_big[:, :2] = far_big[:, :2] * 2 + 1000
    assert choose_person([person, far_big]) == 1
    assert choose_person([person, far_big], previous=person) == 0
    assert choose_person([]) is None
    with pytest.raises(DanceRevError, match="person must be"):
        choose_person([person], person="tallest")


# ---------------------------------------------------------------------- bad input
def test_missing_keypoint_detected_values_are_numbers(tmp_path, real):
    document = copy.deepcopy(real)
    document["people"][0]["pose_keypoints_2d"][3 * NECK: 3 * NECK + 3] = [0, 0, 0]
    path = tmp_path / "f_1_keypoints.json"
    path.write_text(json.dumps(document))
    assert read_openpose_frame(path)[NECK].tolist() == [0.0, 0.0, 0.0]
    motion = read_openpose_folder(tmp_path)
    assert motion.missing_mask()[0, NECK]


def bad_documents(real):
    coco = copy.deepcopy(real)
    coco["people"][0]["pose_keypoints_2d"] = coco["people"][0]["pose_keypoints_2d"][:54]
    nan = copy.deepcopy(real)
    nan["people"][0]["pose_keypoints_2d"][4] = float("nan")
    text = copy.deepcopy(real)
    text["people"][0]["pose_keypoints_2d"][0] = "66.4"
    no_pose = {"version": 1.3, "people": [{"face_keypoints_2d": []}]}
    return {
        "empty": ("", "file is empty"),
        "not json": ("{'people': oops", "not valid JSON"),
        "binary": (b"\xff\xfe\x00".decode("latin1"), "not valid JSON"),
        "no people": (json.dumps({"version": 1.2}), "no 'people' list"),
        "people not a list": (json.dumps({"people": {}}), "'people' is not a list"),
        "coco18": (json.dumps(coco), "54 pose values, expected 75"),
        "nan": (json.dumps(nan), "NaN or infinite"),
        "text value": (json.dumps(text), "not numbers"),
        "no pose": (json.dumps(no_pose), "no pose_keypoints_2d"),
    }


@pytest.mark.parametrize("case", ["empty", "not json", "binary", "no people",
                                  "people not a list", "coco18", "nan", "text value", "no pose"])
def test_bad_frame_files(tmp_path, real, case):
    text, problem = bad_documents(real)[case]
    path = tmp_path / "v_000000000000_keypoints.json"
    path.write_text(text, encoding="latin1")
    with pytest.raises(InputFileError, match=problem) as error:
        read_openpose_frame(path)
    assert one_line(error).startswith(str(path))
    with pytest.raises(InputFileError, match=problem):
        read_openpose_folder(tmp_path)


def test_bad_folders(tmp_path, real):
    with pytest.raises(InputFileError, match="contains no OpenPose .json files") as error:
        read_openpose_folder(tmp_path)
    assert one_line(error).startswith(str(tmp_path))
    with pytest.raises(InputFileError, match="not a folder"):
        read_openpose_folder(tmp_path / "nowhere")
    nobody = write_frames(tmp_path / "nobody", [{"people": []}] * 3)
    with pytest.raises(InputFileError, match="no person detected in any of the 3 frames"):
        read_openpose_folder(nobody)
    twice = write_frames(tmp_path / "twice", [real])
    (twice / "other_000000000000_keypoints.json").write_text(json.dumps(real))
    with pytest.raises(InputFileError, match="two files for frame 0"):
        read_openpose_folder(twice)
    unnumbered = write_frames(tmp_path / "unnumbered", [real])
    (unnumbered / "extra.json").write_text(json.dumps(real))
    with pytest.raises(InputFileError, match="no frame number"):
        read_openpose_folder(unnumbered)
    with pytest.raises(DanceRevError, match="person must be"):
        read_openpose_folder(twice, person="-1")
