"""The music stage: an audio file becomes MusicFeatures (438 values a frame, and the beats).

`audio` decodes (numpy alone at import), `features` holds MusicFeatures and the librosa
reference extraction, `fast_features` + `fast_chroma` + `spectral` reproduce it in numpy and
scipy, `cache` keeps analysed songs on disk, and `analysis.analyse_song` ties them together.
"""
