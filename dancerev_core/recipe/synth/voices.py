"""Instrument voices: each returns one note or hit as a float64 array at `sample_rate`.

Plain numpy (no scipy), so the synthesiser also runs in Blender's own Python. Noise is
shaped in the frequency domain (one FFT per hit, rendered once per song and reused), tones
are additive (band-limited by construction, so no aliasing at any sample rate) and
envelopes are exponential decays, which is what makes a hit sound struck rather than switched.
"""

from __future__ import annotations

import numpy as np

TAU = 2.0 * np.pi


def midi_hz(note: float) -> float:
    """Equal-tempered frequency of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _time(seconds: float, sample_rate: int) -> np.ndarray:
    return np.arange(max(1, int(round(seconds * sample_rate)))) / sample_rate


def _fade(signal: np.ndarray, sample_rate: int, seconds: float = 0.004) -> np.ndarray:
    """Short linear fade in/out so that no note starts or stops with a click."""
    n = min(len(signal) // 2, max(1, int(seconds * sample_rate)))
    ramp = np.linspace(0.0, 1.0, n)
    signal = signal.copy()
    signal[:n] *= ramp
    signal[-n:] *= ramp[::-1]
    return signal


def shaped_noise(rng: np.random.Generator, seconds: float, sample_rate: int,
                 low_hz: float, high_hz: float) -> np.ndarray:
    """White noise band-passed between `low_hz` and `high_hz` (smooth FFT-domain edges)."""
    n = max(8, int(round(seconds * sample_rate)))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    high_hz = min(high_hz, 0.45 * sample_rate)
    low_hz = min(low_hz, 0.5 * high_hz)
    gain = 1.0 / (1.0 + (low_hz / np.maximum(freqs, 1e-3)) ** 4)
    gain *= 1.0 / (1.0 + (freqs / high_hz) ** 4)
    noise = np.fft.irfft(spectrum * gain, n)
    return noise / (np.abs(noise).max() + 1e-12)


# ---------------------------------------------------------------------- drums
def kick(sample_rate: int, pitch: float = 52.0, decay: float = 0.28,
         click: float = 0.3, rng: np.random.Generator | None = None) -> np.ndarray:
    """A sine whose pitch falls fast from ~4x to `pitch` Hz: the body of a bass drum."""
    t = _time(decay * 4.0, sample_rate)
    freq = pitch * (1.0 + 3.0 * np.exp(-t / 0.025))
    body = np.sin(TAU * np.cumsum(freq) / sample_rate) * np.exp(-t / decay)
    if click > 0 and rng is not None:
        burst = shaped_noise(rng, 0.02, sample_rate, 800.0, 7000.0)
        body[:burst.size] += click * burst * np.exp(-np.arange(burst.size) / (0.004 * sample_rate))
    return _fade(np.tanh(1.5 * body), sample_rate)


def snare(rng: np.random.Generator, sample_rate: int, tone: float = 190.0,
          decay: float = 0.13, brightness: float = 5000.0) -> np.ndarray:
    """A short tone (the shell) under band-passed noise (the wires)."""
    t = _time(decay * 4.0, sample_rate)
    shell = 0.5 * np.sin(TAU * tone * t) * np.exp(-t / 0.04)
    wires = shaped_noise(rng, t[-1] + 1 / sample_rate, sample_rate, 900.0, brightness)
    return _fade(shell + 0.8 * wires[:t.size] * np.exp(-t / decay), sample_rate)


def clap(rng: np.random.Generator, sample_rate: int, decay: float = 0.12) -> np.ndarray:
    """Three quick noise bursts and a tail: hands clapping slightly out of sync."""
    t = _time(decay * 4.0 + 0.03, sample_rate)
    noise = shaped_noise(rng, t[-1] + 1 / sample_rate, sample_rate, 800.0, 3500.0)[:t.size]
    envelope = np.zeros_like(t)
    for start in (0.0, 0.011, 0.022):
        late = t >= start
        envelope[late] += np.exp(-(t[late] - start) / (0.006 if start < 0.02 else decay))
    return _fade(noise * envelope, sample_rate)


def hat(rng: np.random.Generator, sample_rate: int, decay: float = 0.04,
        brightness: float = 9000.0) -> np.ndarray:
    """High-passed noise with a fast decay (closed) or a longer one (open)."""
    t = _time(decay * 5.0, sample_rate)
    noise = shaped_noise(rng, t[-1] + 1 / sample_rate, sample_rate, 0.6 * brightness,
                         1.6 * brightness)[:t.size]
    return _fade(noise * np.exp(-t / decay), sample_rate)


def block(sample_rate: int, pitch: float = 1700.0, decay: float = 0.03) -> np.ndarray:
    """A woodblock or clave: two inharmonic sines with a very short decay."""
    t = _time(decay * 5.0, sample_rate)
    tone = np.sin(TAU * pitch * t) + 0.4 * np.sin(TAU * pitch * 2.76 * t)
    return _fade(tone * np.exp(-t / decay), sample_rate)


def conga(sample_rate: int, pitch: float = 210.0, decay: float = 0.16) -> np.ndarray:
    """A hand drum: a sine with a slight downward pitch bend and an overtone."""
    t = _time(decay * 4.0, sample_rate)
    freq = pitch * (1.0 + 0.25 * np.exp(-t / 0.015))
    phase = TAU * np.cumsum(freq) / sample_rate
    tone = np.sin(phase) + 0.3 * np.sin(1.5 * phase) * np.exp(-t / 0.04)
    return _fade(tone * np.exp(-t / decay), sample_rate)


# ---------------------------------------------------------------------- tones
def _partials(freq: float, sample_rate: int, limit: int) -> np.ndarray:
    """Harmonic numbers 1..n that stay below 0.45 x the sample rate (no aliasing)."""
    top = max(1, min(limit, int(0.45 * sample_rate / max(freq, 1.0))))
    return np.arange(1, top + 1, dtype=np.float64)


def additive(freq: float, seconds: float, sample_rate: int, amplitudes: np.ndarray,
             decays: np.ndarray | None = None, detune: float = 0.0,
             vibrato: float = 0.0) -> np.ndarray:
    """Sum of harmonics k * freq with the given amplitudes (and per-harmonic decays)."""
    t = _time(seconds, sample_rate)
    harmonics = np.arange(1, amplitudes.size + 1, dtype=np.float64)
    phase = TAU * freq * (1.0 + detune) * t
    if vibrato:
        phase = phase + vibrato * np.sin(TAU * 5.5 * t) * np.minimum(t / 0.3, 1.0)
    waves = np.sin(harmonics[:, None] * phase[None, :])
    if decays is not None:
        waves *= np.exp(-t[None, :] / decays[:, None])
    return amplitudes @ waves


def bass(freq: float, seconds: float, sample_rate: int, shape: str = "saw",
         brightness: float = 6.0) -> np.ndarray:
    """A bass note: saw, square or round (mostly fundamental), brightness = harmonics kept."""
    k = _partials(freq, sample_rate, 24)
    if shape == "square":
        amplitudes = np.where(k % 2 == 1, 1.0 / k, 0.0)
    elif shape == "round":
        amplitudes = np.where(k == 1, 1.0, 0.25 / k ** 2)
    else:
        amplitudes = 1.0 / k
    amplitudes = amplitudes * np.exp(-(k - 1) / brightness)
    decays = 0.25 + 0.6 / k  # upper harmonics fade first: a plucked/filtered bass
    tone = additive(freq, seconds, sample_rate, amplitudes, decays)
    t = _time(seconds, sample_rate)
    envelope = np.minimum(t / 0.005, 1.0) * np.exp(-t / 0.9)
    return _fade(tone * envelope / (np.abs(amplitudes).sum() + 1e-9), sample_rate)


def epiano(freq: float, seconds: float, sample_rate: int, index: float = 1.2) -> np.ndarray:
    """An electric piano: FM with a decaying modulation index (bright attack, mellow tail)."""
    t = _time(seconds + 0.25, sample_rate)
    modulation = index * np.exp(-t / 0.25) * np.sin(TAU * freq * t)
    tone = np.sin(TAU * freq * t + modulation) + 0.15 * np.sin(TAU * 4 * freq * t) * np.exp(
        -t / 0.05)
    envelope = np.exp(-t / 1.1) * np.where(t > seconds, np.exp(-(t - seconds) / 0.08), 1.0)
    return _fade(tone * envelope, sample_rate)


def pluck(freq: float, seconds: float, sample_rate: int, brightness: float = 8.0) -> np.ndarray:
    """A plucked string (harp, guitar, pizzicato): high harmonics die faster."""
    k = _partials(freq, sample_rate, 16)
    amplitudes = np.exp(-(k - 1) / brightness) / k ** 0.7
    decays = 0.9 / k ** 0.8
    tone = additive(freq, seconds + 0.3, sample_rate, amplitudes, decays)
    return _fade(tone / amplitudes.sum(), sample_rate)


def pad(freq: float, seconds: float, sample_rate: int, warmth: float = 5.0,
        vibrato: float = 0.0) -> np.ndarray:
    """Strings or a synth pad: two detuned soft saws with a slow attack and release."""
    k = _partials(freq, sample_rate, 12)
    amplitudes = np.exp(-(k - 1) / warmth) / k
    tone = (additive(freq, seconds + 0.4, sample_rate, amplitudes, detune=-0.003,
                     vibrato=vibrato)
            + additive(freq, seconds + 0.4, sample_rate, amplitudes, detune=0.003,
                       vibrato=vibrato))
    t = _time(seconds + 0.4, sample_rate)
    envelope = np.minimum(t / 0.12, 1.0) * np.where(t > seconds,
                                                    np.exp(-(t - seconds) / 0.15), 1.0)
    return _fade(tone * envelope / (2 * amplitudes.sum()), sample_rate)


def organ(freq: float, seconds: float, sample_rate: int) -> np.ndarray:
    """Drawbar organ: sines at 1, 2, 3 and 4 times the pitch, held flat."""
    k = _partials(freq, sample_rate, 4)
    amplitudes = np.array([1.0, 0.6, 0.35, 0.25])[:k.size]
    tone = additive(freq, seconds, sample_rate, amplitudes)
    return _fade(tone / amplitudes.sum(), sample_rate, 0.01)


TONAL = {"epiano": epiano, "pluck": pluck, "pad": pad, "organ": organ}
