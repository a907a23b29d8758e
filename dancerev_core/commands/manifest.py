"""A batch manifest: jobs listed one by one, or songs x characters x seeds for production.

The document is JSON. Besides today's `{"defaults": {...}, "jobs": [{...}, ...]}` (or just the
list) it may hold a production block, expanded into jobs after the listed ones:

    {"defaults": {"seconds": 20},
     "songs": ["songs/a.mp3", {"path": "songs/b.mp3", "name": "b", "start": 30}],
     "characters": ["rigs/hero.blend", {"path": "rigs/robot.glb", "map": "robot.json"}],
     "seeds": [0, 1],
     "output": "out/{song}_{character}_{seed}.blend",
     "render": "out/{song}_{character}_{seed}.mp4",
     "overrides": [{"where": {"song": "b", "character": "robot"}, "set": {"seconds": 10}}]}

- `songs` x `characters` (every pair), or `pairs`: [[song, character], ...] naming entries of
  those lists by name or path; a missing `characters` means DanceRev's own dancer
  ("dancer").
- Each song or character is a path, or an object with `path`, an optional `name` (default:
  the file's stem) and settings of its own (a song's `start`, a character's `map`).
- `seeds`: one job per seed (default: the defaults' seed, else 0).
- `output`, `render`, `bvh`: naming templates with the fields {song}, {character}, {seed} and
  {index} (the job's number); `output` is required.
- `overrides`: applied in order to the jobs whose song, character and seed match every key
  of `where`.
Settings win in this order: defaults, song, character, override. Relative paths start at the
manifest's folder. Every mistake is one line naming the manifest and the place.
"""

from __future__ import annotations

import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import files
from ..errors import InputFileError

PATH_KEYS = ("song", "output", "character", "render", "bvh", "model", "map")
OPTION_KEYS = ("seconds", "start", "seed", "num", "fps", "size", "render_with")
# switches and their defaults: the other value passes --no-KEY (beat_sync) or --KEY (the rest)
FLAG_KEYS = {"beat_sync": True, "nla": False, "in_place": False, "keep_turning": False,
             "loop": False}
OUTPUT_KEYS = ("output", "render", "bvh")
SETTING_KEYS = frozenset(PATH_KEYS + OPTION_KEYS + tuple(FLAG_KEYS))
PRODUCTION_KEYS = ("songs", "characters", "pairs", "seeds", "overrides") + OUTPUT_KEYS
TEMPLATE_FIELDS = ("song", "character", "seed", "index")
DEFAULT_CHARACTER = "dancer"


@dataclass(frozen=True)
class Job:
    number: int
    settings: dict[str, Any]
    labels: tuple[str, str, int] | None = None  # (song, character, seed) of an expanded job

    @property
    def name(self) -> str:
        return Path(self.settings["output"]).stem

    @property
    def outputs(self) -> list[Path]:
        return [Path(self.settings[key]) for key in OUTPUT_KEYS if self.settings.get(key)]

    @property
    def log(self) -> Path:
        return Path(self.settings["output"]).with_suffix(".log")

    def command(self) -> list[str]:
        s = self.settings
        command = [sys.executable, "-m", "dancerev_core", "dance", str(s["song"]), "-o",
                   str(s["output"])]
        for key in PATH_KEYS[2:] + OPTION_KEYS:
            if s.get(key) is not None:
                command += [f"--{key.replace('_', '-')}", str(s[key])]
        for key, default in FLAG_KEYS.items():
            if s.get(key, default) != default:
                command.append(f"--{'no-' if default else ''}{key.replace('_', '-')}")
        return command


