"""The default dancer: a presentable humanoid built by code, so the panel works in an empty
scene.

The skeleton is Rigify's human metarig (bundled with Blender) used as it is, without
generating a control rig: its bone names are the Rigify rig map's, so the dance is
detected and keyed on it like on any user rig. The body is one mesh of rounded segments
(capsules with elliptic sections), one per major bone, each rigidly weighted to its bone
through a vertex group and deformed by an Armature modifier: a clean mannequin look with
no skinning artefacts, built in numpy in a few milliseconds.
"""

from __future__ import annotations

import importlib

import bpy
import numpy as np

NAME = "DanceRev Dancer"
COLOR = (0.80, 0.42, 0.20, 1.0)
HIDDEN_BONE_COLLECTIONS = ("Face", "Face (Primary)", "Face (Secondary)", "Fingers (Detail)")

# bone: (start, end as fractions from the bone's head to its tail, radius in metres,
#        section scale across the body, section scale front to back)
SEGMENTS = {
    "spine": (0.1, 0.9, 0.125, 1.35, 0.85),
    "spine.001": (0.0, 1.0, 0.115, 1.25, 0.8),
    "spine.002": (0.0, 1.0, 0.125, 1.3, 0.8),
    "spine.003": (0.0, 0.6, 0.14, 1.3, 0.72),
    "spine.004": (0.0, 1.0, 0.048, 1.0, 1.0),
    "spine.005": (0.0, 1.0, 0.045, 1.0, 1.0),
    "spine.006": (0.3, 0.5, 0.1, 0.92, 1.05),
}
for _side in ("L", "R"):
    SEGMENTS.update({
        f"shoulder.{_side}": (0.35, 0.9, 0.055, 1.0, 1.0),
        f"upper_arm.{_side}": (0.0, 1.0, 0.05, 1.0, 1.0),
        f"forearm.{_side}": (0.0, 1.0, 0.04, 1.0, 1.0),
        f"hand.{_side}": (0.1, 1.6, 0.035, 1.0, 0.6),
        f"thigh.{_side}": (0.08, 1.0, 0.075, 1.0, 1.0),
        f"shin.{_side}": (0.0, 1.0, 0.055, 1.0, 1.0),
        f"foot.{_side}": (0.15, 1.0, 0.042, 1.15, 0.8),
        f"toe.{_side}": (0.0, 0.7, 0.032, 1.1, 0.75),
    })


def ensure_rigify() -> None:
    """Enable Blender's bundled Rigify add-on (its preferences entry included)."""
    import addon_utils

    if not addon_utils.check("rigify")[1]:
        addon_utils.enable("rigify", default_set=True)


def capsule(head: np.ndarray, tail: np.ndarray, radius: float, across: float = 1.0,
            depth: float = 1.0, sides: int = 16, rings: int = 5
            ) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Vertices (V x 3) and faces of a capsule around the segment head -> tail.

    The section is an ellipse: `radius * across` along the world X axis as seen across the
    segment (world Y for segments that run along X), `radius * depth` at right angles;
    the ends are half ellipsoids.
    """
    head, tail = np.asarray(head, np.float64), np.asarray(tail, np.float64)
    axis = tail - head
    length = np.linalg.norm(axis)
    along = axis / length if length > 1e-9 else np.array([0.0, 0.0, 1.0])
    side = np.array([1.0, 0.0, 0.0]) if abs(along[0]) < 0.7 else np.array([0.0, 1.0, 0.0])
    u = side - along * (side @ along)
    u /= np.linalg.norm(u)
    v = np.cross(along, u)
    # latitudes from the bottom pole to the top one; the two half spheres meet at 0
    lower = np.linspace(-np.pi / 2, 0.0, rings + 1)[1:]
    upper = np.linspace(0.0, np.pi / 2, rings + 1)[:-1]
    latitudes = np.concatenate([lower, upper])
    offsets = np.concatenate([np.zeros(rings), np.full(rings, length)])
    angles = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    ring_radius = radius * np.cos(latitudes)[:, None]
    ring = head + (offsets + radius * np.sin(latitudes))[:, None, None] * along \
        + (ring_radius * np.cos(angles) * across)[..., None] * u \
        + (ring_radius * np.sin(angles) * depth)[..., None] * v
    vertices = np.concatenate([[head - radius * along], ring.reshape(-1, 3),
                               [tail + radius * along]])
    count, top = len(latitudes), len(vertices) - 1
    faces: list[tuple[int, ...]] = []
    for j in range(sides):
        k = (j + 1) % sides
        faces.append((0, 1 + k, 1 + j))
        for r in range(count - 1):
            a, b = 1 + r * sides, 1 + (r + 1) * sides
            faces.append((a + j, a + k, b + k, b + j))
        last = 1 + (count - 1) * sides
        faces.append((last + j, last + k, top))
    return vertices, faces


def body_mesh(rig: bpy.types.Object, name: str) -> tuple[bpy.types.Mesh, dict[str, range]]:
    """The body mesh in the rig's armature space, and the vertex range of each bone."""
    bones = rig.data.bones
    parts, faces, ranges, start = [], [], {}, 0
    for bone, (a, b, radius, across, depth) in SEGMENTS.items():
        if bone not in bones:
            continue
        head = np.array(bones[bone].head_local)
        tail = np.array(bones[bone].tail_local)
        vertices, polygons = capsule(head + a * (tail - head), head + b * (tail - head),
                                     radius, across, depth)
        parts.append(vertices)
        faces += [tuple(start + i for i in face) for face in polygons]
        ranges[bone] = range(start, start + len(vertices))
        start += len(vertices)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.concatenate(parts).tolist(), [], faces)
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    mesh.update()
    return mesh, ranges


