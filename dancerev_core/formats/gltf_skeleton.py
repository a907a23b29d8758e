"""The joint tree and rest pose of a glTF skin (.glb or .gltf), standard library + numpy.

Two rest poses exist in a skinned glTF file and they can differ (RobotExpressive: T-pose
bind, arms-down nodes):
- "bind" (default): the pose the mesh was bound in, from the skin's inverse bind matrices
  placed by the skinned mesh node's world transform (as three.js and Blender's importer
  use it); this is the rest pose a Blender armature gets on import;
- "nodes": the joints' default node transforms (TRS or `matrix`) composed with every
  ancestor node of the scene.
glTF is Y up with the asset's front facing +Z; positions and orientations come out in
DanceRev's frame (Z up, facing -Y, left at +X), in the file's metres.

glTF joints have no tails. A joint's tail here is the mean head of its child joints; a
leaf gets a segment half as long as its parent's, along its own +Y axis when the file
follows Blender's bone axes (a single child always lies on the parent's +Y), else
continuing its parent's direction.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import numpy as np

from ..errors import InputFileError

GLB_MAGIC = b"glTF"
JSON_CHUNK = 0x4E4F534A
BIN_CHUNK = 0x004E4942
GLTF_TO_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True, eq=False)
class GltfSkeleton:
    """A skin's joints in canonical world space: heads, tails and rest orientations."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    heads: np.ndarray
    tails: np.ndarray
    matrices: np.ndarray
    skin: int


