"""The node's parameters: one typed dataclass, their ranges and descriptions, written once.

``config/seqpose.yaml`` sets them (a test checks that its keys are exactly these fields).
Ranges are enforced when a parameter is declared (an out-of-range start value is refused,
logged with its name, and the default kept) and whenever it is set. Fields marked
``runtime`` (``RUNTIME``) take effect on the next frame; the others when the node is next
configured or activated.
Topics are not parameters: remap ``image``, ``camera_info``, ``detections``, ``markers``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from seqpose_core.onnx_backend import BACKENDS, DEFAULT_CACHE
from seqpose_core.precision import PRECISIONS
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD


@dataclass(frozen=True)
class Spec:
    description: str
    low: float | None = None  # inclusive range for numbers
    high: float | None = None
    choices: tuple[str, ...] = ()
    runtime: bool = False  # True: takes effect on the next frame; else on configure/activate


def param(
    default: Any, description: str, low: float | None = None, high: float | None = None, **kw: Any
) -> Any:
    """A parameter: its default and its Spec, kept in the field's metadata."""
    return field(default=default, metadata={"spec": Spec(description, low, high, **kw)})


@dataclass
class NodeParams:
    checkpoint: str = param("", ".safetensors with its .yaml beside it; '' = the embedded model")
    device: str = param("cpu", "torch device: cpu, cuda, cuda:1, ...")
    precision: str = param(
        "fp32",
        "fp32, bf16 (encoder), int8 (encoder linears, cpu), bf16-all or fp16-all (whole network; fp16: cuda)",
        choices=PRECISIONS,
    )
    backend: str = param(
        "auto",
        "auto (onnxruntime for fp32 on cpu, else torch), torch, or onnxruntime (the exported network)",
        choices=("auto", *BACKENDS),
    )
    onnx_cache: str = param(DEFAULT_CACHE, "folder of the exported networks (backend onnxruntime)")
    compile: bool = param(
        False,
        "torch.compile the per-frame network, CUDA graphs on cuda (backend torch; configure takes minutes)",
    )
    threads: int = param(0, "torch CPU threads; 0 = one core left for the ROS side, at most 4", 0, 256)
    multi_frame: bool = param(True, "temporal memory across frames; false = single-frame")
    score_threshold: float = param(
        DEFAULT_SCORE_THRESHOLD, "publish estimates scoring at least this", 0.0, 1.0, runtime=True
    )
    max_detections: int = param(50, "at most this many estimates per image", 1, 1000, runtime=True)
    qos: str = param("sensor_data", "subscriptions' QoS", choices=("sensor_data", "reliable"))
    publish_tf: bool = param(True, "one TF frame per estimate on /tf", runtime=True)
    frame_prefix: str = param("seqpose/", "TF child frames <prefix><class>_<track id>", runtime=True)
    max_gap: float = param(1.0, "seconds between frames beyond which the memory resets", 0.01, 3600.0)
    jump_back_reset: float = param(0.5, "a stamp this far back resets; less is rejected", 0.0, 3600.0)
    camera_info_tolerance: float = param(0.5, "seconds between an image and its camera info", 0.0, 60.0)
    camera_info_wait: float = param(
        0.05, "seconds an image waits for its own camera info", 0.0, 1.0, runtime=True
    )
    fixed_frame: str = param(
        "",
        "a frame fixed in the world (odom, base_link of an arm): the camera's motion in it, from TF,"
        " moves the memory and tracks; '' = a static camera",
    )
    tf_wait: float = param(0.05, "seconds an image waits for the camera's transform", 0.0, 1.0, runtime=True)
    fusion: bool = param(
        True,
        "fuse each tracked object's estimates in fixed_frame (static objects; multi_frame; needs"
        " fixed_frame or static_camera) and publish them on ~/objects",
    )
    static_camera: bool = param(
        False, "without fixed_frame: the camera does not move, so its own frame is the fixed frame"
    )
    keep_unseen: float = param(10.0, "seconds a fused object stays on ~/objects out of view", 0.0, 3600.0)
    marker_lifetime: float = param(0.5, "seconds RViz keeps a marker", 0.0, 3600.0, runtime=True)
    diagnostics_period: float = param(1.0, "seconds between /diagnostics messages", 0.05, 3600.0)
    autostart: bool = param(False, "configure and activate without a lifecycle manager (at start)")

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeParams:
        """Typed parameters from ``{name: value}``; raises ValueError naming a bad one."""
        for name, value in values.items():
            check(name, value)
        return cls(**values)


SPECS: dict[str, Spec] = {f.name: f.metadata["spec"] for f in fields(NodeParams)}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(NodeParams)}
RUNTIME = tuple(name for name, spec in SPECS.items() if spec.runtime)


USAGE = """usage: seqpose_node [--ros-args -p NAME:=VALUE ... | --params-file config/seqpose.yaml]

The seqpose lifecycle node: sensor_msgs/Image + CameraInfo in; vision_msgs/Detection3DArray,
RViz markers, an overlay image, TF and seqpose/FrameStatus out. Started without autostart it
waits unconfigured: ros2 lifecycle set /seqpose configure, then activate (or -p autostart:=true;
config/seqpose.yaml and the launch file set it). Topics are remapped, not set:
  --ros-args -r image:=/camera/color/image_raw -r camera_info:=/camera/color/camera_info

parameters (default; * = takes effect on the next frame):"""


def usage() -> str:
    """The node's --help: how to start it and every parameter with its default and description."""
    width = max(len(n) for n in SPECS)
    rows = [
        f"  {name:<{width}}  {DEFAULTS[name]!r}{' *' if spec.runtime else ''}: {spec.description}"
        for name, spec in SPECS.items()
    ]
    return "\n".join([USAGE, *rows])


def check(name: str, value: Any) -> None:
    """Raise ValueError naming the parameter when ``value`` is of the wrong type or out of range."""
    if name not in SPECS:
        raise ValueError(f"parameter {name!r}: no such parameter (known: {', '.join(SPECS)})")
    spec, default = SPECS[name], DEFAULTS[name]
    if isinstance(default, bool) != isinstance(value, bool) or not isinstance(
        value, type(default) | _widen(default)
    ):
        raise ValueError(f"parameter {name!r}: expected {type(default).__name__}, got {value!r}")
    if spec.low is not None and not spec.low <= value <= spec.high:
        raise ValueError(f"parameter {name!r}: {value} is outside [{spec.low}, {spec.high}]")
    if spec.choices and value not in spec.choices:
        raise ValueError(f"parameter {name!r}: {value!r} is not one of {', '.join(spec.choices)}")


def _widen(default: Any) -> type:
    """An integer is a fine value for a float parameter."""
    return int if isinstance(default, float) else type(default)


def cpu_threads(requested: int, cores: int | None = None) -> int:
    """The torch intra-op threads for the ``threads`` parameter: as requested, or (0) all cores
    but one, which the node's executor, converters and DDS need, at most 4 (on this project's
    2-core machine one thread answered a 15 Hz stream 20 % faster than two)."""
    if requested:
        return requested
    return max(1, min(4, (cores or os.cpu_count() or 1) - 1))
