"""The seqpose ROS 2 node: camera in, 9-DoF detections, TF frames, RViz markers and status out.

A lifecycle node (``autostart`` configures and activates it by itself). The image callback
only stores the newest message; a worker thread converts it and runs inference on the
newest one, so a slow model drops stale frames (counted) instead of building a backlog.
Model, geometry and stream logic live in seqpose_core and ``pipeline``; this class holds
ROS plumbing only.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from seqpose.msg import FrameStatus
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from seqpose_core.assets import default_checkpoint
from seqpose_core.checkpoint import CheckpointError, load_model
from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, Predictor
from seqpose_ros.converters import (
    ConversionError,
    camera_info_to_k,
    frame_id,
    image_to_rgb,
    stamp_seconds,
    to_detections,
    to_markers,
    to_transforms,
)
from seqpose_ros.pipeline import Rejected, StreamGuard

LOG_PERIOD = 5.0  # seconds between log lines of one kind of rejection
PARAMETERS = {
    "checkpoint": "",  # "" = the embedded default model (random weights if none ships)
    "device": "cpu",
    "multi_frame": True,
    "score_threshold": DEFAULT_SCORE_THRESHOLD,
    "max_detections": 50,
    "image_topic": "image",
    "camera_info_topic": "camera_info",
    "detections_topic": "detections",
    "markers_topic": "markers",
    "status_topic": "~/status",
    "qos": "sensor_data",  # or "reliable"
    "publish_tf": True,
    "frame_prefix": "seqpose/",
    "max_gap": 1.0,
    "jump_back_reset": 0.5,
    "camera_info_tolerance": 0.5,
    "camera_info_wait": 0.05,
    "marker_lifetime": 0.5,
    "diagnostics_period": 1.0,
    "autostart": False,
}


class SeqPoseNode(LifecycleNode):
    def __init__(self, **kwargs: object):
        super().__init__("seqpose", **kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        self.guard: StreamGuard | None = None
        self.random_weights = False
        self._pending: tuple[Image, float] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._running = False
        self._worker: threading.Thread | None = None
        self._entities: list[tuple] = []  # (destroy function, entity) created on activate
        self._logged: dict[str, float] = {}

    def p(self, name: str) -> object:
        return self.get_parameter(name).value

    # lifecycle ---------------------------------------------------------------------
    def _load_model(self) -> SeqPose:
        path = str(self.p("checkpoint")) or (str(default_checkpoint()) if default_checkpoint() else "")
        if path:
            self.get_logger().info(f"loading model {path}")
            return load_model(Path(path))
        self.random_weights = True
        self.get_logger().warning("no checkpoint given and no embedded model: running a RANDOM-WEIGHT model")
        return SeqPose(tiny_config())

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            model = self._load_model()
        except (CheckpointError, OSError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        predictor = Predictor(
            model,
            str(self.p("device")),
            multi_frame=bool(self.p("multi_frame")),
            score_threshold=float(self.p("score_threshold")),
            max_detections=int(self.p("max_detections")),
            max_gap=float(self.p("max_gap")),
        )
        self.guard = StreamGuard(
            predictor, float(self.p("camera_info_tolerance")), float(self.p("jump_back_reset"))
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        qos = qos_profile_sensor_data if self.p("qos") == "sensor_data" else QoSProfile(depth=5)
        self.pub_det = self.create_publisher(Detection3DArray, str(self.p("detections_topic")), 10)
        self.pub_markers = self.create_publisher(MarkerArray, str(self.p("markers_topic")), 10)
        self.pub_status = self.create_publisher(FrameStatus, str(self.p("status_topic")), 10)
        self.pub_tf = self.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._entities = [
            (
                self.destroy_subscription,
                self.create_subscription(Image, str(self.p("image_topic")), self.on_image, qos),
            ),
            (
                self.destroy_subscription,
                self.create_subscription(
                    CameraInfo, str(self.p("camera_info_topic")), self.on_camera_info, qos
                ),
            ),
            (self.destroy_service, self.create_service(Trigger, "~/reset", self.on_reset)),
            (
                self.destroy_timer,
                self.create_timer(float(self.p("diagnostics_period")), self.publish_diagnostics),
            ),
        ] + [
            (self.destroy_publisher, pub)
            for pub in (self.pub_det, self.pub_markers, self.pub_status, self.pub_tf, self.pub_diag)
        ]
        self._running = True
        self._worker = threading.Thread(target=self._work, name="seqpose-inference", daemon=True)
        self._worker.start()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        for destroy, entity in self._entities:
            destroy(entity)
        self._entities = []
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.guard = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        return TransitionCallbackReturn.SUCCESS

    def _stop_worker(self) -> None:
        self._running = False
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    # callbacks ---------------------------------------------------------------------
    def on_camera_info(self, msg: CameraInfo) -> None:
        try:
            k = camera_info_to_k(msg)
            self.guard.add_camera_info(
                frame_id(msg.header), stamp_seconds(msg.header), k, (msg.width, msg.height)
            )
        except ConversionError as exc:
            self._reject(f"camera_info: {exc}")

    def on_image(self, msg: Image) -> None:
        with self._lock:
            if self._pending is not None:
                self.guard.counters.dropped += 1
            self._pending = (msg, time.monotonic())
        self._wake.set()

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.guard.reset("requested on ~/reset")
        response.success, response.message = True, "temporal memory cleared"
        return response

    # inference ---------------------------------------------------------------------
    def _work(self) -> None:
        while self._running:
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            with self._lock:
                item, self._pending = self._pending, None
            if item is not None:
                try:
                    self._process(*item)
                except Exception as exc:  # the node must outlive any one frame
                    self._reject(f"image: unexpected {exc.__class__.__name__}: {exc}")

    def _wait_for_camera_info(self, frame: str, stamp: float) -> None:
        """A camera info may arrive just after its image: wait briefly for it."""
        deadline = time.monotonic() + float(self.p("camera_info_wait"))
        while not self.guard.has_camera_info(frame, stamp) and time.monotonic() < deadline:
            time.sleep(0.002)

    def _process(self, msg: Image, arrived: float) -> None:
        try:
            stamp, frame = stamp_seconds(msg.header), frame_id(msg.header)
            self._wait_for_camera_info(frame, stamp)
            rgb = image_to_rgb(msg)
            result = self.guard.process(rgb, frame, stamp)
        except ConversionError as exc:
            self._reject(f"image: {exc}")
            return
        except Rejected as exc:
            self._log_rejection(f"image: {exc}")
            return
        header = msg.header
        self.pub_det.publish(to_detections(result.estimates, header))
        self.pub_markers.publish(to_markers(result.estimates, header, float(self.p("marker_lifetime"))))
        if self.p("publish_tf") and result.estimates:
            self.pub_tf.publish(to_transforms(result.estimates, header, str(self.p("frame_prefix"))))
        latency = time.monotonic() - arrived
        self.guard.counters.latencies.append(latency)
        self.pub_status.publish(self._status(header, result, latency))
        if result.reset_reason:
            self.get_logger().info(f"temporal memory reset: {result.reset_reason}")

    def _status(self, header: object, result: object, latency: float) -> FrameStatus:
        c = self.guard.counters
        return FrameStatus(
            header=header,
            inference_time=result.inference_time,
            latency=latency,
            num_detections=len(result.estimates),
            frames_processed=c.processed,
            frames_dropped=c.dropped,
            messages_rejected=c.rejected,
            memory_resets=c.resets,
            memory_frames=len(self.guard.predictor.memory),
            reset_reason=result.reset_reason,
            random_weights=self.random_weights,
        )

    def _reject(self, reason: str) -> None:
        self.guard.reject(reason)
        self._log_rejection(reason)

    def _log_rejection(self, reason: str) -> None:
        """One log line per kind of rejection every LOG_PERIOD seconds (kinds ignore numbers)."""
        kind = re.sub(r"[\d.]+", "#", reason)
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_PERIOD) >= LOG_PERIOD:
            self._logged[kind] = now
            self.get_logger().warning(f"rejected {reason}")

    def publish_diagnostics(self) -> None:
        c = self.guard.counters
        period = float(self.p("diagnostics_period"))
        lat = c.latencies[-1000:]
        values = {
            "rate_hz": c.processed_since / period,
            "latency_ms_mean": 1000 * float(np.mean(lat)) if lat else 0.0,
            "frames_processed": c.processed,
            "frames_dropped": c.dropped,
            "messages_rejected": c.rejected,
            "memory_resets": c.resets,
            "last_rejection": c.last_reject,
            "random_weights": self.random_weights,
        }
        c.latencies.clear()
        c.processed_since = 0
        level = DiagnosticStatus.WARN if self.random_weights or c.last_reject else DiagnosticStatus.OK
        status = DiagnosticStatus(
            level=level,
            name="seqpose: category-level pose",
            hardware_id=self.get_name(),
            message="random weights" if self.random_weights else "running",
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args if args is not None else sys.argv)
    node = SeqPoseNode()
    try:
        # On a failed configure the node stays up, unconfigured, for the operator to fix and retry.
        if node.p("autostart") and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            node.trigger_activate()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node._stop_worker()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
