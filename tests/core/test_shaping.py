"""shape_dance: in place and loops as the commands and the worker apply them to a Motion."""

from __future__ import annotations

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.errors import DanceRevError
from dancerev_core.generation.shaping import Shaping, shape_dance
from dancerev_core.motion import Motion
from dancerev_core.skeletons import BODY_25, CANONICAL_24
from tests.core.test_root_motion import travelling_dance


def dance_motion(seconds: float = 8.0) -> Motion:
    positions = travelling_dance(seconds, 15.0)[0].astype(np.float32)
    beats = np.arange(0.3, seconds, 0.5)
    return Motion(positions=positions, fps=15.0, skeleton=CANONICAL_24.name,
                  joint_names=CANONICAL_24.joint_names,
                  meta={"audio_start": 2.0, "beat_times": beats.round(6).tolist()})


def test_nothing_asked_is_the_same_dance():
    dance = dance_motion()
    assert shape_dance(dance, Shaping()) is dance


def test_in_place_takes_the_travel_off():
    dance = dance_motion()
    assert np.ptp(dance.positions[:, 0, :2], axis=0).max() > 0.5  # it travels
    placed = shape_dance(dance, Shaping(in_place=True))
    root = placed.positions[:, 0, :2]
    assert np.linalg.norm(root - root[0], axis=1).max() < 0.01
    assert placed.meta["shape"] == "in place, feet planted again"
    assert placed.num_frames == dance.num_frames


def test_a_loop_moves_the_music_with_it():
    dance = dance_motion()
    looped = shape_dance(dance, Shaping(in_place=True, loop=True))
    shift = looped.meta["loop_start"]
    assert shift > 0 and looped.meta["audio_start"] == pytest.approx(2.0 + shift)
    # the beats, from the loop's frame 0: the first on it, all within the loop
    beats = np.array(looped.meta["beat_times"])
    assert beats[0] == pytest.approx(0.0, abs=0.5 / 15)
    assert beats.max() < looped.num_frames / 15
    # whole beats long
    assert looped.num_frames / 15 / 0.5 == pytest.approx(round(looped.num_frames / 7.5),
                                                         abs=1 / 7.5)


def test_2d_dances_and_turning_without_in_place_are_refused():
    flat = Motion(positions=np.zeros((30, 25, 2), np.float32), fps=15.0,
                  skeleton=BODY_25.name, joint_names=BODY_25.joint_names)
    with pytest.raises(DanceRevError, match="canonical 3D"):
        shape_dance(flat, Shaping(loop=True))
    with pytest.raises(DanceRevError, match="only goes with in place"):
        shape_dance(dance_motion(), Shaping(keep_turning=True))


def test_the_commands_refuse_keep_turning_alone(capsys, tmp_path):
    assert main(["generate", "song.ogg", "--model", "m.json", "-o", str(tmp_path / "o.npz"),
                 "--keep-turning"]) == 2
    assert "--keep-turning only goes with --in-place" in capsys.readouterr().err
