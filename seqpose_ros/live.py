"""Live replay: play a bag into a running seqpose node and record what it publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from rosbags.rosbag2 import Reader
from seqpose.msg import FrameStatus
from vision_msgs.msg import Detection3DArray

from seqpose_ros.bag import IMAGE, INFO, read_camera_bag, stamp_ns, typestore
from seqpose_ros.converters import detections_to_estimates
from seqpose_ros.player import play
from seqpose_ros.report import FrameRecord, Replay


def _topics(bag: Path) -> tuple[str, str]:
    with Reader(bag) as reader:
        kinds = {c.topic: c.msgtype for c in reader.connections}
    return next(t for t, k in kinds.items() if k == IMAGE), next(t for t, k in kinds.items() if k == INFO)


def start_node(
    checkpoint: str | None, image: str, info: str, multi_frame: bool, score_threshold: float, log: Path
) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "seqpose_ros.node",
        "--ros-args",
        "-p",
        "autostart:=true",
        "-p",
        "qos:=reliable",
        "-p",  # a bag has the camera info of every image: wait for it even on a loaded machine
        "camera_info_wait:=0.5",
        "-p",
        f"multi_frame:={str(multi_frame).lower()}",
        "-p",
        f"score_threshold:={score_threshold}",
        "-r",
        f"image:={image}",
        "-r",
        f"camera_info:={info}",
    ]
    if checkpoint:
        args += ["-p", f"checkpoint:={checkpoint}"]
    return subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_until_accounted(
    sent: dict[int, float], got: dict, status: list[FrameStatus], deadline: float
) -> None:
    """Wait until the node's status accounts for every image sent and every processed frame's
    detections have arrived: status and detections travel on different topics, so the last status
    can come before the last detections."""
    while time.monotonic() < deadline:
        last = status[-1] if status else None
        handled = last.frames_processed + last.frames_dropped + last.messages_rejected if last else 0
        if handled >= len(sent) and (last is None or len(got) >= last.frames_processed):
            return
        time.sleep(0.1)


def replay_live(
    bag: str | Path,
    checkpoint: str | None,
    multi_frame: bool,
    score_threshold: float,
    rate: float = 1.0,
    timeout: float = 120.0,
) -> Replay:
    """Start the node, play the bag at ``rate``, collect detections until every image is accounted for."""
    bag = Path(bag)
    frames = sum(1 for _ in read_camera_bag(bag))  # also validates the bag before starting anything
    image_topic, info_topic = _topics(bag)
    log = bag.with_name(bag.name + ".node.log") if bag.is_dir() else Path(f"{bag}.node.log")
    node_proc = start_node(checkpoint, image_topic, info_topic, multi_frame, score_threshold, log)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("seqpose_replay", context=context)
    sent: dict[int, float] = {}
    got: dict[int, tuple[float, Detection3DArray]] = {}
    status: list[FrameStatus] = []
    node.create_subscription(
        Detection3DArray,
        "/detections",
        lambda m: got.setdefault(stamp_ns(m.header), (time.monotonic(), m)),
        QoSProfile(depth=50),
    )
    node.create_subscription(FrameStatus, "/seqpose/status", status.append, QoSProfile(depth=50))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    ts = typestore()

    def on_message(topic: str, raw: bytes) -> None:
        if topic == image_topic:
            sent[stamp_ns(ts.deserialize_cdr(raw, IMAGE).header)] = time.monotonic()

    try:
        deadline = time.monotonic() + timeout
        while (
            min(
                node.count_subscribers(image_topic),
                node.count_subscribers(info_topic),
                node.count_publishers("/detections"),
            )
            == 0
        ):
            if node_proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the seqpose node did not come up; its log: {log}")
            time.sleep(0.1)
        time.sleep(0.5)  # let discovery settle on both ends before the first message
        play(node, bag, rate=rate, on_message=on_message, match_timeout=10.0)
        _wait_until_accounted(sent, got, status, deadline=time.monotonic() + 30.0)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        os.killpg(node_proc.pid, signal.SIGTERM)
        node_proc.wait(timeout=10)
    records = [
        FrameRecord(ns * 1e-9, detections_to_estimates(msg), None, t - sent.get(ns, t))
        for ns, (t, msg) in sorted(got.items())
    ]
    gts = {round(f.stamp, 6): f.gt for f in read_camera_bag(bag)}
    for r in records:
        r.gt = gts.get(round(r.stamp, 6))
    dropped = status[-1].frames_dropped if status else 0
    replay = Replay("live", records, frames, dropped)
    if status and status[-1].random_weights:
        replay.notes.append("the node ran a RANDOM-WEIGHT model")
    return replay
