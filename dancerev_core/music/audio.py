"""Decode any audio file to a mono float32 waveform at the rate the features need.

Decoders, both installed with the `ml` extra and imported only when called, so that this
module loads with numpy alone (inside Blender, the add-on decodes with Blender's `aud`):
- soundfile (libsndfile >= 1.1) for what it reads: wav, flac, ogg (vorbis, opus), mp3, aiff,
  au, caf, chosen by the file's first bytes. It is what `librosa.load` uses, so results match
  librosa's;
- PyAV (FFmpeg bundled in its wheel, no system ffmpeg needed) for m4a/aac/mp4 and everything
  else, and as the fallback when soundfile refuses a file or stops decoding it.

The signal is decoded in blocks, each block averaged over channels and fed to a streaming soxr
resampler at `soxr_hq`, librosa's default. Memory therefore stays bounded by the output (mono
at the target rate), never the full-rate multichannel signal. soxr's streaming output is
sample-identical to its one-shot `soxr.resample`, and the length is fixed the same way
(ceil(frames * ratio), zero-padded), so for files soundfile reads the result equals
`librosa.load(path, sr=sample_rate, mono=True)` to the last bit (the tests check this).

Non-finite samples (NaN, inf in float files) are replaced by 0 with one warning per file: one
bad sample should not cost the animator the whole song, and NaN would otherwise spread through
the resampler's filter and every feature after it.

A file cut short is decoded as far as it goes, with one warning: when fewer seconds decode than
the header declares, when the container shows the cut itself (a WAV shorter than its RIFF
size, an Ogg stream without its end-of-stream page: libsndfile reads both as shorter complete
files), or when FFmpeg skips undecodable packets or stops with an error after some audio.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..errors import InputFileError

if TYPE_CHECKING:
    import av
    import soundfile

SOUNDFILE_SIGNATURES = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"riff", b"FORM", b"fLaC", b"OggS",
                        b".snd", b"caff")
"""Starts of the files tried with soundfile first (wav, w64, aiff, flac, ogg, au, caf).

Chosen by content, not by suffix: users rename files, and libsndfile's MPEG reader decodes
an AAC file renamed .mp3 into a tenth of a second of noise instead of refusing it.
"""

BLOCK_FRAMES = 65536
SOXR_QUALITY = "HQ"  # = librosa's default res_type "soxr_hq"
TRUNCATION_WARNING_SECONDS = 1.0
OGG_TAIL_BYTES = 2 * 65536  # holds the last complete Ogg page (at most 65,307 bytes)
PREALLOCATE_SECONDS = 3600.0
UNREADABLE = "not a readable audio file (unknown format, or corrupt or truncated)"
T = TypeVar("T")


class _Refused(Exception):
    """A decoder cannot read the file; carries the one-line problem to show the user."""


@dataclass
class _Source:
    """An open decoder: its blocks are (sample rate, frames x channels float32) pairs."""

    declared_seconds: float | None
    blocks: Iterator[tuple[int, np.ndarray]]
    close: Callable[[], None]
    notes: list[str] = field(default_factory=list)  # how the stream ended badly, once read


def load_audio(path: str | Path, sample_rate: int, *,
               max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 waveform of `path` at `sample_rate`, at most `max_seconds` long.

    Raises InputFileError with a one-line reason for anything that is not decodable audio.
    """
    path = Path(path)
    samples, notes = _load(path, sample_rate, max_seconds)
    for note in notes:
        warnings.warn(f"{path}: {note}", stacklevel=2)
    return samples


def audio_duration(path: str | Path) -> float:
    """Duration in seconds as the file's header declares it, decoding only if it says nothing.

    For a truncated file this is the length it was meant to have, not the decodable part.
    """
    path = Path(path)
    return _first_success(path, _openers(path), _source_seconds)


def _source_seconds(source: _Source) -> float:
    if source.declared_seconds:
        return source.declared_seconds
    return sum(len(block) / rate for rate, block in source.blocks)


def _openers(path: Path) -> tuple[Callable[[Path], _Source], ...]:
    """The decoders to try, in order, for this file's content."""
    head = _head_after_id3(path)
    if head.startswith(SOUNDFILE_SIGNATURES) or _is_mpeg_audio_sync(head):
        return (_soundfile_source, _pyav_source)
    return (_pyav_source,)


