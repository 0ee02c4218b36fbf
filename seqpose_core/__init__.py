"""SeqPose core: model, losses, data, geometry, NOCS evaluation and the streaming Predictor.

This package never imports ROS (rclpy or message packages); the ROS node lives in
``seqpose_ros`` and only calls into this package.
"""

__version__ = "0.1.0"
