"""Messages with distinctive values, built identically by a publisher and a checker process."""

from __future__ import annotations

from geometry_msgs.msg import Pose, PoseWithCovariance, TransformStamped, Vector3
from seqpose.msg import FrameStatus
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import (
    BoundingBox3D,
    Detection3D,
    Detection3DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
)

FRAME = "camera_color_optical_frame"


def header() -> Header:
    h = Header(frame_id=FRAME)
    h.stamp.sec, h.stamp.nanosec = 1700000000, 123456789
    return h


def pose(x: float, y: float, z: float) -> Pose:
    p = Pose()
    p.position.x, p.position.y, p.position.z = x, y, z
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = 0.0, 0.6, 0.0, 0.8
    return p


def detections() -> Detection3DArray:
    covariance = [0.0] * 36
    covariance[0] = 1e-4
    hyp = ObjectHypothesisWithPose(
        hypothesis=ObjectHypothesis(class_id="mug", score=0.875),
        pose=PoseWithCovariance(pose=pose(0.1, -0.05, 0.72), covariance=covariance),
    )
    det = Detection3D(
        header=header(),
        results=[hyp],
        bbox=BoundingBox3D(center=pose(0.1, -0.05, 0.72), size=Vector3(x=0.12, y=0.095, z=0.083)),
        id="mug_7",
    )
    return Detection3DArray(header=header(), detections=[det])


def transforms() -> TFMessage:
    out = []
    for i, name in enumerate(("seqpose/mug_7", "seqpose/bowl_2")):
        t = TransformStamped(header=header(), child_frame_id=name)
        t.transform.translation.x, t.transform.translation.z = 0.1 * i, 0.5 + i
        t.transform.rotation.y, t.transform.rotation.w = 0.6, 0.8
        out.append(t)
    return TFMessage(transforms=out)


def status() -> FrameStatus:
    return FrameStatus(
        header=header(),
        inference_time=0.0421,
        latency=0.0555,
        num_detections=3,
        frames_processed=17,
        frames_dropped=2,
        messages_rejected=1,
        memory_resets=4,
        memory_frames=3,
        reset_reason="time jumped back",
        random_weights=True,
    )


# topic -> (type, builder)
SAMPLES = {
    "detections": (Detection3DArray, detections),
    "/tf": (TFMessage, transforms),
    "status": (FrameStatus, status),
}
