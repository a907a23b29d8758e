"""`dancerev dance SONG -o OUT.blend`: the main job headless, song to a dancing character."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import (
    FPS,
    NUM,
    SECONDS,
    SEED,
    START,
    add_beat_sync_option,
    add_number,
    add_shaping_options,
    shaping_of,
)

MAX_SIZE = (7680, 4320)  # 8K: a preview larger than this only exhausts memory
PREVIEW_SIZE = "480x270"
RENDER_WITH = ("preview", "scene")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dance", help="song -> dance on a character -> .blend (+ preview .mp4, + .bvh)",
        description="Generate a dance for a song and put it on a character with Blender "
                    "(the bpy module; no Blender window): writes OUT.blend with the dance as "
                    "an Action (or NLA strips), the song as a sound strip and beat markers; "
                    "--render adds a Workbench preview video with the song, --bvh the dance "
                    "as a BVH file. "
                    "The character file is only read.")
    parser.add_argument("audio", help="song file (mp3, m4a, ogg, wav, flac)")
    parser.add_argument("-o", "--output", required=True, help=".blend file to write")
    parser.add_argument("--character", help="character file (.blend, .glb, .gltf, .fbx); "
                                            "default: DanceRev's own dancer")
    parser.add_argument("--model", help="checkpoint (.json); default: the built-in model")
    parser.add_argument("--map", help="rig map file for a rig with unusual bone names")
    parser.add_argument("--render", metavar="OUT.mp4", help="also render a video (the preview, "
                        "or with --render-with scene the .blend's own render)")
    parser.add_argument("--render-with", choices=RENDER_WITH, default="preview",
                        help="preview (default): a quick Workbench preview with DanceRev's "
                             "camera and floor; scene: the character .blend's own camera, "
                             "engine (EEVEE, Cycles), resolution, frame rate, colour "
                             "management and output format, over the dance's frames, with the "
                             "song in a movie (an image format writes --render as a folder of "
                             "frames)")
    parser.add_argument("--bvh", metavar="OUT.bvh", help="also export the dance as BVH")
    add_number(parser, "--seconds", bounds=SECONDS, help="length (default: the whole song)")
    add_number(parser, "--start", bounds=START, default=0.0, help="song second to start at")
    add_number(parser, "--seed", bounds=SEED, default=0, help="random seed (default 0)")
    add_number(parser, "--num", bounds=NUM, default=1, help="variations, each an Action")
    add_beat_sync_option(parser)
    add_shaping_options(parser)
    parser.add_argument("--nla", action="store_true",
                        help="put each variation on its own NLA track as a strip, leaving "
                             "the character's Action and tracks as they are (default: the "
                             "dance becomes the active Action)")
    add_number(parser, "--fps", bounds=FPS,
               help="scene frame rate (default: the .blend's, else 30)")
    parser.add_argument("--size", help="preview size (default 480x270; even, 16x16 to "
                                       f"{MAX_SIZE[0]}x{MAX_SIZE[1]}); with --render-with scene "
                                       "the .blend's resolution is used")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import DanceRevError
    from ..files import check_outputs, refuse_replacing_folder
    from ..weights_pair import pair_files
    from .blender_side import addon_module

    if args.render_with == "scene":
        if not args.render:
            raise DanceRevError("--render-with scene needs --render OUT (the movie, or the "
                                "folder of frames, to write)")
        if args.size is not None:
            raise DanceRevError("--size sets the preview's size; --render-with scene renders "
                                "at the .blend's own resolution")
    args.size = args.size or PREVIEW_SIZE
    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        raise DanceRevError(f"--size must look like 480x270, got {args.size!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise DanceRevError(f"--size must be even and at least 16x16, got {args.size!r}")
    if width > MAX_SIZE[0] or height > MAX_SIZE[1]:
        raise DanceRevError(f"--size must be at most {MAX_SIZE[0]}x{MAX_SIZE[1]}, got "
                            f"{args.size!r}")
    inputs = [args.audio, args.character, args.map,
              *(pair_files(args.model) if args.model else ())]
    if args.render_with == "scene" and Path(args.render).is_dir():  # frames replace frames
        check_outputs([args.output, args.bvh], inputs, folders=[args.render])
        refuse_replacing_folder(Path(args.render), [*inputs, args.output, args.bvh])
    else:
        check_outputs([args.output, args.render, args.bvh], inputs)
    args.size = (width, height)  # checked once, used as numbers from here on
    args.shaping = shaping_of(args)
    return addon_module("headless").main(args)
