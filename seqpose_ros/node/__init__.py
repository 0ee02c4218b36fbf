"""The seqpose lifecycle node and what it is made of: ``node`` (the node), ``pipeline`` (camera
info pairing, the stream's reset policy, counters), ``params``, ``names``, ``tf_out`` /
``tf_source`` / ``tf_buffer`` (TF), ``converters`` and ``pixels`` (messages <-> numpy, no graph),
``graph_env`` (a private ROS graph for tests, demo and benchmarks)."""