def _load(path: Path, sample_rate: int, max_seconds: float | None,
          openers: tuple[Callable[[Path], _Source], ...] | None = None,
          ) -> tuple[np.ndarray, list[str]]:
    """The samples and the warnings for the user (the caller issues them)."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    chosen = _openers(path)  # checks the file before any decoder sees it
    cut = container_cut(path)
    return _first_success(path, openers or chosen,
                          lambda source: _decode(source, sample_rate, max_seconds, cut))


def _first_success(path: Path, openers: tuple[Callable[[Path], _Source], ...],
                   use: Callable[[_Source], T]) -> T:
    """`use` the first decoder that reads the whole file; else raise the last one's reason."""
    problem = UNREADABLE
    for opener in openers:
        try:
            source = opener(path)
        except _Refused as refusal:
            problem = str(refusal)
            continue
        try:
            return use(source)
        except _Refused as refusal:
            problem = str(refusal)
        finally:
            source.close()
    raise InputFileError(path, problem)


def _head_after_id3(path: Path) -> bytes:
    """The file's first bytes after any ID3v2 tags (mp3 and aac files both carry them)."""
    if not path.exists():
        raise InputFileError(path, "file not found")
    if path.is_dir():
        raise InputFileError(path, "is a folder, not an audio file")
    if not path.is_file():
        raise InputFileError(path, "is not a regular file (a pipe or a device?)")
    try:
        with path.open("rb") as file:
            head = file.read(10)
            if not head:
                raise InputFileError(path, "file is empty (0 bytes)")
            while head.startswith(b"ID3") and len(head) == 10:
                size = _syncsafe(head[6:10]) + (10 if head[5] & 0x10 else 0)
                file.seek(size, 1)
                head = file.read(10)
    except OSError as error:
        raise InputFileError(path, f"cannot read: {error.strerror or error}") from None
    return head


def _syncsafe(data: bytes) -> int:
    """ID3's sizes: seven bits per byte, most significant first."""
    value = 0
    for byte in data:
        value = value << 7 | byte & 0x7F
    return value


def _is_mpeg_audio_sync(head: bytes) -> bool:
    """An MPEG audio frame header (11 sync bits, a layer); ADTS AAC has layer bits 00."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _decode(source: _Source, sample_rate: int, max_seconds: float | None,
            cut: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Downmix, clean and resample the source's blocks into one mono array."""
    estimate = min(source.declared_seconds or 60.0, max_seconds or math.inf,
                   PREALLOCATE_SECONDS)  # a corrupt header may claim days
    output = _GrowingArray(math.ceil(estimate * sample_rate) + BLOCK_FRAMES)
    resampler = _StreamResampler(sample_rate, output)
    non_finite = 0
    limited = False
    for rate, block in source.blocks:
        if max_seconds is not None:
            # As librosa: int(seconds * rate) frames (counted per segment if the rate changes).
            allowed = int((max_seconds - resampler.previous_seconds) * rate)
            allowed -= resampler.segment_frames if rate == resampler.input_rate else 0
            limited = len(block) >= allowed
            block = block[:max(allowed, 0)]
        finite = np.isfinite(block)
        if not finite.all():
            non_finite += int(block.size - np.count_nonzero(finite))
            block = np.where(finite, block, np.float32(0))
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
        resampler.feed(rate, mono)
        if limited:
            break
    resampler.finish()
    if output.size == 0:
        raise _Refused("no audio could be decoded (truncated or corrupt file?)")
    ended_badly = cut or next(iter(source.notes), None)
    notes = _notes(non_finite, resampler.previous_seconds, source.declared_seconds, limited,
                   ended_badly)
    return output.result(), notes


def _notes(non_finite: int, decoded: float, declared: float | None, limited: bool,
           cut: str | None = None) -> list[str]:
    notes = []
    if non_finite:
        notes.append(f"replaced {non_finite} non-finite (NaN or infinite) samples with silence")
    if limited:  # the part read ends before any cut
        return notes
    if declared and declared - decoded > TRUNCATION_WARNING_SECONDS:
        notes.append(f"decoded {decoded:.1f} s of the {declared:.1f} s its header declares "
                     "(truncated file?); using the decodable part")
    elif cut:
        notes.append(f"{cut} (truncated file?); using the {decoded:.1f} s that decode")
    return notes


