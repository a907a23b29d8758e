"""The motion .npz file: exact round trip, versioning, bad files."""

import json
import os

import numpy as np
import pytest

from dancerev_core.errors import InputFileError
from dancerev_core.formats.motion_npz import FORMAT_VERSION, load_motion, save_motion
from dancerev_core.motion import Motion
from dancerev_core.skeletons import BODY_25, CANONICAL_24


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    confidence = rng.uniform(size=(7, 25)).astype(np.float32)
    motion = Motion(rng.normal(size=(7, 25, 2)), 15.0, BODY_25.name, BODY_25.joint_names,
                    confidence=confidence, root_relative=True,
                    meta={"source": "x", "image_size": [640, 480]})
    path = save_motion(motion, tmp_path / "clip.npz")
    loaded = load_motion(path)
    np.testing.assert_array_equal(loaded.positions, motion.positions)
    np.testing.assert_array_equal(loaded.confidence, motion.confidence)
    assert loaded.positions.dtype == np.float32
    assert (loaded.fps, loaded.skeleton, loaded.joint_names, loaded.parents) == (
        motion.fps, motion.skeleton, motion.joint_names, motion.parents)
    assert loaded.root_relative and loaded.meta == motion.meta
    with np.load(path) as archive:
        assert int(archive["format_version"]) == FORMAT_VERSION
        assert str(archive["format"]) == "dancerev.motion"


def test_raw_skeleton_keeps_its_parents(tmp_path):
    motion = Motion(np.zeros((2, 3, 3)), 120.0, "raw", ("hip", "spine", "thigh"),
                    parents=(-1, 0, 0))
    loaded = load_motion(save_motion(motion, tmp_path / "raw.npz"))
    assert loaded.parents == (-1, 0, 0) and loaded.confidence is None


def test_writing_over_a_file_is_atomic(tmp_path):
    path = tmp_path / "m.npz"
    motion = Motion(np.ones((2, 24, 3)), 30.0, CANONICAL_24.name, CANONICAL_24.joint_names)
    save_motion(motion, path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left behind


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "future.npz"
    np.savez(path, positions=np.zeros((1, 24, 3), np.float32), fps=30.0,
             skeleton="canonical24", joint_names=np.array(CANONICAL_24.joint_names),
             format_version=FORMAT_VERSION + 1)
    with pytest.raises(InputFileError, match="newer than this DanceRev"):
        load_motion(path)


@pytest.mark.parametrize("writer, message", [
    (lambda p: p.write_bytes(b""), "not a readable .npz"),
    (lambda p: p.write_text("hello"), "not a readable .npz"),
    (lambda p: np.savez(p, positions=np.zeros((2, 24, 3))), "missing fps"),
    (lambda p: np.savez(p, positions=np.zeros((0, 24, 3)), fps=30.0, skeleton="canonical24",
                        joint_names=np.array(CANONICAL_24.joint_names)), "zero frames"),
    (lambda p: np.savez(p, positions=np.full((2, 24, 3), np.nan), fps=30.0,
                        skeleton="canonical24", joint_names=np.array(CANONICAL_24.joint_names)),
     "NaN"),
    (lambda p: np.savez(p, positions=np.array([{"evil": 1}], dtype=object), fps=30.0,
                        skeleton="raw", joint_names=np.array(["a"])), "pickled objects"),
])
def test_bad_files_get_one_line_errors_naming_the_file(tmp_path, writer, message):
    path = tmp_path / "bad.npz"
    writer(path)
    with pytest.raises(InputFileError, match=message) as caught:
        load_motion(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_motion(tmp_path / "absent.npz")


def test_meta_is_plain_json(tmp_path):
    motion = Motion(np.zeros((1, 24, 3)), 30.0, CANONICAL_24.name, CANONICAL_24.joint_names,
                    meta={"a": [1, 2]})
    path = save_motion(motion, tmp_path / "m.npz")
    with np.load(path) as archive:
        assert json.loads(str(archive["meta_json"])) == {"a": [1, 2]}
    assert os.path.getsize(path) > 0


def test_written_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through a private temp file; the result must not stay private."""
    motion = Motion(np.zeros((1, 24, 3)), 30.0, CANONICAL_24.name, CANONICAL_24.joint_names)
    mask = os.umask(0o022)
    try:
        path = save_motion(motion, tmp_path / "shared.npz")
    finally:
        os.umask(mask)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
