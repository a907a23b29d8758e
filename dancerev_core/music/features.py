"""The paper's 438 music features per frame, and the value that carries them.

Recipe (Dance Revolution, ICLR 2021; `docs/paper-notes.md`): mono audio at 15,360 Hz,
librosa defaults n_fft 2048 and hop 512, so 30 feature frames per second. Per frame, in
this order: MFCC (20), MFCC delta (20), chroma of the harmonic part (12), onset envelope of
the percussive part (1), beat one-hot (1), tempogram (384).

Frame alignment: librosa centres its frames, so feature frame k (30 fps) describes the
instant k / 30 s, exactly like motion frame k of a 30 fps motion. The paper's 15 fps streams
are the even frames (instant j / 15 s, aligned with motion frame j at 15 fps) and the odd
frames (instant (2j + 1) / 30 s, for the odd frames of a 30 fps motion).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from ..errors import DanceRevError

SAMPLE_RATE = 15_360
HOP_LENGTH = 512
N_FFT = 2048
FEATURE_FPS = SAMPLE_RATE / HOP_LENGTH  # 30.0
MODEL_FPS = 15.0
FEATURE_BLOCKS: tuple[tuple[str, int], ...] = (
    ("mfcc", 20), ("mfcc_delta", 20), ("chroma", 12), ("onset_envelope", 1), ("beat", 1),
    ("tempogram", 384),
)
NUM_FEATURES = sum(size for _, size in FEATURE_BLOCKS)  # 438
MIN_SECONDS = 0.1  # MFCC delta (width 3) needs three frames


def block_slices() -> dict[str, slice]:
    """Column range of each block in a T x 438 feature matrix."""
    slices, start = {}, 0
    for name, size in FEATURE_BLOCKS:
        slices[name] = slice(start, start + size)
        start += size
    return slices


@dataclass(frozen=True, eq=False)
class MusicFeatures:
    """T x 438 features at `fps` with the song's beats (seconds) and tempo (BPM)."""

    features: np.ndarray
    fps: float
    beat_times: np.ndarray
    tempo: float
    duration: float

    @property
    def num_frames(self) -> int:
        return self.features.shape[0]

    def block(self, name: str) -> np.ndarray:
        return self.features[:, block_slices()[name]]

    def times(self) -> np.ndarray:
        return np.arange(self.num_frames) / self.fps

    def even_odd(self) -> tuple[MusicFeatures, MusicFeatures]:
        """The paper's two half-rate streams: frames 0, 2, 4, ... and 1, 3, 5, ...

        The odd stream's frame j lies at (2j + 1) / fps; its `beat_times` are shifted by
        one source frame so that they stay measured from the stream's own frame 0.
        """
        return self.decimated(0, 2), self.decimated(1, 2)

    def decimated(self, first: int, step: int) -> MusicFeatures:
        """Every `step`-th frame from frame `first`, at fps / step, with no beat lost.

        Plain slicing keeps only the beats and onset peaks that fall on kept frames: half
        of them in the paper's 15 fps streams, so a model trained on those heard a beat
        that came and went at random. Here the beat column is rebuilt from `beat_times`
        (each beat marks its nearest kept frame, the later of two) and the onset envelope
        keeps the largest value within half a step either side. `beat_times` are measured
        from frame `first`.
        """
        if step < 1 or not 0 <= first < max(1, self.num_frames):
            raise DanceRevError(f"cannot take every {step}th feature frame from frame {first} "
                                f"of {self.num_frames}")
        features = self.features[first::step].copy()
        beat_times = np.asarray(self.beat_times, dtype=np.float64) - first / self.fps
        if step > 1:
            from scipy.ndimage import maximum_filter1d

            slices = block_slices()
            onset = slices["onset_envelope"]
            peaks = maximum_filter1d(self.features[:, onset], size=2 * (step // 2) + 1,
                                     axis=0, mode="nearest")
            features[:, onset] = peaks[first::step]
            # In whole source frames: a beat halfway between two kept frames marks the later
            # one, whatever the float noise in its time.
            source = np.rint(np.asarray(self.beat_times) * self.fps).astype(np.int64) - first
            kept = (2 * source + step) // (2 * step)
            column = np.zeros(len(features), dtype=np.float32)
            column[kept[(kept >= 0) & (kept < len(features))]] = 1.0
            features[:, slices["beat"]] = column[:, None]
        return replace(self, features=features, fps=self.fps / step, beat_times=beat_times)

    def resample(self, fps: float) -> MusicFeatures:
        """Features at another frame rate, exact at instants shared with the source rate.

        Continuous blocks are interpolated linearly in time; the beat column is rebuilt from
        `beat_times` (each beat marks the frame nearest to it), so it stays one-hot.
        """
        if not np.isfinite(fps) or fps <= 0:
            raise DanceRevError(f"feature fps must be positive, got {fps}")
        step = Fraction(self.fps).limit_denominator(10_000) / Fraction(fps).limit_denominator(
            10_000)
        count = int((self.num_frames - 1) / step) + 1
        positions = [k * step for k in range(count)]
        lower = np.array([int(u) for u in positions])
        weight = np.array([float(u - int(u)) for u in positions])[:, None]
        upper = np.minimum(lower + 1, self.num_frames - 1)
        source = self.features.astype(np.float64)
        blended = source[lower] * (1.0 - weight) + source[upper] * weight
        exact = weight[:, 0] == 0.0
        blended[exact] = source[lower[exact]]
        blended[:, block_slices()["beat"]] = beat_one_hot(self.beat_times, fps, count)[:, None]
        return replace(self, features=blended.astype(np.float32), fps=float(fps))


def beat_one_hot(beat_times: np.ndarray, fps: float, num_frames: int) -> np.ndarray:
    """1.0 at the frame nearest each beat, 0 elsewhere."""
    column = np.zeros(num_frames, dtype=np.float32)
    frames = np.rint(np.asarray(beat_times) * fps).astype(np.int64)
    column[frames[(frames >= 0) & (frames < num_frames)]] = 1.0
    return column


def check_waveform(waveform: np.ndarray, what: str = "audio") -> np.ndarray:
    """A mono float32 waveform long enough for the recipe, or a one-line error."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise DanceRevError(f"{what}: expected mono samples, got shape {waveform.shape}")
    if waveform.size < MIN_SECONDS * SAMPLE_RATE:
        raise DanceRevError(f"{what}: too short ({waveform.size / SAMPLE_RATE:.3f} s); "
                            f"at least {MIN_SECONDS} s of audio is needed")
    if not np.isfinite(waveform).all():
        raise DanceRevError(f"{what}: samples contain NaN or infinite values")
    return waveform


def extract_reference(waveform: np.ndarray) -> MusicFeatures:
    """The recipe exactly as the paper's code calls librosa: the ground truth for tests.

    `waveform` is mono at `SAMPLE_RATE`. Returns 30 fps features.
    """
    import librosa

    y = check_waveform(waveform)
    sr = SAMPLE_RATE
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)
    mel_db = librosa.power_to_db(mel, ref=np.max)
    mfcc = librosa.feature.mfcc(S=mel_db)
    mfcc_delta = librosa.feature.delta(mfcc, width=3)
    harmonic, percussive = librosa.effects.hpss(y)
    chroma = librosa.feature.chroma_cqt(y=harmonic, sr=sr, hop_length=HOP_LENGTH)
    onset_envelope = librosa.onset.onset_strength(y=percussive, sr=sr, aggregate=np.median,
                                                  hop_length=HOP_LENGTH)
    tempogram = librosa.feature.tempogram(onset_envelope=onset_envelope, sr=sr,
                                          hop_length=HOP_LENGTH)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset_envelope, sr=sr,
                                           hop_length=HOP_LENGTH)
    frames = min(m.shape[-1] for m in (mfcc, chroma, tempogram)
                 + (onset_envelope[None],))
    beat_column = np.zeros(frames, dtype=np.float32)
    beat_column[beats[beats < frames]] = 1.0
    features = np.concatenate([
        mfcc[:, :frames], mfcc_delta[:, :frames], chroma[:, :frames],
        onset_envelope[None, :frames], beat_column[None], tempogram[:, :frames],
    ], axis=0).T.astype(np.float32)
    return MusicFeatures(
        features=np.ascontiguousarray(features),
        fps=FEATURE_FPS,
        beat_times=librosa.frames_to_time(beats, sr=sr, hop_length=HOP_LENGTH),
        tempo=float(np.atleast_1d(tempo)[0]),
        duration=y.size / sr,
    )
