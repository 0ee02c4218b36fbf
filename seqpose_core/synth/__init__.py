"""Synthetic scenes in the NOCS REAL layout: category meshes, ray-cast rendering, videos.

The generator exists because the NOCS datasets cannot be downloaded here: it feeds every
reader with files in exactly the official formats, trains the small demo model, and is the
held-out benchmark for single-frame against multi-frame accuracy.
"""
