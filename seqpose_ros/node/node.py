"""The seqpose ROS 2 node: camera in, 9-DoF detections, TF frames, RViz markers and status out.

A lifecycle node (``autostart`` configures and activates it by itself). The image callback
only stores the newest message; a worker thread converts it and runs inference on the
newest one, so a slow model drops stale frames (counted) instead of building a backlog.
Model, geometry and stream logic live in seqpose_core and ``pipeline``; this class holds
ROS plumbing only.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CameraInfo, Image
from seqpose.msg import FrameStatus, FusedObjects
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from seqpose_core.assets import load_or_random
from seqpose_core.checkpoint import CheckpointError
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.onnx_backend import resolve_backend
from seqpose_core.predictor import Predictor
from seqpose_core.tracking.fusion import FusionConfig
from seqpose_core.visualize import draw_estimates
from seqpose_ros.node import names
from seqpose_ros.node.converters import (
    ConversionError,
    camera_info_to_k,
    frame_id,
    image_to_rgb,
    rgb_to_image,
    stamp_seconds,
    to_detections,
    to_markers,
    to_transforms,
)
from seqpose_ros.node.fused_converters import to_fused_objects, to_object_markers, to_object_transforms
from seqpose_ros.node.params import DEFAULTS, RUNTIME, SPECS, NodeParams, check, cpu_threads, usage
from seqpose_ros.node.pipeline import Rejected, StreamGuard, reason_kind
from seqpose_ros.node.tf_out import TfOut
from seqpose_ros.node.tf_source import CameraPoses

LOG_PERIOD = 5.0  # seconds between log lines of one kind of rejection


def descriptor(name: str) -> ParameterDescriptor:
    """The ROS descriptor of one parameter: its description and range (enforced by rclpy)."""
    spec, default = SPECS[name], DEFAULTS[name]
    when = "takes effect on the next frame" if spec.runtime else "takes effect on configure/activate"
    d = ParameterDescriptor(name=name, description=f"{spec.description} ({when})")
    if spec.choices:
        d.additional_constraints = f"one of: {', '.join(spec.choices)}"
    if spec.low is not None and isinstance(default, float):
        d.floating_point_range = [FloatingPointRange(from_value=spec.low, to_value=spec.high, step=0.0)]
    elif spec.low is not None:
        d.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    return d


class SeqPoseNode(LifecycleNode):
    """Lifecycle node around seqpose_core's Predictor: Image + CameraInfo in; detections, markers,
    TF, FrameStatus and diagnostics out. Inference runs on a worker thread, newest frame first."""

    def __init__(self, **kwargs: object):
        super().__init__(names.NODE, **kwargs)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.params = self._declare_parameters()
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.guard: StreamGuard | None = None
        self.random_weights = False
        self.class_names = ""  # the model's, once configured (diagnostics)
        self._pending: tuple[Image, float] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._running = False
        self._worker: threading.Thread | None = None
        self._entities: list[tuple] = []  # (destroy function, entity) created on activate
        self.camera_poses: CameraPoses | None = None  # with fixed_frame: the camera's pose from TF
        self._logged: dict[str, float] = {}

    def _declare_parameters(self) -> NodeParams:
        """Declare every parameter with its descriptor; an out-of-range or mistyped start value
        is refused (logged with the parameter's name) and the default kept."""
        for name, default in DEFAULTS.items():
            try:
                self.declare_parameter(name, default, descriptor(name))
            except (InvalidParameterValueException, InvalidParameterTypeException, ValueError) as exc:
                self.get_logger().error(f"parameter {name}: start value refused ({exc}); using {default!r}")
                self.declare_parameter(name, default, descriptor(name), ignore_override=True)
        return self._read_parameters()

    def _read_parameters(self) -> NodeParams:
        return NodeParams.from_values({name: self.get_parameter(name).value for name in DEFAULTS})

    def _validate_parameters(self, params: list) -> SetParametersResult:
        for param in params:
            try:
                check(param.name, param.value)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list) -> None:
        """After a set: refresh the typed parameters; the runtime ones reach the predictor now."""
        self.params = self._read_parameters()
        if self.guard is not None and any(p.name in RUNTIME for p in params):
            self.guard.set_runtime(self.params.score_threshold, self.params.max_detections)

    # lifecycle ---------------------------------------------------------------------
    def _load_model(self) -> SeqPose:
        model, path = load_or_random(self.params.checkpoint)
        self.random_weights = path is None
        if path is None:
            self.get_logger().warning(
                "no checkpoint given and no embedded model: running a RANDOM-WEIGHT model"
            )
        else:
            self.get_logger().info(f"loaded model {path}: classes {', '.join(model.cfg.classes.names[1:])}")
        self.class_names = ",".join(model.cfg.classes.names[1:])
        return model

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            model = self._load_model()
        except (CheckpointError, OSError, ValueError) as exc:
            self.get_logger().error(f"configure failed (parameter checkpoint): {exc}")
            return TransitionCallbackReturn.FAILURE
        torch.set_num_threads(cpu_threads(self.params.threads))
        try:
            self._say_if_exporting()
            predictor = Predictor(
                model,
                self.params.device,
                precision=self.params.precision,
                backend=self.params.backend,
                onnx_cache=self.params.onnx_cache,
                compile=self.params.compile,
                multi_frame=self.params.multi_frame,
                score_threshold=self.params.score_threshold,
                max_detections=self.params.max_detections,
                max_gap=self.params.max_gap,
                late_tolerance=self.params.jump_back_reset,
                fusion=FusionConfig(keep_unseen_s=self.params.keep_unseen) if self.params.fusion else None,
                static_camera=self.params.static_camera and not self.params.fixed_frame,
            )
        except Exception as exc:  # torch: RuntimeError, AssertionError, ... for an unusable device
            cause = f"{exc.__class__.__name__}: {exc}"
            names = ("device", "precision", "backend", "compile")
            where = ", ".join(f"{n} {getattr(self.params, n)!r}" for n in names)
            where = f"parameters {where}"
            self.get_logger().error(f"configure failed ({where}): {cause}")
            return TransitionCallbackReturn.FAILURE
        self.guard = StreamGuard(predictor, self.params.camera_info_tolerance)
        return TransitionCallbackReturn.SUCCESS

    def _say_if_exporting(self) -> None:
        p = self.params
        if resolve_backend(p.backend, torch.device(p.device), p.precision, p.compile) == "onnxruntime":
            self.get_logger().info(
                "backend onnxruntime: the network is exported once per weights (about a minute)"
            )

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        qos = qos_profile_sensor_data if self.params.qos == "sensor_data" else QoSProfile(depth=5)
        self.pub_det = self.create_publisher(Detection3DArray, names.DETECTIONS, 10)
        self.pub_markers = self.create_publisher(MarkerArray, names.MARKERS, 10)
        self.pub_status = self.create_publisher(FrameStatus, names.STATUS, 10)
        # reliable, so that viewers of either reliability match; drawn only while subscribed
        self.pub_overlay = self.create_publisher(Image, names.OVERLAY, QoSProfile(depth=2))
        self.pub_objects = self.create_publisher(FusedObjects, names.OBJECTS, 10)
        self.pub_object_markers = self.create_publisher(MarkerArray, names.OBJECT_MARKERS, 10)
        self.tf_out = TfOut(self)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._entities = [
            (
                self.destroy_subscription,
                self.create_subscription(Image, names.IMAGE, self.on_image, qos),
            ),
            (
                self.destroy_subscription,
                self.create_subscription(CameraInfo, names.CAMERA_INFO, self.on_camera_info, qos),
            ),
            (self.destroy_service, self.create_service(Trigger, names.RESET, self.on_reset)),
            (
                self.destroy_timer,
                self.create_timer(self.params.diagnostics_period, self.publish_diagnostics),
            ),
        ] + [
            (self.destroy_publisher, pub)
            for pub in (
                self.pub_det,
                self.pub_markers,
                self.pub_status,
                self.tf_out.publisher,
                self.pub_diag,
                self.pub_overlay,
                self.pub_objects,
                self.pub_object_markers,
            )
        ]
        if self.params.fixed_frame:
            self.camera_poses = CameraPoses(self, self.params.fixed_frame, self._reject)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="seqpose-inference", daemon=True)
        self._worker.start()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        for destroy, entity in self._entities:
            destroy(entity)
        self._entities = []
        if self.camera_poses is not None:
            self.camera_poses.destroy()
            self.camera_poses = None
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
            self.guard.infos.add(frame_id(msg.header), stamp_seconds(msg.header), k, (msg.width, msg.height))
        except ConversionError as exc:
            self._reject(f"camera_info: {exc}")

    def on_image(self, msg: Image) -> None:
        with self._lock:
            if self._pending is not None:
                self.guard.counters.count("dropped")
            self._pending = (msg, time.monotonic())
        self._wake.set()

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Counted now; the worker clears the memory before its next frame (never mid-inference)."""
        self.guard.request_reset("requested on ~/reset")
        response.success, response.message = True, "temporal memory cleared before the next frame"
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
                except Exception as exc:  # the node must outlive any one frame: an error, not bad input
                    self._fail(exc)

    def _process(self, msg: Image, arrived: float) -> None:
        try:
            stamp, frame = stamp_seconds(msg.header), frame_id(msg.header)
            self.guard.infos.wait_for(frame, stamp, self.params.camera_info_wait)
            rgb = image_to_rgb(msg)
            pose = self._camera_pose(frame, stamp)
            result = self.guard.process(rgb, frame, stamp, pose)
        except ConversionError as exc:
            self._reject(f"image: {exc}")
            return
        except Rejected as exc:
            self._log_rejection(f"image: {exc}")
            return
        header = msg.header
        self.pub_det.publish(to_detections(result.estimates, header))
        self.pub_markers.publish(to_markers(result.estimates, header, self.params.marker_lifetime))
        if self.params.publish_tf and result.estimates:
            self.tf_out.publish(to_transforms(result.estimates, header, self.params.frame_prefix))
        self._publish_objects(header, stamp, self._objects_frame(frame, pose))
        if self.pub_overlay.get_subscription_count() > 0:  # drawn only for someone watching
            overlay = draw_estimates(rgb, result.k, result.estimates)  # rgb: this frame's own copy
            self.pub_overlay.publish(rgb_to_image(overlay, header, "rgb8"))
            self.guard.counters.count("overlays")
        latency = time.monotonic() - arrived
        self.guard.counters.latency(latency)
        self.pub_status.publish(self._status(header, result, latency))
        if result.reset_reason:
            self._log("reset", f"temporal memory reset: {result.reset_reason}", warning=False)

    def _objects_frame(self, frame: str, pose: np.ndarray | None) -> str:
        """The frame the fused objects are in after this image: fixed_frame when TF gave the camera's
        pose, the camera's own frame for a static camera, '' when nothing was fused."""
        p = self.params
        if not (p.fusion and p.multi_frame):
            return ""
        if p.fixed_frame:
            return p.fixed_frame if pose is not None else ""
        return frame if p.static_camera else ""

    def _publish_objects(self, image_header: Header, stamp: float, fixed: str) -> None:
        """~/objects, ~/object_markers and the objects' TF frames, in the fixed frame."""
        if not fixed:
            return
        objects = self.guard.fused_objects()
        header = Header(stamp=image_header.stamp, frame_id=fixed)
        self.pub_objects.publish(to_fused_objects(objects, header, stamp))
        self.pub_object_markers.publish(to_object_markers(objects, header, self.params.marker_lifetime))
        if self.params.publish_tf and objects:
            self.tf_out.publish(to_object_transforms(objects, header, self.params.frame_prefix))

    def _camera_pose(self, frame: str, stamp: float) -> np.ndarray | None:
        """Camera -> fixed_frame at the image's stamp (moving-camera mode), None if TF lacks it."""
        if self.camera_poses is None:
            return None
        pose = self.camera_poses.pose(frame, stamp, self.params.tf_wait)
        if pose is None:
            self.guard.counters.count("motion_unknown")
            fixed = self.params.fixed_frame
            text = f"no transform {fixed!r} <- {frame!r} at {stamp:.3f} s: camera taken as static"
            text += ", fusion restarts" if self.params.fusion else ""
            self._log("tf", text)
        return pose

    def _status(self, header: object, result: object, latency: float) -> FrameStatus:
        c = self.guard.counters.snapshot()
        return FrameStatus(
            header=header,
            inference_time=result.inference_time,
            latency=latency,
            num_detections=len(result.estimates),
            frames_processed=c.processed,
            frames_dropped=c.dropped,
            messages_rejected=c.rejected,
            memory_resets=c.resets,
            memory_frames=self.guard.memory_frames,
            reset_reason=result.reset_reason,
            random_weights=self.random_weights,
        )

    def _fail(self, exc: Exception) -> None:
        """An error of the program while processing a frame: counted apart from rejections, logged
        as an error with its traceback, ERROR in the diagnostics; the next frame is processed."""
        text = f"{exc.__class__.__name__}: {exc}"
        self.guard.counters.error(text)
        now = time.monotonic()
        if now - self._logged.get("error", -LOG_PERIOD) >= LOG_PERIOD:
            self._logged["error"] = now
            trace = "".join(traceback.format_exception(exc))
            self.get_logger().error(f"frame lost to an error of seqpose (please report it): {trace}")

    def _reject(self, reason: str) -> None:
        self.guard.counters.reject(reason)
        self._log_rejection(reason)

    def _log_rejection(self, reason: str) -> None:
        self._log(reason_kind(reason), f"rejected {reason}")

    def _log(self, kind: str, text: str, warning: bool = True) -> None:
        """One log line per kind of event every LOG_PERIOD seconds, however its details vary.
        Each severity has its own call line: rclpy refuses a second severity from one line."""
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_PERIOD) < LOG_PERIOD:
            return
        self._logged[kind] = now
        if warning:
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)

    def publish_diagnostics(self) -> None:
        """Totals as values; the level reflects this period only (ERROR: a frame lost to an error
        of the program since the last message; WARN: a rejection, or random weights)."""
        c = self.guard.counters.take_window()
        lat = c.latencies[-1000:]
        values = {
            "rate_hz": c.processed_since / self.params.diagnostics_period,
            "latency_ms_mean": 1000 * float(np.mean(lat)) if lat else 0.0,
            "frames_processed": c.processed,
            "frames_dropped": c.dropped,
            "messages_rejected": c.rejected,
            "rejected_since_last": c.rejected_since,
            "memory_resets": c.resets,
            "camera_motion_unknown": c.motion_unknown,
            "overlays_published": c.overlays,
            "last_rejection": c.last_reject,
            "errors": c.errors,
            "errors_since_last": c.errors_since,
            "last_error": c.last_error,
            "random_weights": self.random_weights,
            "classes": self.class_names,
            **{f"rejected: {kind}": n for kind, n in sorted(c.rejected_by.items())},
        }
        warn = self.random_weights or c.rejected_since > 0
        level = DiagnosticStatus.WARN if warn else DiagnosticStatus.OK
        level = DiagnosticStatus.ERROR if c.errors_since else level
        message = "random weights" if self.random_weights else "running"
        status = DiagnosticStatus(
            level=level,
            name="seqpose: category-level pose",
            hardware_id=self.get_name(),
            message=f"errors: {c.last_error}" if c.errors_since else message,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)


def main(args: list[str] | None = None) -> int:
    argv = args if args is not None else sys.argv
    if {"-h", "--help"} & set(remove_ros_args(argv)[1:]):
        print(usage())
        return 0
    rclpy.init(args=argv)
    node = SeqPoseNode()
    if not node.params.autostart:
        node.get_logger().info(
            "unconfigured: run `ros2 lifecycle set /seqpose configure` and `... activate`, or start with"
            " -p autostart:=true or --params-file config/seqpose.yaml (seqpose_node --help lists the"
            " parameters)"
        )
    try:
        # On a failed configure the node stays up, unconfigured, for the operator to fix and retry.
        if node.params.autostart and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
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
