"""`dancerev convert IN -o OUT.npz`: any supported motion input to a motion file."""

from __future__ import annotations

import argparse

from ..files import check_outputs
from ..formats.motion_npz import save_motion
from ..formats.reading import read_motion
from .options import FPS, add_number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert a BVH, OpenPose folder, paper JSON, AIST++ or motion file "
                        "to a motion .npz",
        description="Convert any supported motion input to a DanceRev motion .npz file.")
    parser.add_argument("input", help="a .bvh, .npz, .json (paper clip), .pkl (AIST++) file "
                                      "or a folder of OpenPose JSON files")
    parser.add_argument("-o", "--output", required=True, help="motion file to write (.npz)")
    parser.add_argument("--joints", choices=("raw", "canonical"), default="raw",
                        help="raw: the source's own joints in file order (BVH: every ROOT "
                             "and JOINT, file units); canonical: the 24 canonical 3D joints "
                             "in metres, Z up (BODY_25 for 2D inputs)")
    add_number(parser, "--fps", bounds=FPS, help="resample to this frame rate")
    add_number(parser, "--video-fps", bounds=FPS, default=30.0,
               help="frame rate of the video an OpenPose folder came from (default 30)")
    parser.add_argument("--joint-map", help="joint map JSON for a BVH skeleton that is not "
                                            "detected automatically (see rigs/)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_outputs([args.output], [args.input, args.joint_map])
    motion = read_motion(args.input, joints=args.joints, joint_map=args.joint_map,
                         fps=args.fps, video_fps=args.video_fps)
    path = save_motion(motion, args.output)
    print(f"wrote {path}: {motion.num_frames} frames at {motion.fps:g} fps, "
          f"{motion.num_joints} joints ({motion.skeleton}), {motion.duration:.2f} s")
    return 0
