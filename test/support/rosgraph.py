"""A test-side ROS graph: publish camera frames, collect what the seqpose node sends back."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from seqpose.msg import FrameStatus, FusedObjects
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from seqpose_ros.node.converters import k_to_camera_info, rgb_to_image


def header(stamp: float, frame_id: str = "cam_optical") -> Header:
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = int(stamp // 1), round((stamp % 1) * 1e9)
    return h


class CameraRig:
    """Publishes on /test/image and /test/camera_info; records detections, TF, markers, status."""

    def __init__(self, name: str = "seqpose_test_rig"):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        qos = QoSProfile(depth=10)
        self.pub_image = self.node.create_publisher(Image, "/test/image", qos)
        self.pub_info = self.node.create_publisher(CameraInfo, "/test/camera_info", qos)
        self.got: dict[str, list] = defaultdict(list)
        self.subs: dict[str, object] = {}
        for topic, kind in (
            ("/detections", Detection3DArray),
            ("/tf", TFMessage),
            ("/markers", MarkerArray),
            ("/seqpose/status", FrameStatus),
            ("/diagnostics", DiagnosticArray),
            ("/seqpose/objects", FusedObjects),
        ):
            sub = self.node.create_subscription(kind, topic, lambda m, t=topic: self.got[t].append(m), qos)
            self.subs[topic] = sub

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def wait_for(self, predicate: object, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def wait_for_node(self, timeout: float = 60.0, settle: float = 1.0) -> None:
        """Until this side has matched the node's subscriptions and its status/detections publishers,
        then ``settle`` s more: matching is done on each side on its own, and the node's side cannot be
        seen from here (a frame sent before it has matched is lost, as on any ROS graph)."""
        self.wait_for(
            lambda: (
                self.pub_image.get_subscription_count() > 0
                and self.pub_info.get_subscription_count() > 0
                and self.subs["/seqpose/status"].get_publisher_count() > 0
                and self.subs["/detections"].get_publisher_count() > 0
            ),
            timeout,
            "the node's subscriptions and publishers",
        )
        self.spin(settle)

    def send(
        self, rgb: np.ndarray, k: np.ndarray, stamp: float, frame_id: str = "cam_optical", info: bool = True
    ) -> None:
        if info:
            self.pub_info.publish(k_to_camera_info(k, header(stamp, frame_id), rgb.shape[1], rgb.shape[0]))
            self.spin(0.02)
        self.pub_image.publish(rgb_to_image(rgb, header(stamp, frame_id), "bgr8"))

    def statuses(self) -> list[FrameStatus]:
        return self.got["/seqpose/status"]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
