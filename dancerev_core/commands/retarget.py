"""`dancerev retarget IN --skeleton TARGET.bvh [--map RIGMAP] -o OUT.bvh`.

Puts a dance (canonical 3D joints) on the skeleton of any BVH file and writes that file's
skeleton animated, so tools without Blender get the dance too.
"""

from __future__ import annotations

import argparse

from ..files import check_outputs
from ..formats.bvh import read_bvh, write_bvh
from ..formats.reading import read_motion
from .options import FPS, SMOOTHING, add_number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retarget", help="put a dance on the skeleton of a BVH file and write it animated",
        description="Retarget a dance (canonical 3D joints: a motion .npz, or any input "
                    "`dancerev convert` reads) onto the skeleton of a BVH file: its joints, "
                    "OFFSETs and channel layout are kept, rotations are written as Euler "
                    "angles in each joint's channel order. The bone map is detected from "
                    "the joint names (rigs/*.json), else from the skeleton's structure.")
    parser.add_argument("input", help="the dance: a motion .npz with canonical 3D joints "
                                      "(or a .bvh / AIST++ .pkl, mapped to them)")
    parser.add_argument("--skeleton", required=True,
                        help="BVH file whose skeleton (rest pose, names) receives the dance")
    parser.add_argument("--map", dest="rig_map",
                        help="rig map JSON naming the skeleton's bones, for skeletons not "
                             "recognised automatically (format: see rigs/mixamo.json)")
    parser.add_argument("-o", "--output", required=True, help="BVH file to write")
    add_number(parser, "--fps", bounds=FPS, help="resample the dance to this frame rate")
    add_number(parser, "--smoothing", bounds=SMOOTHING, default=0.0,
               help="Gaussian smoothing of the joints over time, sigma in frames (default 0: "
                    "none)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..retarget import retarget_to_bvh

    check_outputs([args.output], [args.input, args.skeleton, args.rig_map])
    motion = read_motion(args.input, joints="canonical", fps=args.fps)
    template = read_bvh(args.skeleton)
    animated, result = retarget_to_bvh(motion, motion.fps, template, args.rig_map,
                                       smoothing=args.smoothing)
    path = write_bvh(animated, args.output)
    print(f"wrote {path}: {animated.num_frames} frames at {motion.fps:g} fps on "
          f"{len(template.joints)} joints of {args.skeleton}; {result.bone_map.how}; "
          f"root motion scaled x{result.scale:.3g} (leg length)")
    return 0