def read_manifest(path: str | Path) -> list[Job]:
    """The jobs of a manifest, listed and expanded, checked before any runs."""
    path = Path(path)
    document = files.load_json(path)
    if isinstance(document, list):
        document = {"jobs": document}
    if not isinstance(document, dict):
        raise InputFileError(path, 'expected {"defaults": {...}, "jobs": [{...}, ...]} or '
                                   "songs x characters")
    unknown = sorted(set(document) - {"defaults", "jobs", *PRODUCTION_KEYS})
    if unknown:
        raise InputFileError(path, f"unknown key(s) {', '.join(unknown)} (known: defaults, "
                                   f"jobs, {', '.join(PRODUCTION_KEYS)})")
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise InputFileError(path, "defaults must be a JSON object")
    listed = document.get("jobs", [])
    if not isinstance(listed, list):
        raise InputFileError(path, "jobs must be a list of JSON objects")
    entries: list[tuple[dict[str, Any], tuple[str, str, int] | None]] = []
    for number, entry in enumerate(listed, start=1):
        if not isinstance(entry, dict):
            raise InputFileError(path, f"job {number} is not a JSON object")
        entries.append(({**defaults, **entry}, None))
    if any(key in document for key in PRODUCTION_KEYS):
        entries += expand_production(path, document, defaults, first=len(entries) + 1)
    if not entries:
        raise InputFileError(path, 'expected {"defaults": {...}, "jobs": [{...}, ...]} with '
                                   "at least one job, or songs x characters")
    return checked_jobs(path, entries)


def expand_production(path: Path, document: dict[str, Any], defaults: dict[str, Any],
                      first: int) -> list[tuple[dict[str, Any], tuple[str, str, int]]]:
    """songs x characters (or pairs) x seeds as job settings, named by the templates."""
    songs = named_entries(path, document.get("songs"), "songs", "song", required=True)
    characters = named_entries(path, document.get("characters"), "characters", "character",
                               required=False)
    pairs = chosen_pairs(path, document.get("pairs"), songs, characters)
    seeds = document.get("seeds", [defaults.get("seed", 0)])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise InputFileError(path, "seeds must be a non-empty list of whole numbers")
    templates = {key: document[key] for key in OUTPUT_KEYS if key in document}
    if "output" not in templates:
        raise InputFileError(path, 'songs x characters need an "output" naming template, '
                                   'such as "out/{song}_{character}_{seed}.blend"')
    for key, template in templates.items():
        check_template(path, key, template)
    overrides = checked_overrides(path, document.get("overrides", []))
    jobs = []
    for song, character in pairs:
        for seed in seeds:
            index = first + len(jobs)
            labels = (song["name"], character["name"], seed)
            fields = dict(zip(TEMPLATE_FIELDS, (*labels, index), strict=True))
            settings = {**defaults, **song["settings"], **character["settings"], "seed": seed}
            settings.update({key: template.format(**fields)
                             for key, template in templates.items()})
            for where, changes in overrides:
                if all(fields[key] == value for key, value in where.items()):
                    settings.update(changes)
            jobs.append((settings, labels))
    return jobs


def named_entries(path: Path, value: Any, key: str, setting: str,
                  required: bool) -> list[dict[str, Any]]:
    """A songs or characters list as [{"name", "settings"}]; no characters: the default one."""
    if value is None and not required:
        return [{"name": DEFAULT_CHARACTER, "settings": {}}]
    if not isinstance(value, list) or not value:
        raise InputFileError(path, f"{key} must be a non-empty list of paths or objects")
    entries, names = [], set()
    for number, item in enumerate(value, start=1):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise InputFileError(path, f"{key} entry {number} must be a path or an object "
                                       'with "path"')
        extra = sorted(set(item) - {"path", "name"} - SETTING_KEYS)
        if extra:
            raise InputFileError(path, f"{key} entry {number}: unknown setting(s) "
                                       f"{', '.join(extra)}")
        name = item.get("name", Path(item["path"]).stem)
        if not isinstance(name, str) or not name:
            raise InputFileError(path, f"{key} entry {number}: name must be a non-empty text")
        if name in names:
            raise InputFileError(path, f"{key} entry {number}: the name {name!r} is taken by "
                                       'an earlier entry; give one a "name"')
        names.add(name)
        settings = {k: v for k, v in item.items() if k not in ("path", "name")}
        entries.append({"name": name, "path": item["path"],
                        "settings": {**settings, setting: item["path"]}})
    return entries


def chosen_pairs(path: Path, pairs: Any, songs: list[dict], characters: list[dict]
                 ) -> list[tuple[dict, dict]]:
    """Every song with every character, or the listed [song, character] pairs."""
    if pairs is None:
        return [(song, character) for song in songs for character in characters]
    if not isinstance(pairs, list) or not pairs:
        raise InputFileError(path, "pairs must be a non-empty list of [song, character]")

    def find(entries: list[dict], wanted: Any, what: str, number: int) -> dict:
        for entry in entries:
            if wanted in (entry["name"], entry.get("path")):
                return entry
        raise InputFileError(path, f"pair {number}: no {what} named {wanted!r}")

    chosen = []
    for number, pair in enumerate(pairs, start=1):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputFileError(path, f"pair {number} must be [song, character]")
        chosen.append((find(songs, pair[0], "song", number),
                       find(characters, pair[1], "character", number)))
    return chosen


