"""`dancerev lift IN -o OUT.npz [--method learned|geometric]`: 2D keypoints to 3D joints."""

from __future__ import annotations

import argparse
import sys

from ..errors import DanceRevError, InputFileError
from ..files import check_outputs
from ..formats.motion_npz import save_motion
from ..formats.reading import read_motion
from ..motion import parse_image_size
from ..skeletons import BODY_25
from ..weights_pair import pair_files
from .options import FPS, SMOOTHING, add_number, check_image_size


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lift", help="lift BODY_25 2D keypoints to a canonical 3D motion",
        description="Lift a BODY_25 2D motion (a motion .npz, a folder of OpenPose JSON, a "
                    "paper JSON clip) to canonical 3D joints in metres, Z up, facing -Y "
                    "when the dancer faces the camera, bones at constant lengths and feet "
                    "on the floor (z = 0). The learned lifter ships with DanceRev; without "
                    "its weights the geometric fallback is used, with a warning.")
    parser.add_argument("input", help="BODY_25 2D motion: .npz, OpenPose folder, paper .json")
    parser.add_argument("-o", "--output", required=True, help="motion file to write (.npz)")
    parser.add_argument("--method", choices=("learned", "geometric"), default="learned",
                        help="learned (default): the temporal network; geometric: bone "
                             "lengths and priors, no weights needed")
    parser.add_argument("--weights", help="a lifter's JSON (default: the shipped one)")
    parser.add_argument("--image-size", metavar="WIDTHxHEIGHT",
                        help="video size, for keypoints normalised to [-1, 1] whose file "
                             "does not record it (default: 16:9; each side 1 to 16384)")
    add_number(parser, "--smoothing", bounds=SMOOTHING, default=0.0,
               help="Gaussian smoothing of the lifted joints over time, sigma in frames "
                    "(default 0: none)")
    add_number(parser, "--video-fps", bounds=FPS, default=30.0,
               help="frame rate of the video an OpenPose folder came from (default 30)")
    parser.set_defaults(run=run)


def _aspect(text: str | None) -> float | None:
    check_image_size(text)
    size = parse_image_size(text)
    return None if size is None else size[0] / size[1]


def run(args: argparse.Namespace) -> int:
    from ..lifting.pipeline import lift

    weights = pair_files(args.weights) if args.weights else []
    check_outputs([args.output], [args.input, *weights])
    aspect = _aspect(args.image_size)
    motion = read_motion(args.input, video_fps=args.video_fps)
    if motion.skeleton != BODY_25.name or motion.dims != 2:
        raise InputFileError(args.input, f"lifting needs BODY_25 2D keypoints, this file "
                                         f"holds {motion.num_joints} {motion.dims}D joints "
                                         f"({motion.skeleton})")
    try:
        lifted = lift(motion, args.method, args.weights, aspect=aspect,
                      smoothing=args.smoothing)
    except InputFileError:
        raise
    except DanceRevError as error:
        raise InputFileError(args.input, str(error)) from None
    for warning in lifted.warnings:
        print(f"dancerev lift: warning: {warning}", file=sys.stderr)
    path = save_motion(lifted.motion, args.output)
    result = lifted.motion
    print(f"wrote {path}: {result.num_frames} frames at {result.fps:g} fps, "
          f"{result.num_joints} joints ({result.skeleton}), lifted by the {lifted.method} "
          f"method")
    return 0