def plain_material(name: str) -> bpy.types.Material:
    """One matte colour, in the viewport (Workbench) and in renders (Principled BSDF)."""
    material = bpy.data.materials.new(name)
    material.diffuse_color = COLOR
    material.roughness = 0.6
    if material.node_tree is None:  # before Blender 5.0 node trees were optional
        material.use_nodes = True
    shader = material.node_tree.nodes.get("Principled BSDF")
    if shader is not None:
        shader.inputs["Base Color"].default_value = COLOR
        shader.inputs["Roughness"].default_value = 0.6
    return material


def metarig(name: str, scene: bpy.types.Scene, collection: bpy.types.Collection,
            view_layer: bpy.types.ViewLayer) -> bpy.types.Object:
    """Rigify's human metarig as a new armature object (made active in the view layer).

    Rigify builds it in edit mode, which needs the object active; the previous mode is
    left first so this works from any state, headless included.
    """
    ensure_rigify()
    human = importlib.import_module("rigify.metarigs.human")
    active = view_layer.objects.active
    if active is not None and active.mode != "OBJECT":
        with bpy.context.temp_override(scene=scene, view_layer=view_layer,
                                       active_object=active, object=active):
            bpy.ops.object.mode_set(mode="OBJECT")
    armature = bpy.data.armatures.new(name)
    rig = bpy.data.objects.new(name, armature)
    collection.objects.link(rig)
    view_layer.objects.active = rig
    with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=rig,
                                   object=rig):
        human.create(rig)
        bpy.ops.object.mode_set(mode="OBJECT")
    for bone_collection in armature.collections_all:
        if bone_collection.name in HIDDEN_BONE_COLLECTIONS:
            bone_collection.is_visible = False
    return rig


def build_default_character(scene: bpy.types.Scene | None = None,
                            collection: bpy.types.Collection | None = None,
                            name: str = NAME) -> bpy.types.Object:
    """Add the default dancer to the scene; returns its armature (the body is its child).

    It stands at the origin facing -Y (Blender's front view), 1.98 m tall, made active and
    selected so the panel picks it up.
    """
    scene = scene or bpy.context.scene
    view_layer = (bpy.context.view_layer if scene == bpy.context.scene
                  else scene.view_layers[0])
    collection = collection or scene.collection
    rig = metarig(name, scene, collection, view_layer)
    mesh, ranges = body_mesh(rig, f"{name} Body")
    mesh.materials.append(plain_material(name))
    body = bpy.data.objects.new(f"{name} Body", mesh)
    collection.objects.link(body)
    body.parent = rig
    for bone, indices in ranges.items():
        body.vertex_groups.new(name=bone).add(list(indices), 1.0, "REPLACE")
    body.modifiers.new("Armature", "ARMATURE").object = rig
    for obj in view_layer.objects:
        obj.select_set(obj == rig, view_layer=view_layer)
    view_layer.objects.active = rig
    return rig