def container_cut(path: Path) -> str | None:
    """What a WAV's or an Ogg's own structure says about the file being cut short, else
    None (other containers declare a length the decoders report, or nothing)."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
            size = file.seek(0, os.SEEK_END)
            if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
                order = "little" if head[:4] == b"RIFF" else "big"
                declared = int.from_bytes(head[4:8], order) + 8
                if size < declared:
                    return f"the file has {size} bytes, its RIFF header declares {declared}"
            elif head[:4] == b"OggS":
                file.seek(max(0, size - OGG_TAIL_BYTES))
                ending = _ogg_ending(file.read())
                if ending == "cut":
                    return "the Ogg stream ends in the middle of a page"
                if ending == "open":
                    return "the Ogg stream ends without its end-of-stream page"
    except OSError:
        pass
    return None


def _ogg_ending(tail: bytes) -> str | None:
    """How the file's last bytes end: "closed" (a complete last page flagged end-of-stream),
    "open" (complete, not flagged), "cut" (bytes after the last complete page), None when no
    page is found. A page counts only with a matching CRC, so a capture pattern inside
    compressed data is not mistaken for one."""
    start = len(tail)
    while (start := tail.rfind(b"OggS", 0, start)) >= 0:
        end = _ogg_page_end(tail, start)
        if end is None:
            continue
        if end < len(tail):
            return "cut"
        return "closed" if tail[start + 5] & 0x04 else "open"
    return None


def _ogg_page_end(data: bytes, start: int) -> int | None:
    """Where the Ogg page at `start` ends, if it is whole and its CRC matches."""
    if start + 27 > len(data) or data[start + 4] != 0:
        return None
    segments = data[start + 26]
    body = start + 27 + segments
    if body > len(data):
        return None
    end = body + sum(data[start + 27:body])
    if end > len(data):
        return None
    page = bytearray(data[start:end])
    stored = int.from_bytes(page[22:26], "little")
    page[22:26] = bytes(4)
    return end if _ogg_crc(page) == stored else None


def _ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value and final xor 0."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[(crc >> 24) ^ byte]
    return crc


def _crc_table() -> list[int]:
    table = []
    for index in range(256):
        value = index << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7 if value & 0x80000000 else value << 1)
            value &= 0xFFFFFFFF
        table.append(value)
    return table


_OGG_CRC_TABLE = _crc_table()


class _GrowingArray:
    """A float32 buffer filled in order, preallocated from the expected length."""

    def __init__(self, capacity: int) -> None:
        self.data = np.empty(max(capacity, 1), dtype=np.float32)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.empty(max(end, len(self.data) * 3 // 2), dtype=np.float32)
            grown[:self.size] = self.data[:self.size]
            self.data = grown
        self.data[self.size:end] = values
        self.size = end

    def pad_or_trim(self, size: int) -> None:
        """Set the length to `size`, padding with zeros as librosa's fix_length does."""
        if size > self.size:
            self.append(np.zeros(size - self.size, dtype=np.float32))
        self.size = size

    def result(self) -> np.ndarray:
        """The filled part; copied when a view would keep a much larger buffer alive."""
        if self.size < len(self.data) * 0.9:
            return self.data[:self.size].copy()
        return self.data[:self.size]


class _StreamResampler:
    """soxr streaming resampler that restarts if the input rate changes mid-stream."""

    def __init__(self, rate: int, output: _GrowingArray) -> None:
        self.rate = rate
        self.output = output
        self.input_rate = 0
        self.segment_frames = 0
        self.segment_start = 0
        self.previous_seconds = 0.0  # input seconds in finished segments (all, once finished)
        self.stream = None

    def feed(self, rate: int, mono: np.ndarray) -> None:
        if rate != self.input_rate:
            self.finish()
            self.input_rate, self.segment_frames, self.segment_start = rate, 0, self.output.size
            if rate != self.rate:
                import soxr

                self.stream = soxr.ResampleStream(rate, self.rate, 1, dtype="float32",
                                                  quality=SOXR_QUALITY)
        self.segment_frames += len(mono)
        if self.stream is None:
            self.output.append(mono)
        elif len(mono):
            self.output.append(self.stream.resample_chunk(np.ascontiguousarray(mono)))

    def finish(self) -> None:
        """Flush the current segment and fix its length to ceil(frames * ratio)."""
        if self.stream is not None:
            self.output.append(self.stream.resample_chunk(np.zeros(0, np.float32), last=True))
            self.stream = None
        if self.input_rate:
            expected = math.ceil(self.segment_frames * self.rate / self.input_rate)
            self.output.pad_or_trim(self.segment_start + expected)
            self.previous_seconds += self.segment_frames / self.input_rate
        self.input_rate = self.segment_frames = 0


# --- soundfile -------------------------------------------------------------------------


