"""Publish every message of ``support.samples`` at 10 Hz until stopped (run with ``python -m``)."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException

from support.samples import SAMPLES


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("seqpose_sample_publisher")
    pubs = [(node.create_publisher(t, topic, 10), build) for topic, (t, build) in SAMPLES.items()]

    def tick() -> None:
        for pub, build in pubs:
            pub.publish(build())

    node.create_timer(0.1, tick)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
