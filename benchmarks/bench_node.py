"""Node end-to-end latency (image published -> its detections received) against the Predictor's
own time on the same frames (FrameStatus.inference_time), at 640 x 480 rgb8, with markers and
TF on. --overlay also subscribes to ~/overlay, so that the node draws it: the demo's
configuration. A short --period is a live stream (--period 0.0667: 15 Hz); the frames the node
had no time for are dropped and counted, and "answered" says how many it kept up with.

Usage: python benchmarks/bench_node.py [--checkpoint CKPT] [--frames 30] [--period 0.5] [--overlay]
[--compile] [--device cuda] [--precision bf16-all] [--backend onnxruntime] [--static-camera]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from seqpose.msg import FrameStatus
from vision_msgs.msg import Detection3DArray

from seqpose_core.data.nocs_dataset import REAL_K
from seqpose_ros.bags.bag import stamp_ns
from seqpose_ros.bags.live import start_node
from seqpose_ros.node import names
from seqpose_ros.node.converters import camera_messages, header_at
from seqpose_ros.node.graph_env import private_graph


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--period", type=float, default=0.5, help="seconds between frames (0.0667: 15 Hz)")
    p.add_argument("--overlay", action="store_true", help="subscribe to ~/overlay (the demo draws it)")
    p.add_argument("--compile", action="store_true", help="the node's compile parameter (torch.compile)")
    p.add_argument("--device", default="cpu", help="the node's device parameter: cpu, cuda, ...")
    p.add_argument("--precision", default="fp32", help="the node's precision parameter")
    p.add_argument("--backend", default="auto", help="the node's backend parameter: auto, torch, onnxruntime")
    p.add_argument(
        "--static-camera",
        action="store_true",
        help="the node's static_camera: it fuses the objects and publishes ~/objects (#46)",
    )
    args = p.parse_args()
    private_graph()  # this process and the node it starts, alone on a domain, README's DDS profile
    log = Path(tempfile.mkdtemp()) / "node.log"
    params = {
        "device": args.device,
        "precision": args.precision,
        "compile": str(args.compile).lower(),
        "backend": args.backend,
        **({"static_camera": "true"} if args.static_camera else {}),
    }
    proc = start_node(args.checkpoint, "/bench/image", "/bench/camera_info", True, 0.3, log, params)
    rclpy.init()
    node = rclpy.create_node("seqpose_bench")
    sent, got, status = {}, {}, {}
    qos = QoSProfile(depth=10)
    pub_img, pub_info = (
        node.create_publisher(Image, "/bench/image", qos),
        node.create_publisher(CameraInfo, "/bench/camera_info", qos),
    )
    node.create_subscription(
        Detection3DArray,
        names.resolved(names.DETECTIONS),
        lambda m: got.setdefault(stamp_ns(m.header), time.perf_counter()),
        qos,
    )
    node.create_subscription(
        FrameStatus, names.resolved(names.STATUS), lambda m: status.setdefault(stamp_ns(m.header), m), qos
    )
    if args.overlay:
        node.create_subscription(Image, names.resolved(names.OVERLAY), lambda m: None, qos)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    try:
        while min(pub_img.get_subscription_count(), pub_info.get_subscription_count()) == 0:
            time.sleep(0.1)
        time.sleep(1.0)
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
        start = time.perf_counter()
        for i in range(args.frames):
            ns = 1_700_000_000 * 1_000_000_000 + round(i * args.period * 1e9)
            img, info = camera_messages(images[i % 4], REAL_K, header_at(ns, "camera_color_optical_frame"))
            pub_info.publish(info)
            sent[ns] = time.perf_counter()
            pub_img.publish(img)
            time.sleep(max(0.0, start + (i + 1) * args.period - time.perf_counter()))  # no drift
        time.sleep(1.0)
    finally:
        ex.shutdown()
        spinner.join(timeout=5.0)  # a thread left inside rclpy's wait at exit aborts the process
        node.destroy_node()
        rclpy.shutdown()
        os.killpg(proc.pid, signal.SIGTERM)
    e2e = np.array([1000 * (got[s] - sent[s]) for s in sent if s in got])
    inf = np.array([1000 * status[s].inference_time for s in sent if s in status])
    dropped = status[max(status)].frames_dropped if status else 0
    print(f"{len(e2e)} of {len(sent)} frames answered, {dropped} dropped")
    print(
        f"end-to-end ms: mean {e2e.mean():.1f}  median {np.median(e2e):.1f}  p95 {np.percentile(e2e, 95):.1f}"
    )
    print(
        f"predictor  ms: mean {inf.mean():.1f}  median {np.median(inf):.1f}  p95 {np.percentile(inf, 95):.1f}"
    )
    print(f"end-to-end / predictor (median): {np.median(e2e) / np.median(inf):.2f}")


if __name__ == "__main__":
    main()
