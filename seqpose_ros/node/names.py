"""The node's name and topic names, written once for the node and for the tools that talk to
it (live replay, bench_node). Relative names: remap them like any ROS topic."""

from __future__ import annotations

NODE = "seqpose"
IMAGE = "image"
CAMERA_INFO = "camera_info"
DETECTIONS = "detections"
MARKERS = "markers"
STATUS = "~/status"
OVERLAY = "~/overlay"
RESET = "~/reset"
OBJECTS = "~/objects"
OBJECT_MARKERS = "~/object_markers"


def resolved(name: str, namespace: str = "/") -> str:
    """The absolute name of one of the node's topics when it runs in ``namespace``:
    'detections' -> '/detections', '~/status' -> '/seqpose/status'."""
    base = namespace.rstrip("/")
    if name.startswith("~/"):
        return f"{base}/{NODE}/{name[2:]}"
    return f"{base}/{name}"
