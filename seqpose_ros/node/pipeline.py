"""The node's per-frame logic, free of ROS plumbing: pair an image with its camera info,
guard the stream (out-of-order stamps, frame changes), run the Predictor, keep counters.

The node feeds it converted messages from its callbacks and publishes what it returns.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from seqpose_core.geometry import camera_motion
from seqpose_core.inputs import InputError
from seqpose_core.predictor import PoseEstimate, Predictor
from seqpose_core.tracking.fusion import FusedObject


class Rejected(ValueError):
    """An input that is dropped with a reason (counted, logged, the node keeps running)."""


@dataclass
class Counters:
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    resets: int = 0
    last_reject: str = ""
    rejected_by: dict[str, int] = field(default_factory=dict)  # totals per kind of rejection
    latencies: list[float] = field(default_factory=list)  # seconds, since the last diagnostics
    processed_since: int = 0
    rejected_since: int = 0
    overlays: int = 0  # ~/overlay images published (only while someone subscribes)
    motion_unknown: int = 0  # frames of a moving camera (fixed_frame set) without its transform
    errors: int = 0  # frames lost to an error of the program (not of the input)
    errors_since: int = 0
    last_error: str = ""


def reason_kind(reason: str) -> str:
    """The kind of a rejection: its text without quoted values and numbers, so that frame ids,
    encodings and sizes that vary from message to message are one kind."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|-?\d[\d.e+-]*", "#", reason)


@dataclass
class FrameResult:
    estimates: list[PoseEstimate]
    inference_time: float
    reset_reason: str
    k: np.ndarray  # (3, 3) the intrinsics the frame was processed with


class CameraInfos:
    """Pairs images with camera infos: the latest ``max_infos`` by (frame id, stamp), from the
    callbacks' thread to the inference thread."""

    def __init__(self, tolerance: float = 0.5, max_infos: int = 50):
        self.tolerance, self.max_infos = tolerance, max_infos
        self.infos: OrderedDict[tuple[str, float], tuple[np.ndarray, tuple[int, int] | None]] = OrderedDict()
        self._changed = threading.Condition()

    def add(self, frame_id: str, stamp: float, k: np.ndarray, size: tuple[int, int] | None = None) -> None:
        """k (3, 3) of an image of size (width, height); None: any size (bags without it)."""
        with self._changed:
            self.infos[(frame_id, stamp)] = (k, size)
            while len(self.infos) > self.max_infos:
                self.infos.popitem(last=False)
            self._changed.notify_all()

    def wait_for(self, frame_id: str, stamp: float, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a camera info that fits this image (it may come just after)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._nearest(frame_id, stamp) is not None, timeout)

    def lookup(self, frame_id: str, stamp: float) -> tuple[np.ndarray, tuple[int, int] | None]:
        """K and image size of this frame: same frame id, nearest stamp within the tolerance;
        raises Rejected without one."""
        with self._changed:
            found = self._nearest(frame_id, stamp)
        if found is None:
            raise Rejected(f"no camera_info for frame {frame_id!r} within {self.tolerance} s of {stamp:.3f}")
        return found

    def _nearest(self, frame_id: str, stamp: float) -> tuple[np.ndarray, tuple[int, int] | None] | None:
        best = min(
            ((abs(s - stamp), info) for (f, s), info in self.infos.items() if f == frame_id),
            default=None,
            key=lambda x: x[0],
        )
        return None if best is None or best[0] > self.tolerance else best[1]


