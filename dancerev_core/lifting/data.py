"""Real 3D dance for training and judging the lifter: motion capture as canonical clips.

Any BVH file a joint map in `rigs/` covers (the shared CMU dance clips: subject 5's ballet,
subjects 60/61's salsa) becomes canonical joints at the lifter's 30 fps, scaled to the
standard body (`skeleton.standardize`). The first 0.1 s is dropped (the CMU 60/61 takes
start with a few frames blending in from another pose), and so are leading frames in a
T-pose, which some CMU takes begin with. Files that cannot be read are skipped with the
reason.

Whole clips are held out for evaluation, never trained on: two of subject 5's and two salsa
trials (03 and 12), both partners of each, since partners dance the same trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DanceRevError
from ..formats.reading import read_motion
from .features import LIFTER_FPS
from .skeleton import standardize

HELD_OUT = ("005_04", "005_15", "60_03_scaled", "61_03_scaled", "60_12_scaled",
            "61_12_scaled")
LEAD_IN = 0.1  # seconds dropped at the start of every take


@dataclass
class Clip:
    """A canonical 3D clip at the lifter's rate, standard body size (T x 24 x 3, metres)."""

    name: str
    positions: np.ndarray
    scale: float  # how much the file's body was scaled to the standard one


def _is_t_pose(frame: np.ndarray) -> bool:
    """Both arms straight out sideways, level with the shoulders."""
    for shoulder, wrist in ((16, 20), (17, 21)):
        arm = frame[wrist] - frame[shoulder]
        if abs(arm[2]) > 0.25 * np.linalg.norm(arm) or np.linalg.norm(arm) < 0.3:
            return False
    return True


def load_clip(path: str | Path) -> Clip:
    """One BVH take as a `Clip`; a `DanceRevError` if it cannot be read or is too short."""
    path = Path(path)
    motion = read_motion(path, joints="canonical").resample(LIFTER_FPS)
    positions = motion.positions[int(round(LEAD_IN * LIFTER_FPS)):]
    while len(positions) and _is_t_pose(positions[0]):
        positions = positions[1:]
    if len(positions) < LIFTER_FPS:
        raise DanceRevError(f"{path}: shorter than a second after its lead-in")
    scaled, factor = standardize(positions)
    return Clip(path.stem, scaled, factor)


def find_clips(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DanceRevError(f"{folder}: not a folder of BVH files")
    return sorted(folder.rglob("*.bvh"), key=lambda p: p.stem)


def load_clips(folder: str | Path, names: set[str] | None = None, exclude: set[str] = frozenset(),
               log=print) -> list[Clip]:
    """Every readable take under `folder` (those in `names` only, if given)."""
    clips = []
    for path in find_clips(folder):
        if (names is not None and path.stem not in names) or path.stem in exclude:
            continue
        try:
            clips.append(load_clip(path))
        except DanceRevError as error:
            log(f"skipped {error}")
    return clips
