"""Self-labelling a new category from unlabelled object-centric videos (Sommer et al. 2024).

videos: the video folder format; orbit: synthetic object-centric videos; reconstruct: a point
cloud per video with a feature per point; align: the cyclic-distance alignment into one
canonical frame; evaluate: the paper's rotation accuracy; cli: ``seqpose-align``.
"""
