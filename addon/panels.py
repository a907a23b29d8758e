"""The sidebar panel: what DanceRev sees of the active character."""

import bpy

from .armature import armature_rest
from .core import dancerev_core, errors, retarget


def rig_summary(obj: bpy.types.Object | None) -> str:
    """One line naming the rig map chosen for the active armature, or why there is none."""
    rest = armature_rest(obj)
    if rest is None:
        return "Select an armature"
    try:
        return f"Rig: {retarget.detect_bone_map(rest).chosen}"
    except errors.DanceRevError:
        return f"Rig not recognised ({rest.num_bones} bones)"


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
