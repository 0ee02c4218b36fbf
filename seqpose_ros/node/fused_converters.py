"""Pure conversions of the fused objects (``seqpose_core.tracking.fusion.FusedObject``, in the
node's fixed frame) to messages: seqpose/FusedObjects, TF frames and RViz markers.

Objects out of view are published too (until the node's ``keep_unseen``), marked so: ``in_view``
false in the message, grey boxes and "(unseen)" in their labels in the markers.
"""

from __future__ import annotations

from geometry_msgs.msg import Vector3
from seqpose.msg import FusedObject as FusedObjectMsg
from seqpose.msg import FusedObjects
from std_msgs.msg import ColorRGBA, Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from seqpose_core.estimates import PoseEstimate
from seqpose_core.tracking.fusion import FusedObject
from seqpose_ros.node.converters import pose_msg, to_markers, to_transforms

UNSEEN_COLOUR = ColorRGBA(r=0.6, g=0.6, b=0.6, a=0.8)
OBJECT_NAMESPACE = "object_"  # markers and TF frames of fused objects: object_<class>_<track id>


def as_estimate(o: FusedObject) -> PoseEstimate:
    """A fused object as a PoseEstimate in the fixed frame (for the shared marker and TF code)."""
    return PoseEstimate(o.class_id, o.class_name, o.score, o.rotation, o.translation, o.size, o.track_id)


def to_fused_objects(objects: list[FusedObject], header: Header, stamp: float) -> FusedObjects:
    """header: frame_id = the fixed frame, stamp = the processed image's (``stamp`` in seconds)."""
    out = FusedObjects(header=header)
    for o in objects:
        out.objects.append(
            FusedObjectMsg(
                track_id=o.track_id,
                class_name=o.class_name,
                score=float(o.score),
                pose=pose_msg(o.rotation, o.translation),
                size=Vector3(x=float(o.size[0]), y=float(o.size[1]), z=float(o.size[2])),
                in_view=o.in_view,
                unseen_for=0.0 if o.in_view else max(0.0, stamp - o.last_seen),
            )
        )
    return out


def to_object_transforms(objects: list[FusedObject], header: Header, prefix: str) -> TFMessage:
    """One frame per fused object: parent = the fixed frame, child = <prefix>object_<class>_<id>."""
    return to_transforms([as_estimate(o) for o in objects], header, f"{prefix}{OBJECT_NAMESPACE}")


def to_object_markers(objects: list[FusedObject], header: Header, lifetime: float) -> MarkerArray:
    """The detections' markers for the fused objects, in the fixed frame; unseen ones grey."""
    out = to_markers([as_estimate(o) for o in objects], header, lifetime)
    for m in out.markers[1:]:  # after the DELETEALL: box, axes and label of object m.id
        unseen = not objects[m.id].in_view
        if unseen and m.ns == "boxes":
            m.color = UNSEEN_COLOUR
        if unseen and m.text:
            m.text = f"{m.text} (unseen)"
        m.ns = f"{OBJECT_NAMESPACE}{m.ns}"
    return out
