#!/usr/bin/env python3
"""Music-feature speed: the fast path against the librosa reference, in one run.

    bash .ci/with-venv python bench/features.py [SONG ...] [--repeats 5]

Warm: both paths on the same decoded songs in this process (after one untimed call each),
median seconds per minute of music and the ratio. Cold: a fresh Python process that imports
DanceRev, decodes one minute of music and extracts its features (cache bypassed), timed
from outside; median of the repeats, for the fast path and for the reference.
Songs default to the shared data (`../shared/data/music`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dancerev_core.music.audio import load_audio  # noqa: E402
from dancerev_core.music.fast_features import extract_fast  # noqa: E402
from dancerev_core.music.features import SAMPLE_RATE, extract_reference  # noqa: E402

SHARED = Path(os.environ.get("DANCEREV_SHARED_DATA", ROOT.parent / "shared" / "data"))

COLD_SCRIPT = """
import sys
from dancerev_core.music.analysis import analyse_song
analyse_song(sys.argv[1], use_cache=False, reference=sys.argv[2] == "reference")
"""


def median_time(function, *args, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_minute_wav(song: Path, folder: Path) -> Path:
    import soundfile

    waveform = load_audio(song, 44_100, max_seconds=60.0)
    path = folder / "one_minute.wav"
    soundfile.write(path, waveform, 44_100)
    return path


def cold_time(path: Path, mode: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", COLD_SCRIPT, str(path), mode], check=True,
                       cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("songs", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    songs = args.songs or sorted((SHARED / "music").glob("*.ogg"))
    if not songs:
        sys.exit(f"no songs given and none found in {SHARED / 'music'}")

    print(f"warm, median of {args.repeats} runs, seconds per minute of music")
    print(f"{'song':42s} {'minutes':>7s} {'reference':>9s} {'fast':>7s} {'ratio':>6s}")
    ratios, fast_rates = [], []
    for song in songs:
        waveform = load_audio(song, SAMPLE_RATE)
        minutes = waveform.size / SAMPLE_RATE / 60
        extract_reference(waveform)
        extract_fast(waveform)
        reference = median_time(extract_reference, waveform, repeats=args.repeats) / minutes
        fast = median_time(extract_fast, waveform, repeats=args.repeats) / minutes
        ratios.append(reference / fast)
        fast_rates.append(fast)
        print(f"{song.name[:42]:42s} {minutes:7.2f} {reference:9.3f} {fast:7.3f} "
              f"{reference / fast:5.1f}x")
    print(f"median: fast {statistics.median(fast_rates):.3f} s per minute, "
          f"{statistics.median(ratios):.1f}x the reference")

    with tempfile.TemporaryDirectory() as folder:
        path = one_minute_wav(songs[0], Path(folder))
        fast_cold = cold_time(path, "fast", args.repeats)
        reference_cold = cold_time(path, "reference", max(1, args.repeats // 2))
    print(f"cold (fresh process, imports + decode + features, 1 minute of {songs[0].name}): "
          f"fast {fast_cold:.2f} s, reference {reference_cold:.2f} s "
          f"({reference_cold / fast_cold:.1f}x)")


if __name__ == "__main__":
    main()
