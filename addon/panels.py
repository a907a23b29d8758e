"""The sidebar panel: what DanceRev sees of the active character."""

import bpy

from .core import dancerev_core, errors, joint_maps


def armature_bone_names(obj: bpy.types.Object | None) -> list[str]:
    if obj is None or obj.type != "ARMATURE":
        return []
    return [bone.name for bone in obj.data.bones]


def rig_summary(obj: bpy.types.Object | None) -> str:
    """One line naming the active armature's joint map, or why there is none."""
    names = armature_bone_names(obj)
    if not names:
        return "Select an armature"
    try:
        return f"Rig: {joint_maps.detect_joint_map(names).name}"
    except errors.DanceRevError:
        return f"Rig not recognised ({len(names)} bones)"


class DANCEREV_PT_main(bpy.types.Panel):
    bl_label = "DanceRev"
    bl_idname = "DANCEREV_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Dance"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.label(text=f"DanceRev {dancerev_core.__version__}")
        layout.label(text=rig_summary(context.active_object), icon="ARMATURE_DATA")


classes = (DANCEREV_PT_main,)
