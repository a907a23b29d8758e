"""OpenPose JSON output (versions 1.2 and 1.3): one file per video frame, to a BODY_25 motion.

Each file holds `people`, a list of detections; each person has `pose_keypoints_2d`, a flat
list of 25 (x, y, confidence) triples in pixels, with `0, 0, 0` where a keypoint was not
found. Hands, face, 3D arrays and 1.3's `person_id` / `part_candidates` may be present,
empty or absent; they are ignored (the paper drops face and hands). Only the BODY_25 model
(75 values) is accepted: COCO-18 and MPI outputs use other joint orders.

Choosing one dancer when several people are detected (person="largest"):
  1. If a dancer was chosen in an earlier frame, take the person whose anchor (MidHip, else
     Neck, else the mean of the detected keypoints) is nearest that dancer's last anchor,
     provided the distance is at most the diagonal of that dancer's last bounding box.
  2. Otherwise (first frame, or nobody close enough: the dancer was lost) take the person
     with the largest bounding box of detected keypoints (ties: more keypoints, then the
     lower index).
A fixed index (person="0", "1", ...) takes that entry of `people` in every frame; a frame
with fewer people is missing. OpenPose does not keep indices stable across frames, so a
fixed index is only safe for single-person videos.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DanceRevError, InputFileError
from ..files import load_json
from ..motion import Motion
from ..skeletons import BODY_25

POSE_VALUES = 3 * BODY_25.num_joints  # 75: x, y, confidence per BODY_25 keypoint
_MIDHIP = BODY_25.index("MidHip")
_NECK = BODY_25.index("Neck")
_DIGITS = re.compile(r"\d+")


# ---------------------------------------------------------------------- one frame file
def read_openpose_people(path: str | Path) -> list[np.ndarray]:
    """Every person in one OpenPose frame file, each as a 25 x 3 (x, y, confidence) array."""
    path = Path(path)
    document = load_json(path)
    if not isinstance(document, dict) or "people" not in document:
        raise InputFileError(path, "not an OpenPose file: no 'people' list")
    people = document["people"]
    if not isinstance(people, list):
        raise InputFileError(path, "not an OpenPose file: 'people' is not a list")
    return [_person_keypoints(path, index, entry) for index, entry in enumerate(people)]


def read_openpose_frame(path: str | Path, person: str | int = "largest",
                        previous: np.ndarray | None = None) -> np.ndarray | None:
    """The chosen person's 25 x 3 keypoints in one frame file, or None if nobody is there.

    `previous` is the person chosen in the frame before, for the continuity rule above.
    """
    people = read_openpose_people(path)
    chosen = choose_person(people, person, previous)
    return None if chosen is None else people[chosen]


def choose_person(people: list[np.ndarray], person: str | int = "largest",
                  previous: np.ndarray | None = None) -> int | None:
    """Index into `people` by the rule in the module docstring, or None for nobody."""
    fixed = _parse_person(person)
    if fixed is not None:
        return fixed if fixed < len(people) else None
    candidates = [i for i, keypoints in enumerate(people) if (keypoints[:, 2] > 0).any()]
    if not candidates:
        return None
    if previous is not None and (previous[:, 2] > 0).any():
        anchor = _anchor(previous)
        distances = [float(np.linalg.norm(_anchor(people[i]) - anchor)) for i in candidates]
        nearest = int(np.argmin(distances))
        if distances[nearest] <= _box_diagonal(previous):
            return candidates[nearest]
    sizes = [(_box_area(people[i]), int((people[i][:, 2] > 0).sum())) for i in candidates]
    return candidates[max(range(len(candidates)), key=lambda k: sizes[k])]


# ---------------------------------------------------------------------- a folder of frames
def read_openpose_folder(folder: str | Path, fps: float = 30.0,
                         person: str | int = "largest") -> Motion:
    """A folder of OpenPose frame files (one video) to a BODY_25 motion in pixels.

    Files are ordered by the last number in their name (`<video>_000000000012_keypoints.json`
    is frame 12). A gap in the numbering becomes missing frames, so that time stays right;
    frames with nobody are missing too (confidence 0, positions 0).
    """
    folder = Path(folder)
    _parse_person(person)  # a bad setting fails before any file is read
    files = _frame_files(folder)
    first = min(files)
    count = max(files) - first + 1
    keypoints = np.zeros((count, BODY_25.num_joints, 3), dtype=np.float64)
    chosen = None
    for number in sorted(files):
        frame = read_openpose_frame(files[number], person, chosen)
        if frame is not None:
            keypoints[number - first] = frame
            chosen = frame
    if not (keypoints[:, :, 2] > 0).any():
        raise InputFileError(folder, f"no person detected in any of the {len(files)} frames")
    meta = {"source": str(folder), "source_format": "openpose", "coordinates": "pixels",
            "first_frame": first, "missing_files": count - len(files), "person": str(person)}
    return Motion(positions=keypoints[:, :, :2].astype(np.float32), fps=fps, skeleton="body25",
                  joint_names=BODY_25.joint_names, confidence=keypoints[:, :, 2], meta=meta)


def read_openpose_frame_motion(path: str | Path, fps: float = 30.0,
                               person: str | int = "largest") -> Motion:
    """One OpenPose frame file as a one-frame BODY_25 motion (pixels, with confidence)."""
    path = Path(path)
    frame = read_openpose_frame(path, person)
    if frame is None or not (frame[:, 2] > 0).any():
        raise InputFileError(path, "no person detected in this OpenPose frame")
    meta = {"source": str(path), "source_format": "openpose", "coordinates": "pixels",
            "person": str(person)}
    return Motion(positions=frame[None, :, :2].astype(np.float32), fps=fps, skeleton="body25",
                  joint_names=BODY_25.joint_names, confidence=frame[None, :, 2], meta=meta)


def _frame_files(folder: Path) -> dict[int, Path]:
    """Frame number -> file, refusing names without numbers and two files for one frame."""
    if not folder.is_dir():
        raise InputFileError(folder, "not a folder of OpenPose .json files")
    paths = sorted(p for p in folder.glob("*.json") if p.is_file())
    if not paths:
        raise InputFileError(folder, "contains no OpenPose .json files")
    files: dict[int, Path] = {}
    for path in paths:
        numbers = _DIGITS.findall(path.stem)
        if not numbers and len(paths) > 1:
            raise InputFileError(path, "no frame number in the file name (OpenPose writes "
                                       "<video>_<frame>_keypoints.json)")
        number = int(numbers[-1]) if numbers else 0
        if number in files:
            raise InputFileError(folder, f"two files for frame {number}: {files[number].name} "
                                         f"and {path.name}; keep one video per folder")
        files[number] = path
    span = max(files) - min(files) + 1
    if span > 2 * len(files):
        raise InputFileError(folder, f"frame numbers run from {min(files)} to {max(files)} but "
                                     f"only {len(files)} files exist; most frames are missing")
    return files


# ---------------------------------------------------------------------- helpers
def _parse_person(person: str | int) -> int | None:
    """None for "largest", else a non-negative index; anything else is a setting error."""
    if isinstance(person, str) and person.strip().lower() == "largest":
        return None
    text = str(person).strip()
    if not isinstance(person, bool) and text.isdigit():
        return int(text)
    raise DanceRevError(f"person must be 'largest' or a person index such as '0', "
                        f"got {person!r}")


def _person_keypoints(path: Path, index: int, entry: Any) -> np.ndarray:
    """One person's `pose_keypoints_2d` (or 1.0/1.1's `pose_keypoints`) as 25 x 3."""
    values = None
    if isinstance(entry, dict):
        values = entry.get("pose_keypoints_2d", entry.get("pose_keypoints"))
    if not isinstance(values, list):
        raise InputFileError(path, f"person {index} has no pose_keypoints_2d list")
    if len(values) != POSE_VALUES:
        raise InputFileError(path, f"person {index} has {len(values)} pose values, expected "
                                   f"{POSE_VALUES} (BODY_25 x, y, confidence); other OpenPose "
                                   "models such as COCO-18 (54 values) are not supported")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InputFileError(path, f"person {index} has pose values that are not numbers")
    try:
        keypoints = np.array(values, dtype=np.float64).reshape(BODY_25.num_joints, 3)
    except OverflowError:
        keypoints = np.full((BODY_25.num_joints, 3), np.inf)
    if not np.isfinite(keypoints).all():
        raise InputFileError(path, f"person {index} has NaN or infinite pose values")
    return keypoints


def _anchor(keypoints: np.ndarray) -> np.ndarray:
    """Where a person is: MidHip, else Neck, else the mean of the detected keypoints."""
    for joint in (_MIDHIP, _NECK):
        if keypoints[joint, 2] > 0:
            return keypoints[joint, :2]
    return keypoints[keypoints[:, 2] > 0, :2].mean(axis=0)


def _box_size(keypoints: np.ndarray) -> np.ndarray:
    """Width and height of the box around the detected keypoints."""
    seen = keypoints[keypoints[:, 2] > 0, :2]
    return seen.max(axis=0) - seen.min(axis=0)


def _box_area(keypoints: np.ndarray) -> float:
    width, height = _box_size(keypoints)
    return float(width * height)


def _box_diagonal(keypoints: np.ndarray) -> float:
    return float(np.hypot(*_box_size(keypoints)))
