"""ROS 2 side of seqpose: the node, message converters and bag tools.

Model and geometry code live in ``seqpose_core``; this package holds ROS plumbing only.
"""