def read_gltf(path: str | Path) -> tuple[dict, bytes | None]:
    """The JSON document of a .gltf/.glb file and the GLB's binary chunk (if any)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    binary = None
    if raw[:4] == GLB_MAGIC:
        if len(raw) < 20:
            raise InputFileError(path, "truncated GLB header")
        _, version, _ = struct.unpack_from("<4sII", raw, 0)
        length, kind = struct.unpack_from("<II", raw, 12)
        if version != 2 or kind != JSON_CHUNK or 20 + length > len(raw):
            raise InputFileError(path, "not a glTF 2.0 binary with a JSON chunk")
        text = raw[20:20 + length]
        start = 20 + length
        if start + 8 <= len(raw):
            size, kind = struct.unpack_from("<II", raw, start)
            if kind == BIN_CHUNK:
                binary = raw[start + 8:start + 8 + size]
    else:
        text = raw
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(path, f"not valid glTF JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
        raise InputFileError(path, "glTF document has no nodes")
    return document, binary


def _buffer(document: dict, index: int, path: Path, binary: bytes | None) -> bytes:
    buffer = document["buffers"][index]
    uri = buffer.get("uri")
    if uri is None:
        if binary is None:
            raise InputFileError(path, "buffer without a URI outside a GLB file")
        return binary
    if uri.startswith("data:"):
        return base64.b64decode(uri.split(",", 1)[1])
    try:
        return (path.parent / unquote(uri)).read_bytes()
    except OSError as error:
        raise InputFileError(path, f"cannot read buffer {uri!r} ({error})") from None


def _matrices(document: dict, accessor_index: int, path: Path,
              binary: bytes | None) -> np.ndarray:
    """A MAT4 float accessor as N x 4 x 4 matrices (column vectors)."""
    accessor = document["accessors"][accessor_index]
    if accessor.get("type") != "MAT4" or accessor.get("componentType") != 5126:
        raise InputFileError(path, "inverse bind matrices are not float MAT4")
    view = document["bufferViews"][accessor["bufferView"]]
    data = _buffer(document, view["buffer"], path, binary)
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    stride = view.get("byteStride", 64)
    count = accessor["count"]
    rows = [np.frombuffer(data, dtype="<f4", count=16, offset=start + i * stride)
            for i in range(count)]
    return np.stack(rows).reshape(count, 4, 4).transpose(0, 2, 1).astype(np.float64)


def _quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def node_matrix(node: dict) -> np.ndarray:
    """A node's local 4 x 4 transform (column vectors)."""
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
    matrix = np.eye(4)
    rotation = _quaternion_matrix(*node.get("rotation", (0.0, 0.0, 0.0, 1.0)))
    matrix[:3, :3] = rotation * np.asarray(node.get("scale", (1.0, 1.0, 1.0)))
    matrix[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return matrix


def read_gltf_skeleton(path: str | Path, skin: int = 0,
                       pose: Literal["bind", "nodes"] = "bind") -> GltfSkeleton:
    """Rest pose of skin `skin` of a glTF file (see the module docstring for `pose`)."""
    path = Path(path)
    document, binary = read_gltf(path)
    nodes = document["nodes"]
    skins = document.get("skins") or []
    if not 0 <= skin < len(skins):
        raise InputFileError(path, f"has {len(skins)} skins; skin {skin} does not exist")
    joints = [int(j) for j in skins[skin].get("joints", [])]
    if not joints:
        raise InputFileError(path, f"skin {skin} has no joints")
    parent_of: dict[int, int] = {}
    for index, node in enumerate(nodes):
        for child in node.get("children", []):
            parent_of[int(child)] = index
    world: dict[int, np.ndarray] = {}

    def global_matrix(index: int) -> np.ndarray:
        if index not in world:
            local = node_matrix(nodes[index])
            parent = parent_of.get(index)
            world[index] = local if parent is None else global_matrix(parent) @ local
        return world[index]

    position = {node: i for i, node in enumerate(joints)}
    parents = []
    for node in joints:
        parent = parent_of.get(node)
        while parent is not None and parent not in position:
            parent = parent_of.get(parent)
        parents.append(-1 if parent is None else position[parent])
    if pose == "nodes" or "inverseBindMatrices" not in skins[skin]:
        matrices = np.stack([global_matrix(node) for node in joints])
    elif pose == "bind":
        inverse = _matrices(document, skins[skin]["inverseBindMatrices"], path, binary)
        meshes = [i for i, node in enumerate(nodes) if node.get("skin") == skin]
        mesh = global_matrix(meshes[0]) if meshes else np.eye(4)
        matrices = mesh @ np.linalg.inv(inverse)
    else:
        raise InputFileError(path, f"pose must be 'bind' or 'nodes', not {pose!r}")
    heads = matrices[:, :3, 3] @ GLTF_TO_CANONICAL.T
    axes = GLTF_TO_CANONICAL @ matrices[:, :3, :3]
    axes = axes / np.maximum(np.linalg.norm(axes, axis=1, keepdims=True), 1e-12)
    names = tuple(str(nodes[node].get("name", f"joint_{node}")) for node in joints)
    return GltfSkeleton(names=names, parents=tuple(parents), heads=heads,
                        tails=_tails(parents, heads, axes), matrices=axes, skin=skin)


def _tails(parents: list[int], heads: np.ndarray, axes: np.ndarray) -> np.ndarray:
    children: dict[int, list[int]] = {}
    for index, parent in enumerate(parents):
        children.setdefault(parent, []).append(index)
    on_y = []
    for index in range(len(parents)):
        kids = children.get(index, [])
        offset = heads[kids[0]] - heads[index] if len(kids) == 1 else None
        if offset is not None and np.linalg.norm(offset) > 1e-9:
            on_y.append(offset @ axes[index][:, 1] >= 0.99 * np.linalg.norm(offset))
    blender_axes = bool(on_y) and float(np.mean(on_y)) > 0.9
    tails = heads.copy()
    for index, parent in enumerate(parents):
        kids = children.get(index, [])
        if kids:
            tails[index] = heads[kids].mean(axis=0)
            continue
        parent_length = float(np.linalg.norm(heads[index] - heads[parent])) if parent >= 0 else 0
        length = 0.5 * parent_length if parent_length > 0 else 0.1
        if blender_axes:
            direction = axes[index][:, 1]
        elif parent_length > 0:
            direction = (heads[index] - heads[parent]) / parent_length
        else:
            direction = np.array([0.0, 0.0, 1.0])
        tails[index] = heads[index] + direction * length
    return tails