def check_template(path: Path, key: str, template: Any) -> None:
    if not isinstance(template, str) or not template:
        raise InputFileError(path, f"{key} must be a naming template text")
    try:
        used = [field for _, field, _, _ in string.Formatter().parse(template) if field]
    except ValueError as error:
        raise InputFileError(path, f"{key} template {template!r}: {error}") from None
    unknown = sorted(set(used) - set(TEMPLATE_FIELDS))
    if unknown:
        raise InputFileError(path, f"{key} template {template!r}: unknown field(s) "
                                   f"{', '.join(unknown)} (known: {', '.join(TEMPLATE_FIELDS)})")


def checked_overrides(path: Path, value: Any) -> list[tuple[dict, dict]]:
    if not isinstance(value, list):
        raise InputFileError(path, 'overrides must be a list of {"where": {...}, "set": {...}}')
    overrides = []
    for number, item in enumerate(value, start=1):
        if (not isinstance(item, dict) or set(item) != {"where", "set"}
                or not isinstance(item["where"], dict) or not isinstance(item["set"], dict)):
            raise InputFileError(path, f'override {number} must be {{"where": {{...}}, '
                                       f'"set": {{...}}}}')
        unknown = sorted(set(item["where"]) - {"song", "character", "seed"})
        if unknown:
            raise InputFileError(path, f"override {number}: where can match song, character "
                                       f"and seed, not {', '.join(unknown)}")
        overrides.append((item["where"], item["set"]))
    return overrides


def checked_jobs(path: Path, entries: list[tuple[dict[str, Any], tuple | None]]) -> list[Job]:
    """Every job's settings checked and its paths resolved; one-line errors name the job."""
    jobs, outputs = [], set()
    for number, (settings, labels) in enumerate(entries, start=1):
        unknown = sorted(set(settings) - SETTING_KEYS)
        if unknown:
            raise InputFileError(path, f"job {number}: unknown setting(s) {', '.join(unknown)}")
        for key in FLAG_KEYS:
            if key in settings and not isinstance(settings[key], bool):
                raise InputFileError(path, f"job {number}: {key} must be true or false, got "
                                           f"{settings[key]!r}")
        for key in ("song", "output"):
            if not settings.get(key):
                raise InputFileError(path, f"job {number} has no {key!r}")
        if settings.get("render_with", "preview") not in ("preview", "scene"):
            raise InputFileError(path, f"job {number}: render_with must be preview or scene, "
                                       f"got {settings['render_with']!r}")
        settings = dict(settings)
        for key in PATH_KEYS:
            if settings.get(key):
                settings[key] = str((path.parent / str(settings[key])).resolve())
        if settings["output"] in outputs:
            hint = ("; put {seed} (and {song}, {character}) in the output template"
                    if labels is not None else "")
            raise InputFileError(path, f"job {number} writes {settings['output']} like an "
                                       f"earlier job{hint}")
        outputs.add(settings["output"])
        job = Job(number, settings, labels)
        inputs = [path] + [Path(settings[key]) for key in PATH_KEYS
                           if key not in OUTPUT_KEYS and settings.get(key)]
        for output in (job.log, *job.outputs):  # the log is batch's own write
            files.refuse_overwriting_inputs(output, inputs)
        jobs.append(job)
    return jobs


def dry_run_table(jobs: list[Job], skipped: set[int]) -> str:
    """The expanded jobs, one line each: what would run, and what would be skipped."""
    rows = [("#", "job", "song", "character", "seed", "would", "outputs")]
    for job in jobs:
        s = job.settings
        character = Path(s["character"]).name if s.get("character") else DEFAULT_CHARACTER
        rows.append((str(job.number), job.name, Path(s["song"]).name, character,
                     str(s.get("seed", 0)), "skip" if job.number in skipped else "run",
                     ", ".join(str(p) for p in job.outputs)))
    from ..console import text_table

    return text_table(rows)
