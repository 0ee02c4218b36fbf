"""The node's TF output.

tf2_ros's TransformBroadcaster where tf2_ros can be imported (every ROS install); in the pip
environment, which has no tf2_ros wheel, a /tf publisher with the QoS that the broadcaster
uses (keep last 100, reliable, volatile). Either way the node hands it a TFMessage.
"""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from tf2_msgs.msg import TFMessage

try:  # a ROS install
    import tf2_ros
except ImportError:  # the pip environment
    tf2_ros = None

TF_QOS = QoSProfile(depth=100)  # tf2_ros's TransformBroadcaster and TransformListener (/tf)


class TfOut:
    """Publishes the estimates' TF frames on /tf; ``publisher`` is the underlying publisher
    (for the node to destroy on cleanup)."""

    def __init__(self, node: Node, broadcaster_module: Any = tf2_ros):
        """broadcaster_module: tf2_ros, or None for the plain publisher (tests pass a stand-in)."""
        if broadcaster_module is not None:
            self._broadcaster = broadcaster_module.TransformBroadcaster(node, qos=TF_QOS)
            self.publisher: Publisher = self._broadcaster.pub_tf
            self.backend = "tf2_ros.TransformBroadcaster"
        else:
            self._broadcaster = None
            self.publisher = node.create_publisher(TFMessage, "/tf", TF_QOS)
            self.backend = "/tf publisher"

    def publish(self, message: TFMessage) -> None:
        if self._broadcaster is not None:
            self._broadcaster.sendTransform(list(message.transforms))
        else:
            self.publisher.publish(message)
