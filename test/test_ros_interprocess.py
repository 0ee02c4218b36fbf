"""Interfaces built by the set-up carry their values between processes over a real graph."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from support.samples import SAMPLES  # noqa: E402

TEST_DIR = Path(__file__).parent


def test_detections_tf_and_status_cross_processes(background):
    publisher = background([sys.executable, "-m", "support.publish_samples"], cwd=str(TEST_DIR))
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("seqpose_sample_checker", context=context)
        received: dict[str, object] = {}
        for topic, (msg_type, _) in SAMPLES.items():
            node.create_subscription(msg_type, topic, lambda m, t=topic: received.setdefault(t, m), 10)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 30.0
        while len(received) < len(SAMPLES) and time.monotonic() < deadline:
            assert publisher.proc.poll() is None, f"publisher died:\n{publisher.output()}"
            executor.spin_once(timeout_sec=0.1)
        missing = sorted(set(SAMPLES) - set(received))
        assert not missing, f"nothing received on {missing}; publisher said:\n{publisher.output()}"
        for topic, (_, build) in SAMPLES.items():
            assert received[topic] == build(), f"{topic} arrived altered"
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
