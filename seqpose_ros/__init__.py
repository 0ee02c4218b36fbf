"""ROS 2 side of seqpose, in two rooms: ``node`` (the lifecycle node, its stream pipeline,
parameters, topic names, TF in and out, and the pure message converters) and ``bags`` (bags
from NOCS-layout data, the player and recorder, offline and live replay, reports, the demo).
``bags`` may import the node side's converters; the node side never imports ``bags``.

Model and geometry code live in ``seqpose_core``; this package holds ROS plumbing only.
"""
