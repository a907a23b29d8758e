"""Command-line options that several subcommands share, defined once, and their bounds.

Every numeric option is parsed by a `Bounds`: a value outside them (or NaN, infinity) is
refused by the parser, before any work, in one line that names the option and the bounds.
Without bounds `--fps 1e9` asks for billions of frames and runs the machine out of memory.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import DanceRevError

if TYPE_CHECKING:
    from ..generation.shaping import Shaping


@dataclass(frozen=True)
class Bounds:
    """An argparse `type`: a finite number in [low, high] (`open_low`: low itself excluded)."""

    low: float
    high: float
    whole: bool = False
    open_low: bool = False
    open_high: bool = False

    def __call__(self, text: str) -> float | int:
        try:
            value: float = int(text) if self.whole else float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and self.holds(value)):
            raise argparse.ArgumentTypeError(f"must be a {self.kind} in {self}, got {text!r}")
        return value

    def holds(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    @property
    def kind(self) -> str:
        return "whole number" if self.whole else "number"

    def __str__(self) -> str:
        return (f"{'(' if self.open_low else '['}{_plain(self.low)}, {_plain(self.high)}"
                f"{')' if self.open_high else ']'}")


def _plain(value: float) -> str:
    """4294967295, not 4.29497e+09: a bound the user can type back."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


FPS = Bounds(0, 240, open_low=True)  # frames per second of motion, features, scenes
SECONDS = Bounds(0, 3600, open_low=True)  # a dance of up to an hour
START = Bounds(0, 86400)  # a position in a song, seconds
NUM = Bounds(1, 100, whole=True)  # dances per song, made in one batch
SEED = Bounds(0, 2**32 - 1, whole=True)  # what every random generator accepts
SMOOTHING = Bounds(0, 100)  # Gaussian sigma in frames (taps to 3 sigma)
EPOCHS = Bounds(1, 1_000_000, whole=True)
BATCH_SIZE = Bounds(1, 4096, whole=True)
WINDOW = Bounds(2, 10_000, whole=True)  # frames per classifier window
FRACTION = Bounds(0, 1, open_high=True)  # a share held out
LEARNING_RATE = Bounds(0, 1, open_low=True)
TOLERANCE = Bounds(0, 2, open_low=True)  # beat hit tolerance, seconds
WORKERS = Bounds(1, 256, whole=True)  # processes or threads at once
COUNT = Bounds(1, 10_000, whole=True)  # a count, or a period ("every N-th")
IMAGE_SIDE = Bounds(1, 16_384)  # pixels


def add_number(parser: argparse.ArgumentParser, *flags: str, bounds: Bounds, help: str,
               **settings: Any) -> None:
    """A numeric option parsed by `bounds`, which its help states."""
    parser.add_argument(*flags, type=bounds, help=f"{help}; in {bounds}", **settings)


def check_image_size(text: str | None) -> None:
    """Refuse a --image-size that is not WIDTHxHEIGHT with each side in IMAGE_SIDE pixels."""
    if text is None:
        return
    try:
        sides = [float(part) for part in text.lower().split("x")]
    except ValueError:
        sides = []
    if len(sides) != 2 or not all(math.isfinite(side) and IMAGE_SIDE.holds(side)
                                  for side in sides):
        raise DanceRevError(f"--image-size must be WIDTHxHEIGHT, e.g. 1280x720, each side in "
                            f"{IMAGE_SIDE} pixels, not {text!r}")


def add_beat_sync_option(parser: argparse.ArgumentParser) -> None:
    """--no-beat-sync, shared by every command that generates (beat_sync.py)."""
    parser.add_argument("--no-beat-sync", action="store_true",
                        help="keep the model's own timing instead of re-timing each dance "
                             "by a little so its accents land on the beats")


def add_shaping_options(parser: argparse.ArgumentParser) -> None:
    """--in-place, --keep-turning, --loop (generation/shaping.py), for canonical 3D dances."""
    parser.add_argument("--in-place", action="store_true",
                        help="dance on the spot: no travel across the floor and no turning "
                             "of the whole body")
    parser.add_argument("--keep-turning", action="store_true",
                        help="with --in-place: the body still turns as it danced")
    parser.add_argument("--loop", action="store_true",
                        help="cut the dance to whole beats and blend its end into its start, "
                             "so it plays seamlessly on repeat")


def shaping_of(args: argparse.Namespace) -> Shaping:
    """The Shaping the parsed --in-place, --keep-turning and --loop ask for."""
    from ..generation.shaping import Shaping

    if args.keep_turning and not args.in_place:
        raise DanceRevError("--keep-turning only goes with --in-place")
    return Shaping(in_place=args.in_place, keep_turning=args.keep_turning, loop=args.loop)
