"""The camera's pose in a fixed frame, from TF, for the node's moving-camera mode.

tf2_ros's Buffer and TransformListener where tf2_ros can be imported (every ROS install);
in the pip environment, which has no tf2_ros wheel, the project's TransformBuffer fed from
/tf and /tf_static with the QoS that tf2_ros's listener uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from tf2_msgs.msg import TFMessage

from seqpose_ros.node.converters import ConversionError, to_stamped_transform
from seqpose_ros.node.tf_buffer import TransformBuffer, TransformUnavailable
from seqpose_ros.node.tf_out import TF_QOS, tf2_ros  # one import guard, one /tf QoS

STATIC_QOS = QoSProfile(
    depth=100,
    history=HistoryPolicy.KEEP_LAST,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    reliability=ReliabilityPolicy.RELIABLE,
)


class CameraPoses:
    """pose(camera_frame, stamp, timeout) -> camera -> fixed frame (4, 4), or None if TF lacks it."""

    def __init__(self, node: Node, fixed_frame: str, on_error: Callable[[str], None]):
        self.fixed_frame = fixed_frame
        self._node, self._on_error = node, on_error
        self._subs: list = []
        if tf2_ros is not None:
            self._tf2 = tf2_ros.Buffer()
            self._listener = tf2_ros.TransformListener(self._tf2, node)
            return
        self.buffer = TransformBuffer()
        self._subs = [
            node.create_subscription(TFMessage, "/tf", lambda m: self._add(m, False), TF_QOS),
            node.create_subscription(TFMessage, "/tf_static", lambda m: self._add(m, True), STATIC_QOS),
        ]

    def _add(self, msg: TFMessage, static: bool) -> None:
        for t in msg.transforms:
            try:
                self.buffer.add(to_stamped_transform(t), static)
            except ConversionError as exc:
                self._on_error(f"{'/tf_static' if static else '/tf'}: {exc}")

    def pose(self, camera_frame: str, stamp: float, timeout: float) -> np.ndarray | None:
        if tf2_ros is None:
            try:
                return self.buffer.wait_for(self.fixed_frame, camera_frame, stamp, timeout)
            except TransformUnavailable:
                return None
        try:
            when = Time(nanoseconds=round(stamp * 1e9))
            t = self._tf2.lookup_transform(self.fixed_frame, camera_frame, when, Duration(seconds=timeout))
        except tf2_ros.TransformException:
            return None
        return to_stamped_transform(t).matrix

    def destroy(self) -> None:
        for sub in self._subs:
            self._node.destroy_subscription(sub)
        self._subs = []
        if tf2_ros is not None:
            self._listener.unregister()
