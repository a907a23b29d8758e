"""The grooves the synthesiser knows: one bar of steps per instrument, tempo and feel.

A pattern is one bar of characters, one per step (`steps_per_beat` steps per beat):
  drums   '.' rest, 'X' accent, 'x' hit, 'g' ghost note
  bass    '.' rest, 'r' chord root, '3' third, '5' fifth, 'o' octave; '-' holds the note on
  chords  '.' rest, 'x' chord, '-' holds it on
  arp     '.' rest, 'x' next chord tone going up
Each style says which dance genres of the recipe it accompanies (ballet phrases want waltzes
and ballads more than house), so the music carries the genre the way the paper's data does.
"""

from __future__ import annotations

from dataclasses import dataclass

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Chord progressions as scale degrees (0 = tonic), one chord per bar.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (1, 4, 0, 0),
              (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4)),
}


@dataclass(frozen=True)
class Style:
    name: str
    genres: tuple[str, ...]
    tempo: tuple[float, float]  # quarter-note beats per minute
    beats_per_bar: int
    steps_per_beat: int
    drums: dict[str, str]
    bass: tuple[str, ...]
    chords: tuple[str, ...]
    chord_voices: tuple[str, ...]
    arp: str = ""
    swing: tuple[float, float] = (0.0, 0.0)  # share of a step that off-steps are late
    modes: tuple[str, ...] = ("major", "minor")
    bass_shapes: tuple[str, ...] = ("saw", "square", "round")
    pad: bool = False

    @property
    def steps_per_bar(self) -> int:
        return self.beats_per_bar * self.steps_per_beat

    def __post_init__(self) -> None:
        for name, pattern in [*self.drums.items(),
                              *(("bass", p) for p in self.bass),
                              *(("chords", p) for p in self.chords), ("arp", self.arp)]:
            if pattern and len(pattern) != self.steps_per_bar:
                raise ValueError(f"style {self.name}: {name} pattern {pattern!r} is not "
                                 f"{self.steps_per_bar} steps long")


STYLES: dict[str, Style] = {style.name: style for style in (
    Style("house", ("salsa",), (112.0, 128.0), 4, 4,
          {"kick": "X...X...X...X...", "clap": "....x.......x...",
           "hat": "x.g.x.g.x.g.x.g.", "open_hat": "..x...x...x...x."},
          bass=("..r-..r-..r-..o-", "..r...r...r.5.r."),
          chords=("x--.......x--...", "...x..x....x..x."), chord_voices=("organ", "epiano"),
          swing=(0.0, 0.06), pad=True),
    Style("pop", ("salsa", "ballet"), (88.0, 132.0), 4, 4,
          {"kick": "X.....x.X.......", "snare": "....X.......X...",
           "hat": "x.x.x.x.x.x.x.x."},
          bass=("r.....r.r...5...", "r-..r-..r-..5-.."),
          chords=("x---x---x---x---", "x-------x-------", "x--x--x-x--x--x-"),
          chord_voices=("epiano", "pluck", "pad"), arp="x.x.x.x.x.x.x.x."),
    Style("funk", ("salsa",), (92.0, 116.0), 4, 4,
          {"kick": "X.........X.....", "snare": "....X.......X.g.",
           "hat": "XgxgXgxgXgxgXgxg"},
          bass=("r..r..o.r.5.r.3.", "r-.r..5.o..r.5.3"),
          chords=("..x...x..x....x.", ".x..x.x..x..x.x."), chord_voices=("epiano", "organ"),
          swing=(0.04, 0.18)),
    Style("hiphop", ("salsa",), (78.0, 100.0), 4, 4,
          {"kick": "X.....x..xX.....", "snare": "....X.......X...",
           "hat": "x.x.x.x.x.x.x.x."},
          bass=("r-----r..r-.....", "r-----..r-..5-.."),
          chords=("x-------x-------",), chord_voices=("epiano", "pad"),
          swing=(0.1, 0.28), modes=("minor",)),
    Style("latin", ("salsa",), (92.0, 132.0), 4, 4,
          {"clave": "x..x..x...x.x...", "conga_hi": "..x...x...x...x.",
           "conga_lo": "......x.......x.", "cowbell": "X...X...X...X...",
           "kick": "X..x....X..x....", "shaker": "XgxgXgxgXgxgXgxg"},
          bass=("...r..5....r..5.", "r..r..5...r..5.."),
          chords=("x.xx.x.xx.x.x.x.", "x.x..x.x.x..x.x."), chord_voices=("pluck", "epiano")),
    Style("shuffle", ("salsa",), (90.0, 126.0), 4, 3,
          {"kick": "X.....X.....", "snare": "...X.....X..", "hat": "X.gX.gX.gX.g"},
          bass=("r.r5.5o.o5.5", "r.3r.35.53.5"),
          chords=("..x..x..x..x", "x-.x-.x-.x-."), chord_voices=("organ", "epiano")),
    Style("waltz", ("ballet",), (84.0, 150.0), 3, 2,
          {"kick": "X.....", "hat": "..g.g.", "rim": "..x.x."},
          bass=("r-----", "r---5-"),
          chords=("..x-x-", "x-x-x-"), chord_voices=("pluck", "epiano"),
          arp="x.x.x.", pad=True, modes=("major", "minor"), bass_shapes=("round",)),
    Style("ballad", ("ballet",), (70.0, 92.0), 4, 4,
          {"kick": "X.......x.......", "rim": "....x.......x...",
           "shaker": "x.g.x.g.x.g.x.g."},
          bass=("r-------5-------", "r-------r---3---"),
          chords=("x---------------", "x-------x-------"), chord_voices=("epiano", "pluck"),
          arp="x.x.x.x.x.x.x.x.", pad=True, bass_shapes=("round",)),
    Style("polka", ("ballet",), (100.0, 140.0), 2, 4,
          {"kick": "X...X...", "snare": "x...x...", "hat": "..x...x."},
          bass=("r...5...", "r...o..."),
          chords=("..x-..x-",), chord_voices=("organ", "pluck"), arp="x.x.x.x.",
          modes=("major",), bass_shapes=("round", "square")),
)}


def styles_for(genre: str | None) -> tuple[Style, ...]:
    """The styles that accompany a dance genre (all styles for None or an unknown genre)."""
    chosen = tuple(s for s in STYLES.values() if genre in s.genres)
    return chosen or tuple(STYLES.values())
