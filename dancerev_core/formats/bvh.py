"""BVH motion capture files: read, forward kinematics, write.

A `Bvh` keeps the file's own skeleton (joint names, parents, offsets, channel layout, end
sites) and its channel values, so writing it back reproduces the file. Conventions, as in
the BVH files of CMU, Character Creator, Daz and Blender's importer:
- rotation channels apply in the order listed: `Zrotation Yrotation Xrotation` means
  R = Rz @ Ry @ Rx acting on column vectors, angles in degrees;
- position channels are read one of two ways, both found in the wild: absolute (the values
  replace the OFFSET, as Blender's importer assumes) or relative (added to the OFFSET, as in
  the CMU Character Creator files, whose root OFFSET holds the hip height and whose channels
  hover around zero). Per joint, the values are taken as absolute when their median lies
  nearer the OFFSET than zero on the axes where the OFFSET is not zero;
- frame k is at k * frame_time seconds; a frame time within 0.1 % of a whole frame rate
  (0.016667 -> 60 fps) is read as that rate.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import DanceRevError, InputFileError
from ..files import atomic_output
from ..motion import Motion

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
KNOWN_CHANNELS = POSITION_CHANNELS + ROTATION_CHANNELS
END_SITE_SUFFIX = ".end"


@dataclass(frozen=True)
class BvhJoint:
    """One ROOT or JOINT; `end_site` is the offset of its End Site child, if it has one."""

    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: tuple[str, ...]
    end_site: tuple[float, float, float] | None = None


@dataclass(frozen=True, eq=False)
class Bvh:
    """A parsed BVH file: skeleton plus T x C channel values in file order."""

    joints: tuple[BvhJoint, ...]
    frame_time: float
    channel_values: np.ndarray

    @property
    def num_frames(self) -> int:
        return self.channel_values.shape[0]

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(joint.name for joint in self.joints)

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(joint.parent for joint in self.joints)

    @property
    def fps(self) -> float:
        return frame_time_to_fps(self.frame_time)

    @cached_property
    def channel_offsets(self) -> tuple[int, ...]:
        """Index of each joint's first channel in a frame's values."""
        starts, position = [], 0
        for joint in self.joints:
            starts.append(position)
            position += len(joint.channels)
        return tuple(starts)

    @cached_property
    def translation_adds_offset(self) -> tuple[bool, ...]:
        """Per joint: do its position channels add to the OFFSET (True) or replace it?"""
        modes = []
        for index, joint in enumerate(self.joints):
            axes = [POSITION_CHANNELS.index(c) for c in joint.channels if c in POSITION_CHANNELS]
            start = self.channel_offsets[index]
            columns = [start + joint.channels.index(POSITION_CHANNELS[a]) for a in axes]
            offset = np.asarray(joint.offset)[axes]
            if not axes or not np.any(offset):
                modes.append(False)
                continue
            median = np.median(self.channel_values[:, columns], axis=0)
            nonzero = offset != 0
            nearer_offset = np.abs(median - offset)[nonzero].sum() < np.abs(median)[nonzero].sum()
            modes.append(not nearer_offset)
        return tuple(modes)

    def skeleton_size(self) -> float:
        """Extent of the rest pose (offsets only), the scale that tolerances refer to."""
        rest = self.rest_positions()
        return float(np.linalg.norm(rest.max(axis=0) - rest.min(axis=0)))

    def rest_positions(self) -> np.ndarray:
        """J x 3 joint positions from the offsets alone, with no channel applied."""
        positions = np.zeros((len(self.joints), 3))
        for index, joint in enumerate(self.joints):
            base = positions[joint.parent] if joint.parent >= 0 else 0.0
            positions[index] = base + np.asarray(joint.offset)
        return positions

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: (T x J x 3 x 3 rotations, T x J x 3 positions), file units."""
        frames = self.num_frames
        rotations = np.empty((frames, len(self.joints), 3, 3))
        positions = np.empty((frames, len(self.joints), 3))
        for index, joint in enumerate(self.joints):
            start = self.channel_offsets[index]
            values = self.channel_values[:, start:start + len(joint.channels)]
            translation = np.broadcast_to(np.asarray(joint.offset), (frames, 3)).copy()
            local = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
            adds = self.translation_adds_offset[index]
            for column, channel in enumerate(joint.channels):
                if channel in POSITION_CHANNELS:
                    axis = POSITION_CHANNELS.index(channel)
                    if adds:
                        translation[:, axis] += values[:, column]
                    else:
                        translation[:, axis] = values[:, column]
                else:
                    axis = ROTATION_CHANNELS.index(channel)
                    local = local @ axis_rotations(axis, np.radians(values[:, column]))
            if joint.parent < 0:
                rotations[:, index] = local
                positions[:, index] = translation
            else:
                parent_rotation = rotations[:, joint.parent]
                rotations[:, index] = parent_rotation @ local
                positions[:, index] = positions[:, joint.parent] + np.einsum(
                    "tij,tj->ti", parent_rotation, translation)
        return rotations, positions

    def positions(self, include_end_sites: bool = False) -> tuple[np.ndarray, tuple[str, ...]]:
        """T x J x 3 joint positions in file units and the names of their joints.

        With `include_end_sites`, end sites follow the joints as `<joint>.end`.
        """
        rotations, positions = self.global_transforms()
        names = list(self.joint_names)
        if include_end_sites:
            ends = [(i, joint) for i, joint in enumerate(self.joints) if joint.end_site]
            if ends:
                extra = np.stack([
                    positions[:, i] + rotations[:, i] @ np.asarray(joint.end_site)
                    for i, joint in ends], axis=1)
                positions = np.concatenate([positions, extra], axis=1)
                names += [joint.name + END_SITE_SUFFIX for _, joint in ends]
        return positions, tuple(names)

    def to_motion(self, source: str = "") -> Motion:
        """Every ROOT and JOINT in file order (end sites excluded), in the file's units."""
        positions, names = self.positions()
        return Motion(positions=positions, fps=self.fps, skeleton="raw", joint_names=names,
                      parents=self.parents,
                      meta={"source": source, "source_format": "bvh", "axes": "bvh y-up"})


