"""A camera as drivers publish one: 640x480 rgb8 images and their CameraInfo with sensor-data
QoS (best effort), on /camera/color/*. Warms the node up at 2 Hz until it answers, then streams
``--frames`` images at ``--rate`` Hz and prints one JSON line: frames sent, frames the node
answered (a FrameStatus with the image's stamp), and how many it received (processed + dropped,
from its counters). Run with ``python -m support.camera_stream``."""

from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from seqpose.msg import FrameStatus

from seqpose_core.data.nocs_dataset import REAL_K
from seqpose_ros.bags.bag import stamp_ns
from seqpose_ros.node import names
from seqpose_ros.node.converters import camera_messages, header_at


class Camera:
    def __init__(self) -> None:
        self.node = rclpy.create_node("camera_stream")
        qos = qos_profile_sensor_data
        self.pub_image = self.node.create_publisher(Image, "/camera/color/image_raw", qos)
        self.pub_info = self.node.create_publisher(CameraInfo, "/camera/color/camera_info", qos)
        self.status: dict[int, FrameStatus] = {}
        self.node.create_subscription(FrameStatus, names.resolved(names.STATUS), self._on_status, 10)
        self.rgb = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        self.t0 = time.time()

    def _on_status(self, msg: FrameStatus) -> None:
        self.status[stamp_ns(msg.header)] = msg

    def publish(self, i: int) -> int:
        """Publish frame ``i`` (stamped 1/15 s apart); returns its stamp in ns."""
        ns = int((self.t0 + i / 15.0) * 1e9)
        image, info = camera_messages(self.rgb, REAL_K, header_at(ns, "camera"))
        self.pub_info.publish(info)
        self.pub_image.publish(image)
        return ns

    def received(self) -> int:
        last = self.status[max(self.status)] if self.status else None
        return 0 if last is None else last.frames_processed + last.frames_dropped


def stream(camera: Camera, frames: int, rate: float, warmup_s: float) -> dict[str, int]:
    deadline, i = time.monotonic() + warmup_s, 0
    while not camera.status and time.monotonic() < deadline:
        camera.publish(i)
        i += 1
        time.sleep(0.5)
    time.sleep(1.0)
    before, sent = camera.received(), []
    for j in range(i + 1, i + 1 + frames):
        sent.append(camera.publish(j))
        time.sleep(1.0 / rate)
    time.sleep(3.0)
    return {
        "warmed_up": int(bool(camera.status)),
        "sent": len(sent),
        "answered": sum(s in camera.status for s in sent),
        "received": camera.received() - before,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--rate", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=90.0, help="seconds to wait for the node's first answer")
    args = p.parse_args()
    rclpy.init()
    camera = Camera()
    executor = SingleThreadedExecutor()
    executor.add_node(camera.node)
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        print(json.dumps(stream(camera, args.frames, args.rate, args.warmup)), flush=True)
    finally:
        done.set()
        spinner.join()
        executor.shutdown()
        camera.node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
