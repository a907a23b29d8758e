"""The generation stage: MusicFeatures and a trained model become a finished dance.

`pipeline` decodes and finishes (`generate_dance`), `song` does it for a song file as the
command line and the worker ask, `plausible` keeps the body physical, `beat_sync` re-times
the dance onto the beats through `time_warp`'s piecewise-linear warps.
"""
