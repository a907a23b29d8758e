"""Everything only the shipped default model needs: how it is built, chosen and judged.

`pairing` makes the paired training set (CMU motion warped onto songs' beats), `synth`
renders the project's own songs (and the demo groove), `shipped` knows where the shipped
model and its recipe live and exports a run into them, `choose` picks the checkpoint to ship
without the test songs, `evaluate` + `quality_report` measure it on held-out songs.
"""
