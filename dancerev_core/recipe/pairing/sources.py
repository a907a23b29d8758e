"""What the recipe reads: motion capture and songs whose licences allow shipping a model.

Motion: BVH files under the mocap folder, one folder per CMU subject. Songs: audio files
under the music folder, each with a `.txt` attribution beside it; a song without one is
skipped, because a model trained on it could not say where its data came from.

The held-out split is fixed by name (so it is the same on every machine and in every
build): one real song and one recorded trial per subject never reach the training folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...formats.paired_dataset import AUDIO_SUFFIXES

CMU_LICENCE = "CMU Graphics Lab Motion Capture Database: free for research and commercial use"
CMU_CREDIT = ("The data used in this project was obtained from mocap.cs.cmu.edu. The database "
              "was created with funding from NSF EIA-0196217.")
# Known CMU subjects: (dance genre, role). Unknown subject folders take their folder name.
SUBJECTS = {"05": ("ballet", "solo: modern dance / ballet phrases"),
            "60": ("salsa", "lead of a salsa couple"),
            "61": ("salsa", "follow of a salsa couple")}
# Songs by a distinctive part of their file name -> the dance genres they accompany.
SONG_GENRES = {"sugar_plum": ("ballet",), "vibe_ace": ("salsa",),
               "lets_go_fishin": ("salsa", "ballet"), "hungarian_dance": ("ballet", "salsa")}
HELD_OUT_SONGS = ("hungarian_dance",)
# One trial per subject; 60_15 and 61_15 are the two partners of the same dance, so holding
# out only one of them would leak the other's timing into training.
HELD_OUT_MOTIONS = ("005_20", "60_15", "61_15")


@dataclass(frozen=True)
class MotionSource:
    clip_id: str  # "005_01", "60_03" (the file stem without "_scaled")
    path: Path
    subject: str
    genre: str
    role: str
    held_out: bool

    def facts(self) -> dict:
        return {"id": self.clip_id, "file": f"{self.subject}/{self.path.name}",
                "subject": self.subject, "genre": self.genre, "role": self.role,
                "licence": CMU_LICENCE, "credit": CMU_CREDIT}


@dataclass(frozen=True)
class SongSource:
    song_id: str  # file stem
    path: Path
    genres: tuple[str, ...]
    licence: str
    attribution: str
    held_out: bool

    def facts(self) -> dict:
        return {"id": self.song_id, "file": self.path.name, "genres": list(self.genres),
                "licence": self.licence, "attribution": self.attribution}


def find_motions(mocap_dir: str | Path) -> list[MotionSource]:
    """Every BVH file under `mocap_dir`, sorted, with its subject, genre and split."""
    root = Path(mocap_dir)
    sources = []
    for path in sorted(root.rglob("*.bvh")):
        subject = path.parent.name
        genre, role = SUBJECTS.get(subject, (subject, "unknown"))
        clip_id = path.stem.removesuffix("_scaled")
        sources.append(MotionSource(clip_id, path, subject, genre, role,
                                    held_out=clip_id in HELD_OUT_MOTIONS))
    return sources


def find_songs(music_dir: str | Path, genres: tuple[str, ...]) -> tuple[list[SongSource],
                                                                         list[str]]:
    """Songs with an attribution file, and notes on the ones skipped.

    The held-out song is the one named in HELD_OUT_SONGS; when none is present, the shortest
    song is held out instead (by file size), so evaluation always has a song never trained on.
    """
    root = Path(music_dir)
    songs, notes = [], []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        attribution_path = _attribution_file(path)
        if attribution_path is None:
            notes.append(f"{path.name}: skipped, no attribution file beside it "
                         f"({path.name.split('.')[0]}.txt; its licence is unknown)")
            continue
        attribution = " ".join(attribution_path.read_text(encoding="utf-8").split())
        key = _song_key(path.stem)
        song_genres = next((g for name, g in SONG_GENRES.items() if name in key), genres)
        songs.append(SongSource(path.stem, path, tuple(song_genres), _licence(attribution),
                                attribution, held_out=any(n in key for n in HELD_OUT_SONGS)))
    if len(songs) > 1 and not any(song.held_out for song in songs):
        shortest = min(songs, key=lambda song: song.path.stat().st_size)
        songs = [SongSource(s.song_id, s.path, s.genres, s.licence, s.attribution,
                            held_out=s is shortest) for s in songs]
        notes.append(f"{shortest.path.name}: held out for evaluation (no song named "
                     f"{', '.join(HELD_OUT_SONGS)} found)")
    return songs, notes


def _attribution_file(song: Path) -> Path | None:
    """`NAME.txt` beside `NAME.hq.ogg` (or `NAME.hq.txt`, or `NAME.ogg.txt`)."""
    name = song.name
    candidates = [song.with_suffix(".txt"), song.parent / f"{name}.txt"]
    while "." in name:
        name = name.rsplit(".", 1)[0]
        candidates.append(song.parent / f"{name}.txt")
    return next((path for path in candidates if path.is_file()), None)


def _song_key(stem: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", stem.lower())


def _licence(attribution: str) -> str:
    text = attribution.lower()
    if "public domain" in text or "publicdomain" in text:
        return "Public domain"
    match = re.search(r"licenses/([a-z-]+)/(\d\.\d)", text)
    if match:
        return f"CC {match.group(1).upper().replace('-', ' ')} {match.group(2)}"
    if "creative commons" in text or "cc-by" in text:
        return "CC BY"
    return "see attribution"
