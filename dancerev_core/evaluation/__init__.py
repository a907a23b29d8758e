"""Evaluation: the paper's metrics and the 3D benchmark metrics, numpy (+ scipy) only."""
