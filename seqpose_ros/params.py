"""The node's parameters: one typed dataclass, their ranges and descriptions, written once.

``config/seqpose.yaml`` sets them (a test checks that its keys are exactly these fields).
Ranges are enforced when a parameter is declared (an out-of-range start value is refused,
logged with its name, and the default kept) and whenever it is set. Fields in ``RUNTIME``
take effect on the next frame; the others when the node is next configured or activated.
Topics are not parameters: remap ``image``, ``camera_info``, ``detections``, ``markers``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD


@dataclass(frozen=True)
class Spec:
    description: str
    low: float | None = None  # inclusive range for numbers
    high: float | None = None
    choices: tuple[str, ...] = ()


@dataclass
class NodeParams:
    checkpoint: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    multi_frame: bool = True
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    max_detections: int = 50
    qos: str = "sensor_data"
    publish_tf: bool = True
    frame_prefix: str = "seqpose/"
    max_gap: float = 1.0
    jump_back_reset: float = 0.5
    camera_info_tolerance: float = 0.5
    camera_info_wait: float = 0.05
    marker_lifetime: float = 0.5
    diagnostics_period: float = 1.0
    autostart: bool = False

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeParams:
        """Typed parameters from ``{name: value}``; raises ValueError naming a bad one."""
        for name, value in values.items():
            check(name, value)
        return cls(**values)


SPECS: dict[str, Spec] = {
    "checkpoint": Spec(".safetensors with its .yaml beside it; '' = the embedded model (on configure)"),
    "device": Spec("torch device: cpu, cuda, cuda:1, ... (on configure)"),
    "precision": Spec(
        "fp32, bf16 (features) or int8 (linear layers, cpu) (on configure)", choices=("fp32", "bf16", "int8")
    ),
    "multi_frame": Spec("temporal memory across frames; false = single-frame (on configure)"),
    "score_threshold": Spec("publish estimates scoring at least this (next frame)", 0.0, 1.0),
    "max_detections": Spec("at most this many estimates per image (next frame)", 1, 1000),
    "qos": Spec("subscriptions' QoS (on activate)", choices=("sensor_data", "reliable")),
    "publish_tf": Spec("one TF frame per estimate on /tf (next frame)"),
    "frame_prefix": Spec("TF child frames <prefix><class>_<track id> (next frame)"),
    "max_gap": Spec("seconds between frames beyond which the memory resets (on configure)", 0.01, 3600.0),
    "jump_back_reset": Spec(
        "a stamp this far back resets the memory; less is rejected (on configure)", 0.0, 3600.0
    ),
    "camera_info_tolerance": Spec(
        "seconds between an image and the camera info it takes (on configure)", 0.0, 60.0
    ),
    "camera_info_wait": Spec("seconds an image waits for its own camera info (next frame)", 0.0, 1.0),
    "marker_lifetime": Spec("seconds RViz keeps a marker (next frame)", 0.0, 3600.0),
    "diagnostics_period": Spec("seconds between /diagnostics messages (on activate)", 0.05, 3600.0),
    "autostart": Spec("configure and activate without a lifecycle manager (at start)"),
}
RUNTIME = (
    "score_threshold",
    "max_detections",
    "publish_tf",
    "frame_prefix",
    "camera_info_wait",
    "marker_lifetime",
)
FIELD_TYPES = {f.name: f.type for f in fields(NodeParams)}
DEFAULTS = {f.name: f.default for f in fields(NodeParams)}


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
