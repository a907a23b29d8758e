"""The data recipe: paired (music, 3D dance) training data from shippable sources.

Neither the CMU motion capture nor the permissively licensed songs come with a partner, so
the recipe makes the pairs (see `builder.build_dataset`):

1. sources.py   find the mocap clips and songs (with attributions); fix the held-out split
2. cleaning.py  one body size, feet on the floor, capture glitches cut out
3. routines.py  clean segments of one dancer joined into 20-60 s routines (blended joins)
4. songs        a real song excerpt or a song from `dancerev_core.recipe.synth`, analysed exactly as
                training will analyse it (its beats are the target)
5. warp.py      time-warp the routine so its kinematic beats land on the song's beats
6. augment.py   mirror, turn a little, centre
7. builder.py   write a paired dataset folder (`formats.paired_dataset`) and manifest.json

numpy/scipy only; never torch.
"""

from .builder import RecipeConfig, build_dataset

__all__ = ["RecipeConfig", "build_dataset"]
