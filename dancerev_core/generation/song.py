"""A song file and a checkpoint in, dances out: what `dancerev generate` and the worker run.

torch is imported only when a dance is made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DanceRevError

if TYPE_CHECKING:
    from ..model.checkpoint import Checkpoint
    from ..motion import Motion
    from ..music.features import MusicFeatures
    from .kept import Kept


def dances_for_song(audio: str | Path, model: str | Path, *, seconds: float | None = None,
                    start: float = 0.0, seed: int = 0, num: int = 1, joints: str | None = None,
                    decoder: str = "fast", use_cache: bool = True, device: str | None = None,
                    beat_sync: bool = True,
                    progress: Callable[[int, int], None] | None = None,
                    stage: Callable[[str], None] | None = None,
                    kept: Kept | None = None) -> list[Motion]:
    """What `dancerev generate` computes, shared with the add-on's worker.

    Loads the checkpoint (on `device`, default CUDA when present), analyses the song through
    the feature cache at the model's fps and returns `num` dances (`generation.generate_dance`)
    whose meta names the song. `stage(name)` is told "load", "analyse" and "generate" as each
    begins; `progress(done, total)` counts decoded frames. With `kept` (a warm worker's), the
    model and the song come from it when they were loaded before.
    """
    from .pipeline import generate_dance

    say = stage or (lambda _name: None)
    if num < 1:
        raise DanceRevError(f"--num must be at least 1, got {num}")
    say("load")
    checkpoint = _checkpoint(model, joints, device, kept)
    say("analyse")
    music = _music(audio, checkpoint.config.fps, use_cache, kept)
    say("generate")
    dances = generate_dance(music, checkpoint, seconds=seconds, seed=seed, num=num,
                            start=start, decoder=decoder, beat_sync=beat_sync,
                            progress=progress)
    for dance in dances:
        dance.meta["music"] = Path(audio).name  # groups variations for multimodality
    return dances


def section_for_song(audio: str | Path, model: str | Path, dance_path: str | Path,
                     start: float, stop: float, *, seed: int = 0, decoder: str = "fast",
                     use_cache: bool = True, device: str | None = None,
                     beat_sync: bool = True,
                     progress: Callable[[int, int], None] | None = None,
                     stage: Callable[[str], None] | None = None,
                     kept: Kept | None = None) -> Motion:
    """A dance (a motion file this song and model made) with its seconds start..stop
    (from its frame 0) danced anew with `seed`: `section.regenerate_section`. Its meta is the
    dance's, with the new seed and the section said."""
    import numpy as np

    from ..formats.motion_npz import load_motion
    from .section import regenerate_section

    say = stage or (lambda _name: None)
    say("load")
    dance = load_motion(dance_path)
    checkpoint = _checkpoint(model, dance.skeleton, device, kept)
    if abs(dance.fps - checkpoint.config.fps) > 1e-6:
        raise DanceRevError(f"{dance_path}: the dance is at {dance.fps:g} fps, the model at "
                            f"{checkpoint.config.fps:g}")
    say("analyse")
    music = _music(audio, checkpoint.config.fps, use_cache, kept)
    say("generate")
    beats = np.asarray(dance.meta.get("beat_times", []), dtype=np.float64)
    positions = regenerate_section(music, checkpoint, dance.positions, start, stop, seed,
                                   beats, audio_start=float(dance.meta.get("audio_start", 0)),
                                   decoder=decoder, beat_sync=beat_sync, progress=progress)
    meta = {**dance.meta, "seed": int(seed), "num": 1, "variation": 1,
            "section": [float(start), float(stop)], "music": Path(audio).name}
    return dance.with_positions(positions.astype(np.float32), meta=meta)


def _checkpoint(model: str | Path, joints: str | None, device: str | None,
                kept: Kept | None) -> Checkpoint:
    if kept is not None:
        return kept.checkpoint(model, expect_joint_set=joints, device=device)
    from ..model.checkpoint import load_checkpoint

    return load_checkpoint(model, expect_joint_set=joints, device=device)


def _music(audio: str | Path, fps: float, use_cache: bool, kept: Kept | None) -> MusicFeatures:
    if kept is not None:
        return kept.music(audio, fps=fps, use_cache=use_cache)
    from ..music.analysis import analyse_song

    return analyse_song(audio, fps=fps, use_cache=use_cache)


def write_dances(dances: list[Motion], output: str | Path) -> list[Path]:
    """Write OUT.npz (or OUT_1.npz .. OUT_K.npz), all or none.

    Each file is written atomically; if any write fails or is interrupted, the files this
    call already wrote are removed again, so a cancelled or failed run leaves no partial set.
    """
    from ..formats.motion_npz import save_motion
    from .pipeline import variation_paths

    written: list[Path] = []
    try:
        for dance, path in zip(dances, variation_paths(output, len(dances)), strict=True):
            save_motion(dance, path)
            written.append(Path(path))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written
