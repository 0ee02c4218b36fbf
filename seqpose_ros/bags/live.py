"""Live replay: play a bag into a running seqpose node and record what it publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from rosbags.rosbag2 import Reader
from seqpose.msg import FrameStatus
from vision_msgs.msg import Detection3DArray

from seqpose_core.assets import model_classes
from seqpose_core.data.frame import Objects
from seqpose_ros.bags.bag import (
    GT,
    IMAGE,
    INFO,
    WORLD_FRAME,
    BagError,
    bag_objects,
    pick_topic,
    stamp_ns,
    typestore,
)
from seqpose_ros.bags.player import play
from seqpose_ros.bags.recorder import Recorder
from seqpose_ros.bags.report import FrameRecord, Replay
from seqpose_ros.node import names
from seqpose_ros.node.converters import detections_to_estimates


def start_node(
    checkpoint: str | None,
    image: str,
    info: str,
    multi_frame: bool,
    score_threshold: float,
    log: Path,
    params: dict[str, str] | None = None,
) -> subprocess.Popen:
    """The node in a child process; params: further node parameters, name -> value."""
    args = [
        sys.executable,
        "-m",
        "seqpose_ros.node.node",
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
    for name, value in (params or {}).items():
        args += ["-p", f"{name}:={value}"]
    with open(log, "w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


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


class LiveReplay:
    """One live replay, a context manager: on entry it opens the bag (once: its index names
    the topics, and the same reader plays it), starts the node remapped onto the bag's topics
    and subscribes to what the node publishes; ``run()`` plays the bag and collects; exit
    tears the node, the graph and the bag down.

    with LiveReplay(bag, checkpoint, multi_frame=True, score_threshold=0.2) as session:
        replay = session.run(rate=1.0)
    """

    def __init__(
        self,
        bag: str | Path,
        checkpoint: str | None,
        multi_frame: bool,
        score_threshold: float,
        record: Path | None = None,
        backend: str = "auto",
        fixed_frame: str = WORLD_FRAME,
    ):
        """record: also write the inputs and the node's outputs into this new MCAP bag folder;
        backend: the node's (torch to compare with an offline replay to the last digit);
        fixed_frame: the node's (the bag's /tf is played to it; none for a bag without /tf)."""
        self.bag, self.record, self.backend = Path(bag), record, backend
        self.fixed_frame = fixed_frame
        self.recorder: Recorder | None = None
        self.checkpoint, self.multi_frame, self.score_threshold = checkpoint, multi_frame, score_threshold
        # the node names classes by its model's list; so does this reader
        self.class_names = model_classes(checkpoint).names
        self.sent: dict[int, float] = {}  # image stamp (ns) -> time it was published
        self.got: dict[int, tuple[float, Detection3DArray]] = {}
        self.status: list[FrameStatus] = []
        self.gts: dict[int, Objects] = {}
        self._stack = ExitStack()

    def __enter__(self) -> LiveReplay:
        try:
            self._open_bag()
            self._start_node()
            self._start_listener()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _open_bag(self) -> None:
        if not self.bag.exists():
            raise BagError(f"{self.bag}: no such bag")
        self.reader = self._stack.enter_context(Reader(self.bag))
        kinds = {c.topic: c.msgtype for c in self.reader.connections}
        self.image_topic = pick_topic(kinds, IMAGE, None, self.bag, "images")
        self.info_topic = pick_topic(kinds, INFO, None, self.bag, f"camera_info for {self.image_topic}")
        self.gt_topic = pick_topic(kinds, GT, None, self.bag, "ground truth")
        counts = {c.topic: c.msgcount for c in self.reader.connections}
        if counts.get(self.info_topic, 0) == 0:
            raise BagError(f"{self.bag}: topic {self.info_topic} has no camera_info messages")
        self.frames = counts[self.image_topic]
        if "/tf" not in kinds:
            self.fixed_frame = ""  # nothing to look the camera up in: a static camera, nothing fused

    def _start_node(self) -> None:
        self.log = self.bag.with_name(self.bag.name + ".node.log")
        proc = start_node(
            self.checkpoint,
            self.image_topic,
            self.info_topic,
            self.multi_frame,
            self.score_threshold,
            self.log,
            {"backend": self.backend, "fixed_frame": f"'{self.fixed_frame}'"},
        )
        self.node_proc = proc
        self._stack.callback(lambda: (os.killpg(proc.pid, signal.SIGTERM), proc.wait(timeout=10)))

    def _start_listener(self) -> None:
        context = rclpy.Context()
        rclpy.init(context=context)
        self._stack.callback(rclpy.try_shutdown, context=context)
        self.node = rclpy.create_node("seqpose_replay", context=context)
        self._stack.callback(self.node.destroy_node)
        self.node.create_subscription(
            Detection3DArray,
            names.resolved(names.DETECTIONS),
            lambda m: self.got.setdefault(stamp_ns(m.header), (time.monotonic(), m)),
            QoSProfile(depth=50),
        )
        status = names.resolved(names.STATUS)
        self.node.create_subscription(FrameStatus, status, self.status.append, QoSProfile(depth=50))
        if self.record is not None:
            inputs = {self.image_topic: IMAGE, self.info_topic: INFO}
            inputs.update({self.gt_topic: GT} if self.gt_topic else {})
            self.recorder = Recorder(self.record, self.node, inputs)
            self._stack.callback(self.recorder.close)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(self.node)
        threading.Thread(target=executor.spin, daemon=True).start()
        self._stack.callback(executor.shutdown)

    def _wait_for_node(self, deadline: float) -> None:
        needed = (
            lambda: self.node.count_subscribers(self.image_topic),
            lambda: self.node.count_subscribers(self.info_topic),
            lambda: self.node.count_publishers(names.resolved(names.DETECTIONS)),
        )
        while min(count() for count in needed) == 0:
            if self.node_proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the seqpose node did not come up; its log: {self.log}")
            time.sleep(0.1)
        time.sleep(0.5)  # let discovery settle on both ends before the first message

    def _on_message(self, topic: str, t_ns: int, raw: bytes) -> None:
        if self.recorder is not None:
            self.recorder.write_input(topic, t_ns, raw)
        if topic == self.image_topic:
            self.sent[stamp_ns(self.ts.deserialize_cdr(raw, IMAGE).header)] = time.monotonic()
        elif topic == self.gt_topic:
            msg = self.ts.deserialize_cdr(raw, GT)
            self.gts[stamp_ns(msg.header)] = bag_objects(msg)

    def _wait_for_markers(self, deadline: float) -> None:
        """Recording: the markers of every answered frame are written too (they are published
        after the detections and may arrive after them), so that closing loses none."""
        markers = names.resolved(names.MARKERS)
        while self.recorder is not None and time.monotonic() < deadline:
            if self.recorder.counts.get(markers, 0) >= len(self.got):
                return
            time.sleep(0.05)

    def run(self, rate: float = 1.0, timeout: float = 120.0) -> Replay:
        """Play the bag at ``rate`` and collect until every image is accounted for."""
        self.ts = typestore()
        self._wait_for_node(time.monotonic() + timeout)
        play(self.node, self.reader, rate=rate, on_message=self._on_message, match_timeout=10.0)
        _wait_until_accounted(self.sent, self.got, self.status, deadline=time.monotonic() + 30.0)
        self._wait_for_markers(deadline=time.monotonic() + 10.0)
        records = [
            FrameRecord(
                ns * 1e-9,
                detections_to_estimates(msg, self.class_names),
                self.gts.get(ns),
                t - self.sent.get(ns, t),
            )
            for ns, (t, msg) in sorted(self.got.items())
        ]
        dropped = self.status[-1].frames_dropped if self.status else 0
        replay = Replay("live", records, self.frames, dropped)
        if self.status and self.status[-1].random_weights:
            replay.notes.append("the node ran a RANDOM-WEIGHT model")
        return replay


def replay_live(
    bag: str | Path,
    checkpoint: str | None,
    multi_frame: bool,
    score_threshold: float,
    rate: float = 1.0,
    timeout: float = 120.0,
    record: Path | None = None,
    backend: str = "auto",
    fixed_frame: str = WORLD_FRAME,
) -> Replay:
    """Start the node, play the bag at ``rate``, collect detections until every image is accounted
    for; ``record``: also write inputs and outputs into this new MCAP bag folder (Foxglove);
    ``backend``, ``fixed_frame``: the node's."""
    with LiveReplay(bag, checkpoint, multi_frame, score_threshold, record, backend, fixed_frame) as session:
        return session.run(rate, timeout)
