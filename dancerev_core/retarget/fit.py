"""The dance brought to the character's proportions, so that feet planted there stay planted.

`retarget` takes each bone's direction from the canonical joints and its length and rest
offsets from the character, and scales the root motion by the leg-length ratio
(`Retargeted.scale`). Where the character's proportions differ from the dancer's (a longer
shin, hips set lower under the pelvis or further apart), a foot the dance pins to the floor
does not stay pinned on the rig: the same directions with other lengths and offsets put the
ankle elsewhere in every frame (issue 18: 0.55 m/s of skating on the canonical dance became
0.89 m/s on the default dancer's ankles and toes).

`in_rig_proportions` retargets the dance once, reads back where the rig's joints go
(`rig_joints`: forward kinematics of the result on the rest pose, numpy, the solver's own
model of the rig) and brings those into the dancer's scale about the pelvis (divided by the
leg ratio, which therefore does not change). The caller plants the feet again on that
(`generation.feet.plant_feet`: the add-on's `dance.retarget_dances`) and retargets it.
Giving each bone the character's length alone
(`lifting.postprocess.constant_bone_lengths`) is not enough: the pelvis turns the rig's own
hip offsets, which point elsewhere than the dancer's (6 cm of ankle error on the default
dancer, 0.77 m/s). Retargeting the result then reproduces it on the rig up to the one
similarity the root motion applies, so a pinned ankle is a pinned rig ankle. Joints the rig
does not map (toes on a rig without toe bones) hang on their parent with the dancer's own
offset. numpy only.
"""

from __future__ import annotations

import numpy as np

from ..motion import Motion
from ..skeletons import CANONICAL_24
from .rest import RigRest
from .rigmaps import END, BoneMap
from .rotations import quaternion_to_matrix
from .solver import Retargeted, as_positions, retarget


def rig_joints(result: Retargeted, rest: RigRest) -> np.ndarray:
    """World positions (T x 24 x 3, NaN where the rig maps no joint) of the canonical joints
    on the rig posed by `result`, as the solver builds them: P_b = P_p @ inv(M_p) @ M_b @
    T(location) @ R(rotation), bones in the rig map's copy_transforms following their
    source."""
    frames = result.num_frames
    matrices = quaternion_to_matrix(result.rotations)  # T x B x 3 x 3, in rest axes
    copies = {rest.index[k]: rest.index[v]
              for k, v in result.bone_map.copy_transforms.items()}
    turns: dict[int, np.ndarray] = {}  # world rotation delta per bone (armature space)
    heads: dict[int, np.ndarray] = {}
    identity = np.broadcast_to(np.eye(3), (frames, 3, 3))

    def solve(bone: int) -> None:
        if bone in heads:
            return
        parent = rest.parents[bone]
        if bone in copies:
            source = copies[bone]
            solve(source)
            turns[bone] = turns[source]
            heads[bone] = heads[source] + turns[source] @ (rest.heads[bone]
                                                           - rest.heads[source])
            return
        if parent < 0:
            parent_turn, base = identity, np.broadcast_to(rest.heads[bone], (frames, 3))
        else:
            solve(parent)
            parent_turn = turns[parent]
            base = heads[parent] + parent_turn @ (rest.heads[bone] - rest.heads[parent])
        basis = rest.matrices[bone]
        heads[bone] = base + np.einsum("tij,tj->ti", parent_turn @ basis,
                                       result.locations[:, bone])
        turns[bone] = parent_turn @ basis @ matrices[:, bone] @ basis.T

    points = np.full((frames, CANONICAL_24.num_joints, 3), np.nan)
    for joint, blend in result.bone_map.points.items():
        total = np.zeros((frames, 3))
        for key, weight in blend.items():
            bone = rest.index[key[:-len(END)] if key.endswith(END) else key]
            solve(bone)
            total = total + weight * heads[bone]
            if key.endswith(END):
                total = total + weight * (turns[bone] @ (rest.tails[bone] - rest.heads[bone]))
        points[:, CANONICAL_24.joint_names.index(joint)] = rest.to_world(total)
    return points


def in_rig_proportions(positions: Motion | np.ndarray, rest: RigRest, bone_map: BoneMap,
                       fps: float | None = None) -> np.ndarray:
    """Canonical joints (T x 24 x 3, metres) as the character's skeleton would hold them,
    in the dancer's scale (module docstring): what `retarget` reproduces on the rig exactly
    but for the root motion's similarity. `fps` is the dance's frame rate (a Motion's own by
    default, else 30)."""
    if fps is None:
        fps = positions.fps if isinstance(positions, Motion) else 30.0
    world = as_positions(positions)
    first = retarget(world, rest, bone_map, fps=fps)
    rig = rig_joints(first, rest)
    pelvis = CANONICAL_24.joint_names.index("pelvis")
    fitted = world.copy()
    for joint in CANONICAL_24.topological_order:
        parent = CANONICAL_24.parents[joint]
        if np.isfinite(rig[:, joint]).all():
            fitted[:, joint] = world[:, pelvis] + (rig[:, joint] - rig[:, pelvis]) / first.scale
        elif parent >= 0:  # not on the rig: the dancer's own offset from its parent
            fitted[:, joint] = fitted[:, parent] + world[:, joint] - world[:, parent]
    return fitted