def _soundfile_source(path: Path) -> _Source:
    import soundfile

    try:
        handle = soundfile.SoundFile(str(path))
    except (RuntimeError, TypeError, ValueError):
        # libsndfile's own messages mislead ("File does not exist" for a bad mp3); PyAV,
        # tried next, names the problem.
        raise _Refused(UNREADABLE) from None
    if handle.samplerate <= 0 or handle.channels <= 0:
        handle.close()
        raise _Refused(f"header declares {handle.channels} channels at {handle.samplerate} Hz")
    declared = handle.frames / handle.samplerate if 0 < handle.frames < 2**62 else None
    return _Source(declared, _soundfile_blocks(handle), handle.close)


def _soundfile_blocks(handle: soundfile.SoundFile) -> Iterator[tuple[int, np.ndarray]]:
    buffer = np.empty((BLOCK_FRAMES, handle.channels), dtype=np.float32)
    while True:
        try:
            block = handle.read(BLOCK_FRAMES, dtype="float32", always_2d=True, out=buffer)
        except RuntimeError as error:  # LibsndfileError, e.g. "flac decoder lost sync"
            raise _Refused(f"soundfile stopped decoding: {error}") from None
        if len(block) == 0:
            return
        yield handle.samplerate, block


# --- PyAV (FFmpeg) ---------------------------------------------------------------------

_INTEGER_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63}


def _pyav_source(path: Path) -> _Source:
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError):
        raise _Refused(UNREADABLE) from None
    if not container.streams.audio:
        kinds = sorted({stream.type for stream in container.streams})
        container.close()
        found = f" (only {', '.join(kinds)})" if kinds else ""
        raise _Refused(f"contains no audio stream{found}")
    stream = container.streams.audio[0]
    declared = _pyav_declared_seconds(container, stream)
    notes: list[str] = []
    return _Source(declared, _pyav_blocks(container, stream, notes), container.close, notes)


def _pyav_declared_seconds(container: av.container.InputContainer,
                           stream: av.AudioStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _pyav_blocks(container: av.container.InputContainer, stream: av.AudioStream,
                 notes: list[str]) -> Iterator[tuple[int, np.ndarray]]:
    """Decoded frames gathered into blocks of about BLOCK_FRAMES, for fewer resampler calls.

    Undecodable packets are skipped, as the ffmpeg tool does; the demuxer ends at the end of
    the file, so garbage cannot loop. How the stream ended badly goes to `notes`.
    """
    pending: list[np.ndarray] = []
    pending_rate = pending_frames = 0
    for frame in _pyav_frames(container, stream, notes):
        samples = _frame_samples(frame)
        if pending and (frame.sample_rate != pending_rate
                        or samples.shape[1] != pending[0].shape[1]):
            yield pending_rate, np.concatenate(pending)
            pending, pending_frames = [], 0
        pending.append(samples)
        pending_rate = frame.sample_rate
        pending_frames += len(samples)
        if pending_frames >= BLOCK_FRAMES:
            yield pending_rate, np.concatenate(pending)
            pending, pending_frames = [], 0
    if pending:
        yield pending_rate, np.concatenate(pending)


def _pyav_frames(container: av.container.InputContainer, stream: av.AudioStream,
                 notes: list[str]) -> Iterator[av.AudioFrame]:
    """The stream's audio frames. An error once audio has decoded ends the stream with a
    note (the decodable part is kept), as do undecodable packets at its very end; before
    any audio it refuses the file."""
    import av

    decoded = failing = 0  # samples so far; undecodable packets since the last good one
    try:
        for packet in container.demux(stream):
            try:
                frames = [f for f in packet.decode() if f.samples > 0 and f.sample_rate > 0]
            except av.error.InvalidDataError:
                failing += 1
                continue
            failing = 0 if frames else failing
            decoded += sum(frame.samples for frame in frames)
            yield from frames
    except (av.error.FFmpegError, OSError) as error:
        if not decoded:
            raise _Refused(f"FFmpeg stopped decoding: {error}") from None
        notes.append(f"FFmpeg stopped decoding ({error})")
        return
    if failing and decoded:
        notes.append(f"the stream ends in {failing} undecodable packet(s)")


def _frame_samples(frame: av.AudioFrame) -> np.ndarray:
    """An FFmpeg audio frame as frames x channels float32 in [-1, 1]."""
    array = frame.to_ndarray()
    channels = frame.layout.nb_channels
    array = array.T if frame.format.is_planar else array.reshape(-1, channels)
    name = frame.format.name.rstrip("p")
    if name in _INTEGER_SCALE:
        offset = 128.0 if name == "u8" else 0.0
        return ((array.astype(np.float64) - offset) / _INTEGER_SCALE[name]).astype(np.float32)
    return array.astype(np.float32, copy=False)
