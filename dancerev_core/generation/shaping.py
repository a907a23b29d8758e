"""What the user asks of a finished dance's shape: in place, and looped on the beat.

Applied to canonical 3D dances after the finishing steps (`pipeline.finish_dance`) and, for a
2D model, after lifting: in place (root_motion.py) takes off the whole body's travel and,
unless told to keep it, its turning; a loop (loop.py) cuts the dance to whole beats and
blends its end into its start. A loop starts at a beat a little into the dance, so its meta
says where: `audio_start` and `beat_times` move with it and `loop_start` holds the seconds
it was moved by, for a caller that places the song (the add-on's sound strip).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DanceRevError
from ..motion import Motion
from ..skeletons import CANONICAL_24
from .feet import plant_feet
from .loop import loop_span, make_loop
from .root_motion import in_place


@dataclass(frozen=True)
class Shaping:
    in_place: bool = False  # no horizontal travel (and no turning unless keep_turning)
    keep_turning: bool = False  # with in_place: the body still turns as it danced
    loop: bool = False  # a whole number of beats whose end runs into its start

    @property
    def changes(self) -> bool:
        return self.in_place or self.loop


def shape_dance(dance: Motion, shaping: Shaping) -> Motion:
    """The dance in place and/or looped as `shaping` asks; unchanged when it asks nothing."""
    if shaping.keep_turning and not shaping.in_place:
        raise DanceRevError("keep turning only goes with in place")
    if not shaping.changes:
        return dance
    if dance.skeleton != CANONICAL_24.name or dance.dims != 3:
        raise DanceRevError(f"in place and loops need canonical 3D dances, got {dance.skeleton}"
                            f" {dance.dims}D (lift 2D dances first)")
    positions, meta = np.asarray(dance.positions, dtype=np.float64), dict(dance.meta)
    done = []
    if shaping.in_place:
        # taking the travel off makes planted feet slide back (0.44-0.63 m/s on the shipped
        # model's dances against 0.03-0.04 m/s planted again): they are planted anew
        positions = plant_feet(in_place(positions, shaping.keep_turning, dance.fps), dance.fps)
        done.append("in place" + (", turning kept" if shaping.keep_turning else "")
                    + ", feet planted again")
    if shaping.loop:
        beats = np.asarray(meta.get("beat_times", []), dtype=np.float64)
        first, stop, _blend = loop_span(len(positions), dance.fps, beats)
        positions = make_loop(positions, dance.fps, beats)
        shift = first / dance.fps
        kept = beats - shift
        kept = kept[(kept >= -0.5 / dance.fps) & (kept < (stop - first) / dance.fps)]
        meta.update(beat_times=[round(max(0.0, float(b)), 6) for b in kept],
                    audio_start=float(meta.get("audio_start", 0.0)) + shift,
                    loop_start=shift)
        done.append(f"looped: {len(kept)} beats from {shift:.2f} s")
    meta["shape"] = "; ".join(done)
    return dance.with_positions(positions.astype(np.float32), meta=meta)
