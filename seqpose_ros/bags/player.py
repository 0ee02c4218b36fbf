"""Play a ROS 2 bag into a live graph at its recorded rate (or a chosen one), raw CDR, any types.

``ros2 bag`` cannot be installed from PyPI; on a real ROS install ``ros2 bag play`` does
the same job. Message classes are imported from the recorded type names.
"""

from __future__ import annotations

import importlib
import time

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosbags.rosbag2 import Reader


def message_class(msgtype: str) -> type:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image."""
    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def play(
    node: Node,
    reader: Reader,
    rate: float = 1.0,
    topics: set[str] | None = None,
    remap: dict[str, str] | None = None,
    on_message: object = None,
    match_timeout: float = 0.0,
) -> int:
    """Publish the messages of an open bag with their recorded spacing divided by ``rate`` (0: as
    fast as possible); returns the number published. ``on_message(topic, t_ns, raw)`` is called after each.
    ``match_timeout``: first wait up to this long until every publisher has matched a
    subscriber (new publishers are discovered asynchronously: a first message sent before
    that is lost)."""
    remap = remap or {}
    conns = [c for c in reader.connections if topics is None or c.topic in topics]
    pubs = {
        c.id: node.create_publisher(
            message_class(c.msgtype), remap.get(c.topic, c.topic), QoSProfile(depth=10)
        )
        for c in conns
    }
    deadline = time.monotonic() + match_timeout
    while time.monotonic() < deadline and any(p.get_subscription_count() == 0 for p in pubs.values()):
        time.sleep(0.02)
    start_wall, start_bag, count = time.monotonic(), None, 0
    for conn, t_ns, raw in reader.messages(connections=conns):
        start_bag = t_ns if start_bag is None else start_bag
        if rate > 0:
            delay = (t_ns - start_bag) * 1e-9 / rate - (time.monotonic() - start_wall)
            if delay > 0:
                time.sleep(delay)
        pubs[conn.id].publish(bytes(raw))
        count += 1
        if on_message is not None:
            on_message(conn.topic, t_ns, raw)
    for pub in pubs.values():
        node.destroy_publisher(pub)
    return count
