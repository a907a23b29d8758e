"""The worker's jobs: check, analyse, generate, train.

Each job reads its request, does what the matching `dancerev` command does (sharing that
command's code) and returns the `result` payload; torch and librosa are imported inside the
jobs that need them, so `check` can report their absence instead of crashing.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DanceRevError
from ..generation.kept import Kept
from .context import Context
from .protocol import Request

DEVICES = ("auto", "cpu", "cuda")
# What the worker imports at run time, in the order `check` reports them.
RUNTIME_MODULES = ("numpy", "torch", "librosa", "scipy", "soundfile", "soxr", "av",
                   "bottleneck", "safetensors", "tqdm")
KEPT = Kept()  # a warm worker's loaded models and songs, between its jobs
GENERATE_STAGES = {"load": "loading the model", "analyse": "analysing the song",
                   "generate": "generating the dance"}


def _device(request: Request) -> str:
    default = os.environ.get("DANCEREV_DEVICE") or "auto"
    if default not in DEVICES:
        raise DanceRevError(f"DANCEREV_DEVICE must be one of {', '.join(DEVICES)}, "
                            f"got {default!r}")
    device = request.text("device", default, choices=DEVICES)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise DanceRevError("device cuda: no CUDA device is available (choose auto or cpu)")
    return device


# -- check ---------------------------------------------------------------------------------
def check(request: Request, ctx: Context) -> dict[str, Any]:
    """Is the runtime complete? Versions for the preferences; never fails on a missing one."""
    from ..music.cache import cache_dir

    modules: dict[str, str | None] = {}
    problems = []
    for done, name in enumerate(RUNTIME_MODULES):
        ctx.progress("check", done, len(RUNTIME_MODULES), f"importing {name}")
        try:
            module = importlib.import_module(name)
            modules[name] = str(getattr(module, "__version__", "unknown"))
        except Exception as error:  # ImportError, or a broken install raising anything
            modules[name] = None
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            problems.append(f"{name} cannot be imported ({detail})")
    cuda, devices = False, []
    if modules["torch"] is not None:
        import torch

        cuda = torch.cuda.is_available()
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"ok": not problems, "problems": problems, "dancerev": __version__,
            "python": platform.python_version(), "executable": sys.executable,
            "modules": modules, "torch": modules["torch"], "librosa": modules["librosa"],
            "cuda": cuda, "cuda_devices": devices, "cache_dir": str(cache_dir())}


# -- analyse -------------------------------------------------------------------------------
def analyse(request: Request, ctx: Context) -> dict[str, Any]:
    """A song's beats, tempo and duration (through the feature cache)."""
    from ..music.features import MODEL_FPS

    song = request.path("song")
    use_cache = request.flag("use_cache", True)
    ctx.progress("analyse", 0, 1, f"analysing {song.name}")
    music = KEPT.music(song, fps=MODEL_FPS, use_cache=use_cache)
    ctx.progress("analyse", 1, 1, f"analysed {song.name}")
    return {"song": str(song), "duration": float(music.duration), "tempo": float(music.tempo),
            "beat_times": [round(float(t), 6) for t in music.beat_times],
            "fps": float(music.fps), "frames": int(music.num_frames)}


# -- generate ------------------------------------------------------------------------------
def generate(request: Request, ctx: Context) -> dict[str, Any]:
    """Dances for a song, written as motion files only once all of them are made."""
    from ..generation.pipeline import DECODERS
    from ..generation.shaping import Shaping, shape_dance
    from ..generation.song import dances_for_song, section_for_song
    from ..skeletons import BODY_25, JOINT_SETS

    song = request.path("song")
    checkpoint = request.path("checkpoint")
    output = request.path("output")
    name = request.text("name", song.stem)
    if not name or Path(name).name != name or name in (".", ".."):
        raise DanceRevError(f"name must be a plain file name without folders, got {name!r}")
    if output.exists() and not output.is_dir():
        raise DanceRevError(f"{output}: the output must be a folder")
    seconds = request.number("seconds")
    device = _device(request)

    def stage(name: str) -> None:
        ctx.progress(name, 0, 1, GENERATE_STAGES[name], force=True)

    def frames(done: int, total: int) -> None:
        ctx.progress("generate", done, total, f"frame {done} of {total}")

    if request.path("section_of", required=False) is not None:  # a section danced anew
        first, stop = request.number("section_start"), request.number("section_stop")
        if first is None or stop is None:
            raise DanceRevError("section_of needs section_start and section_stop (seconds)")
        dances = [section_for_song(
            song, checkpoint, request.path("section_of"), first, stop,
            seed=request.integer("seed", 0),
            decoder=request.text("decoder", "fast", choices=DECODERS),
            use_cache=request.flag("use_cache", True),
            beat_sync=request.flag("beat_sync", True),
            device=None if device == "auto" else device, stage=stage, progress=frames,
            kept=KEPT)]
        return written_result(dances, output / f"{name}.npz", song, checkpoint, ctx)
    dances = dances_for_song(
        song, checkpoint, seconds=seconds, start=request.number("start", 0.0),
        seed=request.integer("seed", 0), num=request.integer("num", 1),
        joints=request.text("joints", choices=tuple(sorted(JOINT_SETS))),
        decoder=request.text("decoder", "fast", choices=DECODERS),
        use_cache=request.flag("use_cache", True),
        beat_sync=request.flag("beat_sync", True),
        device=None if device == "auto" else device,
        stage=stage, progress=frames, kept=KEPT)
    if request.flag("lift", False) and dances[0].skeleton == BODY_25.name:
        ctx.progress("lift", 0, len(dances), "lifting the 2D dance to 3D", force=True)
        dances = [lifted_dance(dance, ctx) for dance in dances]
    shaping = Shaping(in_place=request.flag("in_place", False),
                      keep_turning=request.flag("keep_turning", False),
                      loop=request.flag("loop", False))
    dances = [shape_dance(dance, shaping) for dance in dances]
    return written_result(dances, output / f"{name}.npz", song, checkpoint, ctx)


