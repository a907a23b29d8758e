"""A whole groove from a seed: style, tempo, key, sounds and arrangement, then the mix.

Everything random is drawn from one `numpy.random.default_rng(seed)`, so a seed (plus the
length and sample rate) names one song exactly; the recipe can regenerate its training
music from the seeds in its manifest instead of shipping audio. The intended beat times are
returned with the audio: the beat tracker's answer can be checked against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import voices
from .styles import MAJOR, MINOR, PROGRESSIONS, STYLES, Style, styles_for

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
VELOCITY = {"X": 1.0, "x": 0.75, "g": 0.32}
GAINS = {"kick": 0.95, "snare": 0.5, "clap": 0.45, "hat": 0.16, "open_hat": 0.07,
         "shaker": 0.1, "rim": 0.28, "clave": 0.15, "cowbell": 0.2, "conga_hi": 0.2,
         "conga_lo": 0.22, "bass": 0.5, "chords": 0.17, "pad": 0.08, "arp": 0.16}
SECTION_BARS = 8
INTRO_BARS = 2
BREAK_BARS = 2  # every other section ends with a break: no kick and no bass


@dataclass(frozen=True, eq=False)
class SynthSong:
    """Mono audio in [-1, 1] with what was intended: tempo, beats, style, key."""

    waveform: np.ndarray
    sample_rate: int
    seed: int
    style: str
    tempo: float
    beats_per_bar: int
    swing: float
    key: str
    beat_times: np.ndarray  # seconds

    @property
    def duration(self) -> float:
        return self.waveform.size / self.sample_rate

    def facts(self) -> dict[str, Any]:
        """Plain JSON facts for manifests and motion metadata."""
        return {"generator": "dancerev_core.recipe.synth", "seed": self.seed, "style": self.style,
                "tempo": round(self.tempo, 3), "beats_per_bar": self.beats_per_bar,
                "swing": round(self.swing, 3), "key": self.key,
                "seconds": round(self.duration, 3), "sample_rate": self.sample_rate}


def render_song(seed: int, seconds: float, sample_rate: int = 22_050,
                style: str | None = None, genre: str | None = None,
                tempo: float | None = None) -> SynthSong:
    """Render `seconds` of music; `style`/`tempo` fixed or drawn (from `genre`'s styles)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    rng = np.random.default_rng(seed)
    chosen = STYLES[style] if style else styles_for(genre)[rng.integers(len(styles_for(genre)))]
    bpm = float(tempo) if tempo else round(float(rng.uniform(*chosen.tempo)), 1)
    plan = _plan(chosen, bpm, rng)
    total = int(round(seconds * sample_rate))
    mix = np.zeros(total + sample_rate * 3)
    beat = 60.0 / bpm
    bar_seconds = beat * chosen.beats_per_bar
    bars = int(np.ceil(seconds / bar_seconds))
    sounds = _drum_kit(rng, sample_rate, plan)
    notes: dict[tuple, np.ndarray] = {}
    for bar in range(bars):
        layers = _layers(bar, bars)
        chord = plan["progression"][bar % len(plan["progression"])]
        fill = bar % SECTION_BARS == SECTION_BARS - 1 and "drums" in layers
        _drum_bar(mix, bar, bar_seconds, chosen, plan, sounds, layers, fill, rng, sample_rate)
        _tonal_bar(mix, bar, bar_seconds, chosen, plan, chord, layers, notes, rng, sample_rate)
    song = _master(mix[:total], sample_rate)
    beat_times = np.arange(0.0, seconds, beat)
    return SynthSong(waveform=song.astype(np.float32), sample_rate=sample_rate, seed=seed,
                     style=chosen.name, tempo=bpm, beats_per_bar=chosen.beats_per_bar,
                     swing=plan["swing"], key=f"{NOTE_NAMES[plan['root'] % 12]} "
                                              f"{plan['mode']}",
                     beat_times=beat_times)


# ---------------------------------------------------------------------- choices
def _pick(rng: np.random.Generator, options: tuple) -> Any:
    return options[int(rng.integers(len(options)))]


def _plan(style: Style, bpm: float, rng: np.random.Generator) -> dict[str, Any]:
    """Every random choice of the song except per-note humanisation."""
    mode = _pick(rng, style.modes)
    return {
        "mode": mode, "scale": MAJOR if mode == "major" else MINOR,
        "root": int(rng.integers(12)), "progression": _pick(rng, PROGRESSIONS[mode]),
        "swing": float(rng.uniform(*style.swing)), "bass": _pick(rng, style.bass),
        "chords": _pick(rng, style.chords), "chord_voice": _pick(rng, style.chord_voices),
        "bass_shape": _pick(rng, style.bass_shapes),
        "bass_brightness": float(rng.uniform(2.5, 9.0)),
        "kick_pitch": float(rng.uniform(45.0, 62.0)), "kick_decay": float(rng.uniform(0.18, 0.4)),
        "snare_tone": float(rng.uniform(160.0, 240.0)),
        "snare_bright": float(rng.uniform(3500.0, 7000.0)),
        "hat_bright": float(rng.uniform(5000.0, 8000.0)),
        "pad_warmth": float(rng.uniform(3.0, 8.0)), "arp_octave": int(rng.integers(1, 3)),
    }


def _layers(bar: int, bars: int) -> set[str]:
    """Which parts play in a bar: a short intro, full sections, breaks that drop the kick."""
    if bar < INTRO_BARS and bars > 2 * INTRO_BARS:
        return {"drums", "hats", "chords"}
    section = (bar - INTRO_BARS) // SECTION_BARS
    in_section = (bar - INTRO_BARS) % SECTION_BARS
    layers = {"drums", "kick", "hats", "bass", "chords", "pad"}
    if section % 2 == 1:
        layers.add("arp")
        if in_section >= SECTION_BARS - BREAK_BARS:
            layers -= {"kick", "bass"}
    return layers


# ---------------------------------------------------------------------- drums
def _drum_kit(rng: np.random.Generator, sample_rate: int,
              plan: dict[str, Any]) -> dict[str, list[np.ndarray]]:
    """Three takes of every drum, so repeated hits are not identical copies."""
    def takes(make):
        return [make() for _ in range(3)]

    return {
        "kick": takes(lambda: voices.kick(sample_rate, plan["kick_pitch"], plan["kick_decay"],
                                          0.6, rng)),
        "snare": takes(lambda: voices.snare(rng, sample_rate, plan["snare_tone"],
                                            brightness=plan["snare_bright"])),
        "clap": takes(lambda: voices.clap(rng, sample_rate)),
        "hat": takes(lambda: voices.hat(rng, sample_rate, 0.035, plan["hat_bright"])),
        "open_hat": takes(lambda: voices.hat(rng, sample_rate, 0.16, plan["hat_bright"])),
        "shaker": takes(lambda: voices.hat(rng, sample_rate, 0.05, 5500.0)),
        "rim": takes(lambda: voices.block(sample_rate, 1100.0, 0.025)),
        "clave": takes(lambda: voices.block(sample_rate, 2400.0, 0.04)),
        "cowbell": takes(lambda: voices.block(sample_rate, 800.0, 0.06)),
        "conga_hi": takes(lambda: voices.conga(sample_rate, 290.0, 0.12)),
        "conga_lo": takes(lambda: voices.conga(sample_rate, 195.0, 0.18)),
    }


def _step_time(bar: int, step: int, bar_seconds: float, style: Style, swing: float) -> float:
    step_seconds = bar_seconds / style.steps_per_bar
    late = swing * step_seconds if step % 2 == 1 and style.steps_per_beat % 2 == 0 else 0.0
    return bar * bar_seconds + step * step_seconds + late


def _add(mix: np.ndarray, sound: np.ndarray, seconds: float, gain: float,
         sample_rate: int) -> None:
    start = int(round(seconds * sample_rate))
    if start < 0 or start >= mix.size:
        return
    end = min(mix.size, start + sound.size)
    mix[start:end] += gain * sound[:end - start]


def _drum_bar(mix: np.ndarray, bar: int, bar_seconds: float, style: Style,
              plan: dict[str, Any], sounds: dict[str, list[np.ndarray]], layers: set[str],
              fill: bool, rng: np.random.Generator, sample_rate: int) -> None:
    if "drums" not in layers:
        return
    for voice, pattern in style.drums.items():
        if voice == "kick" and "kick" not in layers:
            continue
        if voice != "kick" and "hats" not in layers and voice not in ("hat", "shaker"):
            continue
        for step, mark in enumerate(pattern):
            if mark not in VELOCITY:
                continue
            jitter = rng.normal(0.0, 0.002)
            velocity = VELOCITY[mark] * rng.uniform(0.88, 1.0)
            sound = sounds[voice][int(rng.integers(3))]
            _add(mix, sound, _step_time(bar, step, bar_seconds, style, plan["swing"]) + jitter,
                 GAINS[voice] * velocity, sample_rate)
    if fill:  # a snare run over the last beat leads into the next section
        voice = "snare" if "snare" in style.drums else "conga_hi"
        last_beat = style.steps_per_bar - style.steps_per_beat
        for step in range(last_beat, style.steps_per_bar):
            velocity = 0.4 + 0.5 * (step - last_beat) / style.steps_per_beat
            _add(mix, sounds[voice][step % 3],
                 _step_time(bar, step, bar_seconds, style, plan["swing"]),
                 GAINS[voice] * velocity, sample_rate)


# ---------------------------------------------------------------------- bass and chords
def _chord_notes(plan: dict[str, Any], degree: int) -> list[int]:
    """A close-voiced triad (MIDI numbers around middle C) on a scale degree."""
    scale = plan["scale"]
    notes = []
    for offset in (0, 2, 4):
        index = degree + offset
        notes.append(plan["root"] + scale[index % 7] + 12 * (index // 7))
    base = 55 + (notes[0] - 55) % 12
    return [base + (n - notes[0]) for n in notes]


def _runs(pattern: str) -> list[tuple[int, str, int]]:
    """(step, mark, length in steps) of each note: a mark plus the '-' that hold it on."""
    runs = []
    for step, mark in enumerate(pattern):
        if mark in ".-":
            continue
        length = 1
        while step + length < len(pattern) and pattern[step + length] == "-":
            length += 1
        runs.append((step, mark, length))
    return runs


def _note(notes: dict[tuple, np.ndarray], key: tuple, make) -> np.ndarray:
    if key not in notes:
        notes[key] = make()
    return notes[key]


def _tonal_bar(mix: np.ndarray, bar: int, bar_seconds: float, style: Style,
               plan: dict[str, Any], degree: int, layers: set[str],
               notes: dict[tuple, np.ndarray], rng: np.random.Generator,
               sample_rate: int) -> None:
    chord = _chord_notes(plan, degree)
    step_seconds = bar_seconds / style.steps_per_bar
    swing = plan["swing"]
    if "bass" in layers:
        bass_root = 36 + (chord[0] - 36) % 12
        intervals = {"r": 0, "3": chord[1] - chord[0], "5": chord[2] - chord[0], "o": 12}
        for step, mark, length in _runs(plan["bass"]):
            pitch = bass_root + intervals[mark]
            seconds = length * step_seconds * 0.92
            sound = _note(notes, ("bass", pitch, length), lambda p=pitch, s=seconds: voices.bass(
                voices.midi_hz(p), s, sample_rate, plan["bass_shape"], plan["bass_brightness"]))
            _add(mix, sound, _step_time(bar, step, bar_seconds, style, swing),
                 GAINS["bass"] * rng.uniform(0.85, 1.0), sample_rate)
    if "chords" in layers:
        voice = voices.TONAL[plan["chord_voice"]]
        for step, _mark, length in _runs(plan["chords"]):
            seconds = length * step_seconds * 0.9
            for pitch in chord:
                sound = _note(notes, ("chord", pitch, length),
                              lambda p=pitch, s=seconds: voice(voices.midi_hz(p), s, sample_rate))
                _add(mix, sound, _step_time(bar, step, bar_seconds, style, swing)
                     + rng.normal(0.0, 0.003), GAINS["chords"] * rng.uniform(0.8, 1.0),
                     sample_rate)
    if style.pad and "pad" in layers:
        for pitch in chord:
            sound = _note(notes, ("pad", pitch), lambda p=pitch: voices.pad(
                voices.midi_hz(p - 12), bar_seconds, sample_rate, plan["pad_warmth"], 0.02))
            _add(mix, sound, bar * bar_seconds, GAINS["pad"], sample_rate)
    if style.arp and "arp" in layers:
        tones = chord + [chord[0] + 12]
        for count, (step, _mark, _length) in enumerate(_runs(style.arp)):
            pitch = tones[count % len(tones)] + 12 * (plan["arp_octave"] - 1)
            sound = _note(notes, ("arp", pitch), lambda p=pitch: voices.pluck(
                voices.midi_hz(p), 2 * step_seconds, sample_rate))
            _add(mix, sound, _step_time(bar, step, bar_seconds, style, swing),
                 GAINS["arp"] * rng.uniform(0.7, 1.0), sample_rate)


def _master(mix: np.ndarray, sample_rate: int) -> np.ndarray:
    """Remove DC, soft-limit, fade the ends and leave 1 dB of headroom."""
    mix = mix - mix.mean()
    peak = np.abs(mix).max()
    if peak > 0:
        mix = np.tanh(1.6 * mix / peak) / np.tanh(1.6)
    fade = min(mix.size // 4, int(0.01 * sample_rate)), min(mix.size // 4, int(1.5 * sample_rate))
    if fade[0]:
        mix[:fade[0]] *= np.linspace(0.0, 1.0, fade[0])
    if fade[1]:
        mix[-fade[1]:] *= np.linspace(1.0, 0.0, fade[1]) ** 2
    return 0.89 * mix