class StreamCounters:
    """The node's counters, written by the callbacks, the worker and read by the diagnostics
    timer: each change under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters = Counters()

    def reject(self, reason: str) -> None:
        kind = reason_kind(reason)
        with self._lock:
            c = self.counters
            c.rejected += 1
            c.rejected_since += 1
            c.last_reject = reason
            c.rejected_by[kind] = c.rejected_by.get(kind, 0) + 1

    def error(self, text: str) -> None:
        with self._lock:
            c = self.counters
            c.errors += 1
            c.errors_since += 1
            c.last_error = text

    def processed(self, reset: bool) -> None:
        with self._lock:
            self.counters.processed += 1
            self.counters.processed_since += 1
            self.counters.resets += reset

    def count(self, name: str) -> None:
        """One more of a plain counter: "resets", "dropped", "overlays" or "motion_unknown"."""
        with self._lock:
            setattr(self.counters, name, getattr(self.counters, name) + 1)

    def latency(self, seconds: float) -> None:
        with self._lock:
            self.counters.latencies.append(seconds)

    def snapshot(self) -> Counters:
        """A consistent copy of the counters (per frame: a shallow copy, its two containers copied)."""
        with self._lock:
            return self._copy()

    def _copy(self) -> Counters:
        c = self.counters
        return dataclasses.replace(c, rejected_by=dict(c.rejected_by), latencies=list(c.latencies))

    def take_window(self) -> Counters:
        """A copy of the counters; the per-period ones (latencies, *_since) start afresh."""
        with self._lock:
            c = self._copy()
            self.counters.latencies.clear()
            self.counters.processed_since = self.counters.rejected_since = self.counters.errors_since = 0
        return c


class StreamGuard:
    """One camera stream through the Predictor: its camera infos (``infos``), its reset policy
    (a new frame id, a requested reset; the Predictor owns the time policy) and its counters
    (``counters``)."""

    def __init__(self, predictor: Predictor, info_tolerance: float = 0.5, max_infos: int = 50):
        self.predictor = predictor
        self.infos = CameraInfos(info_tolerance, max_infos)
        self.counters = StreamCounters()
        self._lock = threading.Lock()  # the reset request: set from a service, taken by the worker
        self._reset_request = ""
        self.frame_id: str | None = None
        self.last_pose: np.ndarray | None = None  # camera -> fixed frame at the last processed frame

    def set_runtime(self, score_threshold: float, max_detections: int) -> None:
        """The run-time parameters that act on the next frame."""
        self.predictor.score_threshold = score_threshold
        self.predictor.max_detections = max_detections

    def _clear(self) -> None:
        self.predictor.reset()
        self.last_pose = None

    def request_reset(self, reason: str) -> None:
        """From any thread: counted now, applied by ``process`` before its next frame."""
        self.counters.count("resets")
        with self._lock:
            self._reset_request = reason

    def _take_reset_request(self) -> str:
        with self._lock:
            reason, self._reset_request = self._reset_request, ""
        if reason:
            self._clear()
        return reason

    def _guard_stream(self, frame_id: str) -> str:
        reason = ""
        if self.frame_id is not None and frame_id != self.frame_id:
            reason = f"frame id changed from {self.frame_id!r} to {frame_id!r}"
            self._clear()
            self.counters.count("resets")
        self.frame_id = frame_id
        return reason

    def camera_motion(self, pose: np.ndarray | None) -> np.ndarray | None:
        """The camera's motion since the last processed frame, p_now = M @ p_before, from its
        poses in a fixed frame (4, 4, camera -> fixed); None when either pose is unknown."""
        if pose is None or self.last_pose is None:
            return None
        return camera_motion(self.last_pose, pose)

    def process(
        self, rgb: np.ndarray, frame_id: str, stamp: float, camera_pose: np.ndarray | None = None
    ) -> FrameResult:
        """Run one frame; raises Rejected (counted) for inputs that cannot be used.
        camera_pose: (4, 4) camera -> a fixed frame at this stamp, when the camera moves and TF
        knows it; the memory and tracks then follow the camera, and objects are fused in that frame."""
        try:
            k, size = self.infos.lookup(frame_id, stamp)
            if size is not None and size != (rgb.shape[1], rgb.shape[0]):
                raise Rejected(
                    f"camera_info is for {size[0]} x {size[1]} images, this image is"
                    f" {rgb.shape[1]} x {rgb.shape[0]}: its K does not apply"
                )
            requested = self._take_reset_request()
            reason = self._guard_stream(frame_id) or requested
            start = time.perf_counter()
            result = self.predictor.step(rgb, k, stamp, self.camera_motion(camera_pose), camera_pose)
        except (Rejected, InputError) as exc:  # anything else is the program's error, not the input's
            self.counters.reject(str(exc))
            raise Rejected(str(exc)) from exc
        # a reset inside the step: time jumped back beyond the limit, or a gap
        self.counters.processed(reset=bool(result.reset_reason))
        reason = result.reset_reason or reason
        self.last_pose = camera_pose
        return FrameResult(result.estimates, time.perf_counter() - start, reason, k)

    def fused_objects(self) -> list[FusedObject]:
        """The predictor's fused objects (the inference thread's, like ``process``)."""
        return self.predictor.fused_objects()

    @property
    def memory_frames(self) -> int:
        return len(self.predictor.memory)
