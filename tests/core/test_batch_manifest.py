"""The production manifest: songs x characters x seeds, naming templates, overrides, dry run."""

from __future__ import annotations

import json

import pytest

from dancerev_core.cli import main
from dancerev_core.commands.manifest import read_manifest
from dancerev_core.errors import InputFileError


def write(tmp_path, document) -> str:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(document))
    return str(path)


PRODUCTION = {
    "defaults": {"seconds": 20, "beat_sync": False},
    "songs": ["songs/a.mp3", {"path": "songs/b.mp3", "name": "bee", "start": 30}],
    "characters": ["rigs/hero.blend", {"path": "rigs/robot.glb", "map": "robot.json"}],
    "seeds": [0, 7],
    "output": "out/{song}_{character}_{seed}.blend",
    "render": "out/{song}_{character}_{seed}.mp4",
    "overrides": [{"where": {"song": "bee", "character": "robot"}, "set": {"seconds": 10}},
                  {"where": {"seed": 7}, "set": {"num": 2}}],
}


def test_songs_times_characters_times_seeds_expand_to_named_jobs(tmp_path):
    jobs = read_manifest(write(tmp_path, PRODUCTION))
    assert [job.name for job in jobs] == [
        "a_hero_0", "a_hero_7", "a_robot_0", "a_robot_7",
        "bee_hero_0", "bee_hero_7", "bee_robot_0", "bee_robot_7"]
    assert [job.number for job in jobs] == list(range(1, 9))
    by_name = {job.name: job.settings for job in jobs}
    bee_robot = by_name["bee_robot_7"]
    assert bee_robot["song"] == str((tmp_path / "songs/b.mp3").resolve())
    assert bee_robot["character"] == str((tmp_path / "rigs/robot.glb").resolve())
    assert bee_robot["map"] == str((tmp_path / "robot.json").resolve())  # the character's own
    assert bee_robot["start"] == 30  # the song's own
    assert bee_robot["seconds"] == 10 and bee_robot["num"] == 2  # both overrides
    assert by_name["bee_robot_0"]["seconds"] == 10 and "num" not in by_name["bee_robot_0"]
    assert by_name["a_hero_0"]["seconds"] == 20 and "map" not in by_name["a_hero_0"]
    assert by_name["a_hero_0"]["render"] == str((tmp_path / "out/a_hero_0.mp4").resolve())
    command = jobs[1].command()
    assert command[command.index("--seed") + 1] == "7" and "--no-beat-sync" in command
    assert "--render-with" not in command
    scene = read_manifest(write(tmp_path, {**PRODUCTION, "defaults": {"render_with": "scene"}}))
    command = scene[0].command()
    assert command[command.index("--render-with") + 1] == "scene"


def test_pairs_choose_among_the_songs_and_characters_and_listed_jobs_come_first(tmp_path):
    document = {**PRODUCTION, "pairs": [["bee", "rigs/hero.blend"], ["a", "robot"]],
                "seeds": [3], "jobs": [{"song": "x.ogg", "output": "x.blend"}]}
    jobs = read_manifest(write(tmp_path, document))
    assert [job.name for job in jobs] == ["x", "bee_hero_3", "a_robot_3"]
    assert jobs[0].labels is None and jobs[1].labels == ("bee", "hero", 3)


def test_without_characters_the_default_dancer_and_the_defaults_seed(tmp_path):
    jobs = read_manifest(write(tmp_path, {"defaults": {"seed": 4}, "songs": ["a.ogg"],
                                          "output": "{index}-{song}-{character}-{seed}.blend"}))
    assert [job.name for job in jobs] == ["1-a-dancer-4"]
    assert "character" not in jobs[0].settings


@pytest.mark.parametrize("change, message", [
    ({"output": None}, 'need an "output" naming template'),
    ({"output": "out/{song}_{take}.blend"}, "unknown field(s) take"),
    ({"output": "out/{song}_{character}.blend"}, "put {seed}"),
    ({"seeds": [0, "one"]}, "seeds must be a non-empty list of whole numbers"),
    ({"songs": ["a.mp3", "other/a.mp3"]}, "the name 'a' is taken"),
    ({"songs": [{"path": "a.mp3", "tempo": 3}]}, "songs entry 1: unknown setting(s) tempo"),
    ({"pairs": [["a", "nobody"]]}, "pair 1: no character named 'nobody'"),
    ({"overrides": [{"where": {"mood": "sad"}, "set": {}}]}, "not mood"),
    ({"overrides": [{"where": {"song": "a"}, "set": {"speed": 2}}]},
     "unknown setting(s) speed"),
    ({"take": 1}, "unknown key(s) take"),
    ({"defaults": {"render_with": "cycles"}}, "render_with must be preview or scene"),
])
def test_mistakes_are_one_line_naming_the_manifest(tmp_path, change, message):
    document = {**PRODUCTION, **change}
    document = {key: value for key, value in document.items() if value is not None}
    with pytest.raises(InputFileError) as error:
        read_manifest(write(tmp_path, document))
    text = str(error.value)
    assert message in text and "jobs.json" in text and "\n" not in text


def test_dry_run_lists_the_expanded_jobs_and_which_would_be_skipped(tmp_path, capsys):
    path = write(tmp_path, PRODUCTION)
    done = tmp_path / "out"
    done.mkdir()
    (done / "a_hero_0.blend").write_bytes(b"")
    (done / "a_hero_0.mp4").write_bytes(b"")
    assert main(["batch", path, "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["#", "job", "song", "character", "seed", "would"]
    rows = {line.split()[1]: line.split() for line in out[1:9]}
    assert rows["a_hero_0"][5] == "skip" and rows["bee_robot_7"][5] == "run"
    assert rows["bee_robot_7"][2:5] == ["b.mp3", "robot.glb", "7"]
    assert out[-1] == "8 jobs: 7 would run, 1 would be skipped (outputs exist)"
    assert not (done / "bee_robot_7.log").exists()  # nothing ran
