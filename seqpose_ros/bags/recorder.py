"""Record a live replay into one MCAP for Foxglove: the played inputs and what the node
publishes (detections, markers, the overlay image, TF, the fused objects and their markers),
each at its image's stamp."""

from __future__ import annotations

import threading
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from sensor_msgs.msg import Image
from seqpose.msg import FusedObjects
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from seqpose_ros.bags.bag import stamp_ns, typestore
from seqpose_ros.node import names

OUTPUTS = (
    (names.resolved(names.DETECTIONS), Detection3DArray, "vision_msgs/msg/Detection3DArray"),
    (names.resolved(names.MARKERS), MarkerArray, "visualization_msgs/msg/MarkerArray"),
    (names.resolved(names.OVERLAY), Image, "sensor_msgs/msg/Image"),
    ("/tf", TFMessage, "tf2_msgs/msg/TFMessage"),  # the bag's camera poses and the node's objects
    (names.resolved(names.OBJECTS), FusedObjects, "seqpose/msg/FusedObjects"),  # with fixed_frame
    (names.resolved(names.OBJECT_MARKERS), MarkerArray, "visualization_msgs/msg/MarkerArray"),
)


def _stamp(msg: object) -> int | None:
    """The stamp of a message's first header: its own, or its first marker's or transform's."""
    if hasattr(msg, "header"):
        return stamp_ns(msg.header)
    items = getattr(msg, "markers", None) or getattr(msg, "transforms", None)
    return stamp_ns(items[0].header) if items else None


class Recorder:
    """Writes into ``path`` (a new rosbag2 folder with one .mcap). Inputs come through
    ``write_input`` from the player's thread, outputs through subscriptions on ``node``."""

    def __init__(self, path: Path, node: Node, inputs: dict[str, str]):
        """inputs: topic -> type of the played messages to keep (not /tf: it is subscribed)."""
        self.path = path
        self._lock = threading.Lock()
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        ts = typestore()
        self._conns = {t: self._writer.add_connection(t, k, typestore=ts) for t, k in inputs.items()}
        self._last = 0  # the latest stamp written, for outputs without one (an empty MarkerArray)
        self.counts: dict[str, int] = {}  # messages written per topic
        for topic, cls, kind in OUTPUTS:
            self._conns[topic] = self._writer.add_connection(topic, kind, typestore=ts)
            node.create_subscription(cls, topic, lambda m, t=topic: self._output(t, m), QoSProfile(depth=50))

    def write_input(self, topic: str, t_ns: int, raw: bytes) -> None:
        if topic in self._conns:
            self._write(topic, t_ns, bytes(raw))

    def _output(self, topic: str, msg: object) -> None:
        stamp = _stamp(msg)
        self._write(topic, self._last if stamp is None else stamp, serialize_message(msg))

    def _write(self, topic: str, t_ns: int, raw: bytes) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.write(self._conns[topic], t_ns, raw)
                self._last = max(self._last, t_ns)
                self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