def written_result(dances: list[Any], output: Path, song: Path, checkpoint: Path,
                   ctx: Context) -> dict[str, Any]:
    """Write the dances (all or none) and say what they are."""
    from ..generation.song import write_dances

    ctx.progress("write", 0, len(dances), "writing the motion files", force=True)
    ctx.control.seal()  # past this point the outputs are committed and reported
    files = write_dances(dances, output)
    first = dances[0]
    return {"files": [str(path) for path in files], "song": str(song),
            "checkpoint": str(checkpoint), "skeleton": first.skeleton, "fps": float(first.fps),
            "frames": int(first.num_frames), "seconds": first.num_frames / first.fps,
            "audio_start": first.meta["audio_start"], "beat_times": first.meta["beat_times"],
            "tempo": first.meta["tempo"], "seed": first.meta["seed"], "num": len(dances),
            "decoder": first.meta.get("decoder"), "beat_sync": first.meta.get("beat_sync"),
            "loop_start": first.meta.get("loop_start", 0.0)}


def lifted_dance(dance: Any, ctx: Context) -> Any:
    """A 2D model's dance lifted to canonical 3D joints (a character needs 3D), its song
    timing kept."""
    from ..lifting.pipeline import lift

    lifted = lift(dance)
    for warning in lifted.warnings:
        ctx.log(warning)
    motion = lifted.motion
    motion.meta.update({key: value for key, value in dance.meta.items()
                        if key not in motion.meta})
    return motion


# -- train ---------------------------------------------------------------------------------
def train(request: Request, ctx: Context) -> dict[str, Any]:
    """Train or resume a run; progress per step, losses per epoch; cancel keeps `last`."""
    from ..evaluation.health import Health
    from ..model.checkpoint import checkpoint_json
    from ..model.curriculum import SCHEDULES
    from ..training.config import LAST
    from ..training.data import FORMATS
    from ..training.run import train_run

    output = request.path("output")
    options = {key: request.integer(key) for key in ("epochs", "batch_size", "seq_len", "seed")}
    options.update({key: request.number(key) for key in ("lr", "val_fraction")})
    options["mirror"] = request.flag("mirror")
    options["precision"] = request.text("precision")
    epochs = 0  # the total to reach, known once the settings are

    def on_config(config: Any) -> None:
        nonlocal epochs
        epochs = config.epochs

    def on_step(epoch: int, step: int, steps: int, loss: float) -> None:
        ctx.progress("train", (epoch - 1) * steps + step, max(epochs, 1) * steps,
                     f"epoch {epoch}/{epochs}, step {step}/{steps}, loss {loss:.4f}",
                     epoch=epoch, epochs=epochs, step=step, steps=steps, loss=loss)

    def on_epoch(entry: dict[str, Any]) -> None:
        last = checkpoint_json(output / LAST)
        ctx.cancel_info = {"last_checkpoint": str(last), "epoch": entry["epoch"]}
        val = entry.get("val_loss")
        health = {}
        if entry.get("health"):  # the free-running check of this epoch, as the panel shows it
            figures = Health.from_dict(entry["health"])
            health = {"health_text": f"epoch {entry['epoch']}: {figures.summary()}",
                      "health_freezes": figures.freezes}
        ctx.progress("epoch", entry["epoch"], epochs,
                     f"epoch {entry['epoch']}/{epochs}: loss {entry['train_loss']:.4f}"
                     + (f", validation {val:.4f}" if val is not None else ""),
                     force=True, epochs=epochs, checkpoint=str(last), **entry, **health)

    if request.flag("resume", False):
        ctx.cancel_info = {"last_checkpoint": str(checkpoint_json(output / LAST))}
    result = train_run(request.path("dataset"), output,
                       data_format=request.text("format", "auto", choices=FORMATS),
                       config_file=request.path("config", required=False),
                       schedule=request.text("schedule", choices=tuple(SCHEDULES)),
                       resume=request.flag("resume", False), device=_device(request),
                       image_size=request.text("image_size"), options=options, progress=False,
                       log=ctx.log, on_config=on_config, on_step=on_step, on_epoch=on_epoch)
    return {"output": str(output), "epoch": result.epoch, "last": str(result.last),
            "best": str(result.best) if result.best else None, "history": str(result.history),
            "train_loss": result.train_loss, "val_loss": result.val_loss}


Job = Callable[[Request, Context], dict[str, Any]]
JOBS: dict[str, Job] = {"check": check, "analyse": analyse, "generate": generate, "train": train}
FIELDS: dict[str, frozenset[str]] = {
    "check": frozenset(),
    "analyse": frozenset({"song", "use_cache"}),
    "generate": frozenset({"song", "checkpoint", "output", "name", "start", "seconds", "seed",
                           "num", "joints", "decoder", "use_cache", "device", "lift",
                           "beat_sync", "in_place", "keep_turning", "loop", "section_of",
                           "section_start", "section_stop"}),
    "train": frozenset({"dataset", "output", "format", "config", "schedule", "epochs", "resume",
                        "batch_size", "seq_len", "lr", "seed", "val_fraction", "mirror",
                        "precision", "image_size", "device"}),
}
