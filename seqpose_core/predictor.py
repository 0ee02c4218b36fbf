"""A stateful, numpy-in/numpy-out predictor around SeqPose for one camera stream.

``Predictor.step(rgb, K, stamp)`` resizes the image to the network's input (scaling the
intrinsics with it), runs the network with the temporal memory of the stream, suppresses
duplicate estimates and, in multi-frame mode, assigns each to a track with a stable id;
it returns 9-DoF estimates in the camera's optical frame (metres, radians). Given the
camera's motion since the previous frame (or its pose in a fixed frame), the memory's anchors
and the tracks are moved into the current camera frame first, and each tracked object's
estimates are fused in the fixed frame (``tracking/fusion.py``: objects that stand still);
without either, a camera declared static is its own fixed frame, and otherwise nothing is
fused. The memory and the tracks are reset by ``reset()``,
and by the predictor itself when time goes backwards or the gap since the last frame
exceeds ``max_gap``; the step's ``StepResult`` says why. A frame whose stamp equals the
last one, or lies at most ``late_tolerance`` before it, is refused (a late delivery, not a
new stream). The Predictor alone owns this time policy. Single-frame mode keeps no state.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from seqpose_core.data.transforms import resize_crop_intrinsics
from seqpose_core.estimates import UNTRACKED, PoseEstimate, StepResult
from seqpose_core.geometry import camera_motion as motion_between
from seqpose_core.inputs import InputError, check_camera_motion, check_inputs
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.model.stream import PREDICTIONS, StreamFrame, StreamMemory
from seqpose_core.onnx_backend import DEFAULT_CACHE, check_backend, onnx_model, resolve_backend
from seqpose_core.precision import autocast_dtype, check_precision, prepare_model
from seqpose_core.tracking.fusion import FUSION, FusedObject, Fusion, FusionConfig
from seqpose_core.tracking.suppression import SuppressionConfig, suppress_duplicates
from seqpose_core.tracking.tracker import TrackerConfig, TrackManager

__all__ = ["DEFAULT_SCORE_THRESHOLD", "UNTRACKED", "PoseEstimate", "Predictor", "StepResult"]

# Publishing threshold of the node, replay and demo.
DEFAULT_SCORE_THRESHOLD = 0.2


class Predictor:
    """One camera stream: numpy image and intrinsics in, tracked 9-DoF estimates out."""

    def __init__(
        self,
        model: SeqPose,
        device: str | torch.device,
        multi_frame: bool = True,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        max_detections: int = 50,
        max_gap: float = 1.0,
        late_tolerance: float = 0.0,
        suppression: SuppressionConfig | None = None,
        tracker: TrackerConfig | None = None,
        precision: str = "fp32",
        backend: str = "torch",
        onnx_cache: str = DEFAULT_CACHE,
        compile: bool = False,
        fusion: FusionConfig | None = FUSION,
        static_camera: bool = False,
        network_memory: bool = True,
    ):
        """compile: torch.compile the whole per-frame network (``StreamFrame``, static shapes;
        on CUDA with CUDA graphs, mode "reduce-overhead"), compiled now, not on the first
        camera frame. precision: fp32, bf16 / int8 (the encoder), bf16-all / fp16-all (the
        whole network; ``seqpose_core.precision``). backend: torch, onnxruntime, or auto (ONNX
        Runtime for fp32 on cpu, torch otherwise: ``resolve_backend``). fusion: how tracked
        objects are fused in a fixed frame (multi-frame mode; None: not fused). static_camera:
        a frame without camera motion means the camera did not move (else fusion pauses).
        network_memory: False runs the network on each frame alone, as single-frame mode does,
        while tracking and fusion still run (what fusion adds without the network's memory)."""
        self.suppression = suppression or SuppressionConfig()
        self.tracks = TrackManager(tracker)
        self.device = torch.device(device)
        check_precision(precision, self.device)
        backend = resolve_backend(backend, self.device, precision, compile)
        check_backend(backend, self.device, precision)
        if compile and backend != "torch":
            raise ValueError(f"compile applies to the torch backend, not {backend!r}")
        self.precision, self.backend, self.compiled = precision, backend, compile
        model = model.to(self.device).eval()
        self.multi_frame = multi_frame
        self.memory = StreamMemory(model.cfg, self.device)
        self.network: Callable[..., tuple] = self._network(model, onnx_cache)
        self.score_threshold = score_threshold
        self.max_detections = max_detections
        self.max_gap, self.late_tolerance = max_gap, late_tolerance
        self.last_stamp: float | None = None
        self.fusion = Fusion(model.cfg.classes, fusion) if multi_frame and fusion is not None else None
        self.static_camera, self.network_memory = static_camera, network_memory
        self.world_from_camera: np.ndarray | None = None  # the camera's pose in the fusion's fixed frame
        self._pose_given = False  # whether that frame is the caller's (camera_pose) or the stream's own
        self.last_pose: np.ndarray | None = None

    def _network(self, model: SeqPose, onnx_cache: str) -> Callable[..., tuple]:
        """The per-frame function: StreamFrame (eager or compiled) or its ONNX Runtime twin."""
        self.cfg = model.cfg
        self.class_names = model.cfg.classes.names  # (C + 1,): "BG", then the model's classes
        if self.backend != "torch":
            self.model = None
            return onnx_model(model, onnx_cache)
        self.model = prepare_model(model, self.precision)
        network = StreamFrame(self.model, autocast_dtype(self.precision))
        if not self.compiled:
            return network
        mode = "reduce-overhead" if self.device.type == "cuda" else None  # CUDA graphs
        compiled = torch.compile(network, mode=mode, dynamic=False)
        self._warm_up(compiled)
        return compiled

    @torch.inference_mode()
    def _warm_up(self, network: Callable[..., tuple]) -> None:
        """Run the compiled network on an image laid out as ``prepare`` lays out every frame
        (the graph is specialised to its strides; another layout would compile again on the
        first camera frame: 23 s on CPU), three times for CUDA graphs to be recorded."""
        h, w = self.cfg.input_size
        k = np.array([[float(w), 0.0, w / 2], [0.0, float(w), h / 2], [0.0, 0.0, 1.0]])
        image, k_in = self.prepare(np.zeros((h, w, 3), np.uint8), k)
        stamp = torch.zeros(1, dtype=torch.float64, device=self.device)
        for _ in range(3 if self.device.type == "cuda" else 1):
            self._mark_step()
            network(image, k_in, stamp, *self._state())

    def reset(self) -> None:
        """Forget the stream: the memory, the tracks and the last stamp."""
        self.memory.reset()
        self.tracks.reset()
        self.last_stamp = None
        self.world_from_camera, self.last_pose = None, None
        if self.fusion is not None:
            self.fusion.reset()

    def _check_time(self, stamp: float) -> str:
        """Why this stamp starts the stream afresh ("" when it does not); a late frame raises."""
        last = self.last_stamp
        if last is None:
            return ""
        if 0.0 <= last - stamp <= self.late_tolerance:
            raise InputError(f"stamp: out-of-order stamp {stamp:.3f} s after {last:.3f} s")
        if stamp < last:
            return f"time went back from {last:.3f} s to {stamp:.3f} s"
        if stamp - last > self.max_gap:
            return f"gap of {stamp - last:.3f} s exceeds {self.max_gap:.3f} s"
        return ""

    def prepare(self, rgb: np.ndarray, k: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 image of any size -> network input (1, 3, H, W) and its intrinsics (1, 3, 3)."""
        out_hw = self.cfg.input_size
        k_in, (rh, rw), (y0, x0) = resize_crop_intrinsics(np.asarray(k, np.float64), rgb.shape[:2], out_hw)
        img = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA)[
            y0 : y0 + out_hw[0], x0 : x0 + out_hw[1]
        ]
        image = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().div_(255.0)
        return image.to(self.device), torch.from_numpy(k_in)[None].float().to(self.device)

    @torch.inference_mode()
    def step(
        self,
        rgb: np.ndarray,
        k: np.ndarray,
        stamp: float,
        camera_motion: np.ndarray | None = None,
        camera_pose: np.ndarray | None = None,
    ) -> StepResult:
        """rgb uint8 (H, W, 3); k (3, 3) intrinsics of that image; stamp in seconds; camera_motion
        (4, 4) or None: p_current = camera_motion @ p_previous, the camera's motion since the
        previous frame (multi-frame mode; ignored right after a reset); camera_pose (4, 4) or
        None: camera -> a fixed frame (the node's ``fixed_frame``), in which objects are fused
        (the motion follows from two poses when not given). Raises InputError, naming the
        input, for an input it cannot use (a late stamp included)."""
        check_inputs(rgb, k, stamp)
        camera_motion, camera_pose = (
            None if m is None else np.asarray(m, dtype=np.float64) for m in (camera_motion, camera_pose)
        )
        for name, m in (("camera_motion", camera_motion), ("camera_pose", camera_pose)):
            if m is not None:
                check_camera_motion(m, name)
        reason = self._check_time(stamp)
        if reason:
            self.reset()
            reason = reason if self.multi_frame else ""  # single-frame mode has nothing to reset
        fresh = self.last_stamp is None
        if camera_motion is None and camera_pose is not None and self.last_pose is not None and not fresh:
            camera_motion = motion_between(self.last_pose, camera_pose)
        image, k_in = self.prepare(rgb, k)
        if self.multi_frame and camera_motion is not None and self.last_stamp is not None:
            self._move(camera_motion, k_in)
        t = torch.tensor([stamp], dtype=torch.float64, device=self.device)
        self._mark_step()
        outputs = self.network(image, k_in, t, *self._state())
        if self.multi_frame and self.network_memory:
            self.memory.update(self._own(outputs[len(PREDICTIONS) :]))
        self.last_stamp = stamp
        estimates = suppress_duplicates(self._estimates(outputs[: len(PREDICTIONS)]), self.suppression)
        if self.multi_frame:
            estimates = self.tracks.update(estimates, stamp)
        if self.fusion is not None:
            estimates = self._fuse(estimates, stamp, fresh, camera_motion, camera_pose)
        self.last_pose = camera_pose
        return StepResult(estimates[: self.max_detections], reason)

    def _locate(
        self, fresh: bool, camera_motion: np.ndarray | None, camera_pose: np.ndarray | None
    ) -> np.ndarray | None:
        """The camera's pose (4, 4) in the fusion's fixed frame, None when unknown: the given pose;
        else the last one moved by the camera's motion (kept by a static camera); else, at the
        start of a stream or after a loss, the current camera frame as a new fixed frame."""
        if camera_pose is not None:
            return camera_pose
        known = self.world_from_camera is not None and not fresh
        if known and camera_motion is not None:
            return self.world_from_camera @ np.linalg.inv(camera_motion)
        if known and self.static_camera:
            return self.world_from_camera
        if fresh or camera_motion is not None or self.static_camera:
            return np.eye(4)
        return None

    def _fuse(
        self,
        estimates: list[PoseEstimate],
        stamp: float,
        fresh: bool,
        camera_motion: np.ndarray | None,
        camera_pose: np.ndarray | None,
    ) -> list[PoseEstimate]:
        world = self._locate(fresh, camera_motion, camera_pose)
        given = camera_pose is not None
        if world is None or given != self._pose_given:
            self.fusion.reset()  # the fixed frame is lost, or another one: pooled views no longer apply
        self.world_from_camera, self._pose_given = world, given
        return estimates if world is None else self.fusion.update(estimates, world, stamp)

    def fused_objects(self) -> list[FusedObject]:
        """The fused objects of the stream in its fixed frame (the given camera poses' frame, else
        the camera frame where fusion began), those out of view included for a while."""
        return self.fusion.fused_objects() if self.fusion is not None else []

    def _state(self) -> tuple[torch.Tensor, ...]:
        return self.memory.buffers.tensors() if self.multi_frame else ()

    def _mark_step(self) -> None:
        """A new step of the CUDA graphs: the outputs of the previous one may be overwritten."""
        if self.compiled and self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()

    def _own(self, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """The state a step returned, copied out of the CUDA graphs' output memory, which the
        next replay overwrites."""
        if self.compiled and self.device.type == "cuda":
            return tuple(x.clone() for x in state)
        return state

    def _move(self, transform: np.ndarray, k_in: torch.Tensor) -> None:
        self.memory.move(torch.from_numpy(transform).to(k_in), k_in)
        self.tracks.move(transform)

    def _estimates(self, predictions: tuple[torch.Tensor, ...]) -> list[PoseEstimate]:
        """Queries scoring at least the threshold, best first; query_id: the memory's id (0: fresh).
        The network's outputs (``PREDICTIONS``) come to the host in one copy."""
        logits, translation, rotation, size, ids, valid = (x[0] for x in predictions)
        scores, classes = logits.sigmoid().max(-1)
        columns = [c[:, None].double() for c in (scores, classes, ids, valid)]
        packed = torch.cat([*columns, translation.double(), size.double(), rotation.flatten(1).double()], 1)
        host = packed.cpu().numpy()  # (Q, 19): the frame's one read back
        keep = np.flatnonzero((host[:, 3] > 0) & (host[:, 0] >= self.score_threshold))
        keep = keep[np.argsort(-host[keep, 0], kind="stable")]
        return [self._estimate(row) for row in host[keep]]

    def _estimate(self, row: np.ndarray) -> PoseEstimate:
        """One row of ``_estimates``' packed outputs -> a PoseEstimate."""
        class_id = int(row[1]) + 1
        return PoseEstimate(
            class_id=class_id,
            class_name=self.class_names[class_id],
            score=float(row[0]),
            rotation=row[10:19].reshape(3, 3).copy(),
            translation=row[4:7].copy(),
            size=row[7:10].copy(),
            query_id=int(row[2]) if self.multi_frame else 0,
        )