def frame_time_to_fps(frame_time: float) -> float:
    """1 / frame_time, snapped to a whole rate when the file rounded it (0.016667 -> 60)."""
    fps = 1.0 / frame_time
    whole = round(fps)
    return float(whole) if whole > 0 and abs(fps - whole) <= 1e-3 * whole else fps


def axis_rotations(axis: int, angles: np.ndarray) -> np.ndarray:
    """N x 3 x 3 right-handed rotations about axis 0 (x), 1 (y) or 2 (z)."""
    cos, sin = np.cos(angles), np.sin(angles)
    matrices = np.zeros(angles.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    matrices[..., axis, axis] = 1.0
    matrices[..., i, i] = cos
    matrices[..., j, j] = cos
    matrices[..., i, j] = -sin
    matrices[..., j, i] = sin
    return matrices


# ---------------------------------------------------------------------------------- reading
class _Tokens:
    """The HIERARCHY section as a token stream that knows its line numbers for errors."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.items = [(word, number) for number, line in enumerate(text.splitlines(), 1)
                      for word in line.split()]
        self.position = 0

    def next(self, what: str) -> str:
        if self.position >= len(self.items):
            raise InputFileError(self.path, f"ends inside the HIERARCHY section while "
                                            f"expecting {what} (truncated file?)")
        word = self.items[self.position][0]
        self.position += 1
        return word

    def expect(self, expected: str) -> None:
        word = self.next(repr(expected))
        if word != expected:
            raise self.error(f"expected {expected!r}, found {word!r}")

    def number(self, what: str) -> float:
        word = self.next(what)
        try:
            value = float(word)
        except ValueError:
            raise self.error(f"expected a number for {what}, found {word!r}") from None
        if not np.isfinite(value):
            raise self.error(f"{what} is {word}")
        return value

    def error(self, problem: str) -> InputFileError:
        line = self.items[max(self.position - 1, 0)][1] if self.items else 1
        return InputFileError(self.path, f"line {line}: {problem}")


def _parse_joint(tokens: _Tokens, name: str, parent: int, joints: list[BvhJoint]) -> None:
    tokens.expect("{")
    tokens.expect("OFFSET")
    offset = tuple(tokens.number(f"{name} OFFSET") for _ in range(3))
    tokens.expect("CHANNELS")
    count_word = tokens.next("a channel count")
    if not count_word.isdigit():
        raise tokens.error(f"joint {name}: channel count {count_word!r} is not a number")
    channels = tuple(tokens.next("a channel name") for _ in range(int(count_word)))
    for channel in channels:
        if channel not in KNOWN_CHANNELS:
            raise tokens.error(f"joint {name}: unknown channel {channel!r}")
    if len(set(channels)) != len(channels):
        raise tokens.error(f"joint {name}: repeated channel")
    index = len(joints)
    joints.append(BvhJoint(name, parent, offset, channels))
    while True:
        word = tokens.next("'JOINT', 'End Site' or '}'")
        if word == "}":
            return
        if word == "JOINT":
            _parse_joint(tokens, tokens.next("a joint name"), index, joints)
        elif word == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            end = tuple(tokens.number(f"{name} End Site OFFSET") for _ in range(3))
            tokens.expect("}")
            joints[index] = BvhJoint(name, parent, offset, channels, end)
        else:
            raise tokens.error(f"joint {name}: unexpected {word!r}")


def parse_bvh(text: str, path: str | Path = "<text>") -> Bvh:
    """Parse BVH text; errors name `path` and the line."""
    path = Path(path)
    if not text.strip():
        raise InputFileError(path, "file is empty")
    head, separator, motion_text = text.partition("MOTION")
    if not separator:
        raise InputFileError(path, "no MOTION section (truncated file, or not a BVH file)")
    tokens = _Tokens(path, head)
    tokens.expect("HIERARCHY")
    joints: list[BvhJoint] = []
    while tokens.position < len(tokens.items):
        tokens.expect("ROOT")
        _parse_joint(tokens, tokens.next("a root name"), -1, joints)
    if not joints:
        raise InputFileError(path, "HIERARCHY has no ROOT joint")
    names = [joint.name for joint in joints]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise InputFileError(path, f"joint name {duplicate!r} appears twice")
    first_line = head.count("\n") + 1
    frame_time, values = _parse_motion(path, motion_text, joints, first_line)
    return Bvh(tuple(joints), frame_time, values)


def _parse_motion(path: Path, text: str, joints: list[BvhJoint],
                  first_line: int) -> tuple[float, np.ndarray]:
    lines = text.splitlines()
    header: dict[str, str] = {}
    body_start = 1  # lines[0] is the rest of the "MOTION" line
    while body_start < len(lines) and ":" in lines[body_start]:
        key, _, value = lines[body_start].partition(":")
        header[key.strip().lower()] = value.strip()
        body_start += 1
    if "frames" not in header or "frame time" not in header:
        raise InputFileError(path, "MOTION section lacks 'Frames:' or 'Frame Time:' "
                                   "(truncated file?)")
    try:
        declared = int(header["frames"])
        frame_time = float(header["frame time"])
    except ValueError:
        raise InputFileError(path, f"bad MOTION header: Frames {header['frames']!r}, "
                                   f"Frame Time {header['frame time']!r}") from None
    if declared <= 0:
        raise InputFileError(path, f"declares {declared} frames; a motion needs at least one")
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise InputFileError(path, f"Frame Time must be positive, got {header['frame time']}")
    channel_count = sum(len(joint.channels) for joint in joints)
    rows = [line for line in lines[body_start:] if line.strip()]
    if len(rows) < declared:
        raise InputFileError(path, f"declares {declared} frames but has {len(rows)} "
                                   f"(truncated file?)")
    if len(rows) > declared:
        raise InputFileError(path, f"declares {declared} frames but has {len(rows)}")
    try:
        values = np.loadtxt(io.StringIO("\n".join(rows)), dtype=np.float64, ndmin=2)
    except ValueError:
        for number, row in enumerate(rows):
            count = len(row.split())
            if count != channel_count:
                raise InputFileError(
                    path, f"line {first_line + body_start + number}: frame {number} has "
                          f"{count} values, the hierarchy declares {channel_count} "
                          f"channels") from None
        raise InputFileError(path, "MOTION section has values that are not numbers") from None
    if values.shape[1] != channel_count:
        raise InputFileError(path, f"frames have {values.shape[1]} values, the hierarchy "
                                   f"declares {channel_count} channels")
    if not np.isfinite(values).all():
        frame = int(np.argwhere(~np.isfinite(values))[0][0])
        raise InputFileError(path, f"frame {frame} contains NaN or infinite values")
    return frame_time, values


def read_bvh(path: str | Path) -> Bvh:
    """Read a BVH file (any rotation order, position channels on any joint)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InputFileError(path, "not a text file (is it really a BVH?)") from None
    return parse_bvh(text, path)


# ---------------------------------------------------------------------------------- writing
def format_bvh(bvh: Bvh, decimals: int = 6) -> str:
    """BVH text for `bvh`; six decimals keep a round trip within 1e-6 of the values."""
    children: dict[int, list[int]] = {}
    for index, joint in enumerate(bvh.joints):
        children.setdefault(joint.parent, []).append(index)
    out = ["HIERARCHY"]

    def write_joint(index: int, depth: int) -> None:
        joint = bvh.joints[index]
        pad = "\t" * depth
        keyword = "ROOT" if joint.parent < 0 else "JOINT"
        out.append(f"{pad}{keyword} {joint.name}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET {_numbers(joint.offset, decimals)}")
        out.append(f"{pad}\tCHANNELS {len(joint.channels)} {' '.join(joint.channels)}")
        for child in children.get(index, []):
            write_joint(child, depth + 1)
        if joint.end_site is not None:
            out.extend([f"{pad}\tEnd Site", f"{pad}\t{{",
                        f"{pad}\t\tOFFSET {_numbers(joint.end_site, decimals)}", f"{pad}\t}}"])
        out.append(f"{pad}}}")

    for root in children.get(-1, []):
        write_joint(root, 0)
    out += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.6f}"]
    stream = io.StringIO()
    np.savetxt(stream, bvh.channel_values, fmt=f"%.{decimals}f", delimiter=" ")
    return "\n".join(out) + "\n" + stream.getvalue()


def write_bvh(bvh: Bvh, path: str | Path) -> Path:
    """Write atomically: the old file survives a failure half way."""
    with atomic_output(path, "w") as stream:
        stream.write(format_bvh(bvh))
    return Path(path)


def _numbers(values: tuple[float, ...], decimals: int) -> str:
    return " ".join(f"{value:.{decimals}f}" for value in values)


def check_bvh_matches(bvh: Bvh, motion: Motion) -> None:
    """Raise if a motion does not carry this BVH's joints (used before writing rotations)."""
    if motion.joint_names != bvh.joint_names:
        raise DanceRevError("motion joints differ from the BVH skeleton's joints")
