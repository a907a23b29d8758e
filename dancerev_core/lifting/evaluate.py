"""Judging lifters on held-out 3D clips filmed by virtual cameras.

Each clip is filmed by a few random cameras (`projection.random_camera`, seeded by the clip's
name, so every method and every run sees the same views); the BODY_25 2D motion DanceRev
would get from that video goes through the full `pipeline.lift` (post-processing included)
and the answer is compared with the clip turned into that camera's view frame. Errors are
MPJPE and PA-MPJPE in mm over all 24 joints (`metrics`), per clip, as the mean of the
clips, and over all frames ("overall", which weighs the long salsa takes more).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

import numpy as np

from ..motion import Motion
from ..skeletons import CANONICAL_24
from .data import Clip
from .features import LIFTER_FPS
from .metrics import mpjpe, pa_mpjpe
from .projection import Camera, project_motion, random_camera

LiftFunction = Callable[[Motion], Motion]


def clip_motion(clip: Clip) -> Motion:
    return Motion(positions=clip.positions.astype(np.float32), fps=LIFTER_FPS,
                  skeleton=CANONICAL_24.name, joint_names=CANONICAL_24.joint_names,
                  meta={"source": clip.name})


def clip_cameras(clip: Clip, count: int, seed: int = 0) -> list[Camera]:
    rng = np.random.default_rng([seed, zlib.crc32(clip.name.encode())])
    target = clip.positions[:, 0].mean(axis=0)
    return [random_camera(rng, target) for _ in range(count)]


def evaluate(clips: Iterable[Clip], methods: dict[str, LiftFunction], cameras: int = 4,
             seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """{method: {clip name or "overall": {"mpjpe": mm, "pa_mpjpe": mm, "frames": n}}}."""
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in methods}
    for clip in clips:
        motion = clip_motion(clip)
        views = clip_cameras(clip, cameras, seed)
        for name, lift_function in methods.items():
            errors, aligned, frames = [], [], 0
            for camera in views:
                truth = camera.to_view(clip.positions)
                predicted = lift_function(project_motion(motion, camera)).positions
                errors.append(mpjpe(predicted, truth) * len(truth))
                aligned.append(pa_mpjpe(predicted, truth) * len(truth))
                frames += len(truth)
            results[name][clip.name] = {"mpjpe": sum(errors) / frames,
                                        "pa_mpjpe": sum(aligned) / frames, "frames": frames}
    for per_clip in results.values():
        clips = list(per_clip.values())
        frames = sum(r["frames"] for r in clips)
        per_clip["clip mean"] = {key: float(np.mean([r[key] for r in clips]))
                                 for key in ("mpjpe", "pa_mpjpe")} | {"frames": frames}
        per_clip["overall"] = {
            key: sum(r[key] * r["frames"] for r in clips) / max(frames, 1)
            for key in ("mpjpe", "pa_mpjpe")} | {"frames": frames}
    return results


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown table: one row per clip, MPJPE / PA-MPJPE per method."""
    methods = list(results)
    header = "| clip | frames | " + " | ".join(
        f"{m} MPJPE | {m} PA-MPJPE" for m in methods) + " |"
    lines = [header, "|" + "---|" * (2 + 2 * len(methods))]
    summary = ("clip mean", "overall")
    names = [n for n in results[methods[0]] if n not in summary] + list(summary)
    for name in names:
        cells = [f"{results[m][name]['mpjpe']:.1f} | {results[m][name]['pa_mpjpe']:.1f}"
                 for m in methods]
        frames = int(results[methods[0]][name]["frames"])
        lines.append(f"| {name} | {frames} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
