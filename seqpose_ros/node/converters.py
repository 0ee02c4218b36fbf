"""Pure, typed conversions between ROS messages and seqpose_core's numpy world.

No node, no graph: every function here is tested on plain messages. Errors raise
``ConversionError`` with a message that names the field and what is wrong.
"""

from __future__ import annotations

import colorsys
import math
import zlib
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, PoseWithCovariance, Quaternion, TransformStamped, Vector3
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import (
    BoundingBox3D,
    Detection3D,
    Detection3DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
)
from visualization_msgs.msg import Marker, MarkerArray

from seqpose_core.categories import NOCS
from seqpose_core.estimates import UNTRACKED, PoseEstimate
from seqpose_core.geometry import (
    BOX_EDGES,
    box_corners,
    matrix_to_quaternion,
    quaternion_to_matrix,
    rigid_transform,
    transform_points,
)
from seqpose_core.inputs import check_intrinsics
from seqpose_ros.node import pixels
from seqpose_ros.node.tf_buffer import StampedTransform

CLASS_COLOURS = {
    "bottle": (0.9, 0.3, 0.2),
    "bowl": (0.2, 0.6, 0.9),
    "camera": (0.9, 0.8, 0.1),
    "can": (0.6, 0.3, 0.9),
    "laptop": (0.2, 0.8, 0.4),
    "mug": (0.95, 0.5, 0.8),
}


class ConversionError(ValueError):
    """A message that cannot be converted; the message says which field and why."""


def stamp_seconds(header: Header) -> float:
    """builtin_interfaces/Time -> seconds; rejects nanosec >= 1e9 (an invalid Time)."""
    if header.stamp.nanosec >= 1_000_000_000:
        raise ConversionError(f"stamp nanosec {header.stamp.nanosec} is not below 1e9")
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def frame_id(header: Header) -> str:
    """The header's frame id; an empty one would put every output in no frame."""
    if not header.frame_id:
        raise ConversionError("header.frame_id is empty")
    return header.frame_id


def image_to_rgb(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8) -> RGB uint8 (H, W, 3), a copy."""
    try:
        return pixels.decode(bytes(msg.data), msg.encoding, msg.width, msg.height, msg.step)
    except pixels.PixelError as exc:
        raise ConversionError(str(exc)) from exc


def image_fields(rgb: np.ndarray, encoding: str = "rgb8") -> dict[str, object]:
    """sensor_msgs/Image's fields but the header for RGB uint8 (H, W, 3) in ``encoding``, data as
    bytes: the one builder of images, for rclpy's messages and rosbags' (``seqpose_ros.bags``)."""
    data, step = pixels.encode(rgb, encoding)
    h, w = rgb.shape[:2]
    return {"height": h, "width": w, "encoding": encoding, "is_bigendian": 0, "step": step, "data": data}


def camera_info_fields(k: np.ndarray, width: int, height: int) -> dict[str, object]:
    """sensor_msgs/CameraInfo's fields but the header, ROI and binning for a pinhole camera K
    (3, 3) without distortion: the one builder of camera infos, for rclpy and rosbags."""
    p = np.zeros((3, 4))
    p[:, :3] = k
    return {
        "width": width,
        "height": height,
        "distortion_model": "plumb_bob",
        "d": np.zeros(5),
        "k": np.asarray(k, np.float64).flatten(),
        "r": np.eye(3).flatten(),
        "p": p.flatten(),
    }


def rgb_to_image(rgb: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    """RGB uint8 (H, W, 3) -> sensor_msgs/Image in ``encoding`` (for players and tests)."""
    return Image(header=header, **image_fields(rgb, encoding))


def header_at(ns: int, frame: str) -> Header:
    """A header stamped ``ns`` nanoseconds after the epoch, in ``frame``."""
    return Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame)


def camera_messages(
    rgb: np.ndarray, k: np.ndarray, header: Header, encoding: str = "rgb8"
) -> tuple[Image, CameraInfo]:
    """One frame as a camera driver publishes it (for players, benchmarks and tests): RGB uint8
    (H, W, 3) and K (3, 3) -> the Image and its CameraInfo, both with ``header``."""
    h, w = rgb.shape[:2]
    return rgb_to_image(rgb, header, encoding), k_to_camera_info(k, header, w, h)


def camera_info_to_k(msg: CameraInfo) -> np.ndarray:
    """sensor_msgs/CameraInfo -> K (3, 3); rejects intrinsics that are not plausible for its
    width x height (seqpose_core.inputs.check_intrinsics)."""
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if msg.width == 0 or msg.height == 0:
        raise ConversionError(f"camera_info has no image size ({msg.width} x {msg.height})")
    try:
        check_intrinsics(k, msg.width, msg.height)
    except ValueError as exc:
        raise ConversionError(f"camera_info {exc}") from exc
    return k


def k_to_camera_info(k: np.ndarray, header: Header, width: int, height: int) -> CameraInfo:
    return CameraInfo(header=header, **camera_info_fields(k, width, height))


def pose_msg(rot: np.ndarray, t: np.ndarray) -> Pose:
    q = matrix_to_quaternion(rot)
    return Pose(
        position=Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
        orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )


def object_name(e: PoseEstimate, index: int) -> str:
    """Stable name of a detection: class and track id (or the index in this frame when untracked)."""
    return f"{e.class_name}_{e.track_id}" if e.track_id != UNTRACKED else f"{e.class_name}_n{index}"


def to_detections(estimates: list[PoseEstimate], header: Header) -> Detection3DArray:
    """bbox.center = object pose in the image's frame, bbox.size = metric extents, results[0] = class."""
    out = Detection3DArray(header=header)
    for i, e in enumerate(estimates):
        pose = pose_msg(e.rotation, e.translation)
        hyp = ObjectHypothesisWithPose(
            hypothesis=ObjectHypothesis(class_id=e.class_name, score=e.score),
            pose=PoseWithCovariance(pose=pose),
        )
        size = Vector3(x=float(e.size[0]), y=float(e.size[1]), z=float(e.size[2]))
        out.detections.append(
            Detection3D(
                header=header, results=[hyp], bbox=BoundingBox3D(center=pose, size=size), id=object_name(e, i)
            )
        )
    return out


def to_transforms(estimates: list[PoseEstimate], header: Header, prefix: str) -> TFMessage:
    """One transform per detection: parent = the image's frame, child = prefix + class + track id."""
    out = TFMessage()
    for i, e in enumerate(estimates):
        out.transforms.append(_transform(e.rotation, e.translation, header, f"{prefix}{object_name(e, i)}"))
    return out


def transform_msg(matrix: np.ndarray, header: Header, child: str) -> TransformStamped:
    """A rigid transform (4, 4), p_parent = M @ p_child, as a TransformStamped (parent: header)."""
    return _transform(matrix[:3, :3], matrix[:3, 3], header, child)


def _transform(rot: np.ndarray, t_vec: np.ndarray, header: Header, child: str) -> TransformStamped:
    pose = pose_msg(rot, t_vec)
    t = TransformStamped(header=header, child_frame_id=child)
    t.transform.translation = Vector3(x=pose.position.x, y=pose.position.y, z=pose.position.z)
    t.transform.rotation = pose.orientation
    return t


def to_stamped_transform(t: TransformStamped) -> StampedTransform:
    """One TF message entry -> StampedTransform; rejects empty frame ids, non-finite values and a
    zero quaternion."""
    if not t.header.frame_id or not t.child_frame_id:
        raise ConversionError(f"transform {t.header.frame_id!r} -> {t.child_frame_id!r}: empty frame id")
    v, q = t.transform.translation, t.transform.rotation
    values = np.array([v.x, v.y, v.z, q.x, q.y, q.z, q.w])
    if not np.all(np.isfinite(values)) or np.linalg.norm(values[3:]) < 1e-6:
        raise ConversionError(
            f"transform {t.header.frame_id!r} -> {t.child_frame_id!r}: non-finite values or zero quaternion"
        )
    m = rigid_transform(quaternion_to_matrix(values[3:]), values[:3])
    return StampedTransform(t.header.frame_id, t.child_frame_id, stamp_seconds(t.header), m)


def _colour(name: str, alpha: float = 1.0) -> ColorRGBA:
    r, g, b = CLASS_COLOURS.get(name) or _name_colour(name)
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


def _name_colour(name: str) -> tuple[float, float, float]:
    """A class outside the NOCS six gets a bright colour of its own, the same in every run."""
    hue = zlib.crc32(name.encode()) / 2**32
    return colorsys.hsv_to_rgb(hue, 0.8, 0.95)


def _point(p: np.ndarray) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _marker(header: Header, ns: str, i: int, kind: int, life: Duration, **fields: object) -> Marker:
    m = Marker(header=header, ns=ns, id=i, type=kind, action=Marker.ADD, lifetime=life, **fields)
    m.pose.orientation.w = 1.0
    return m


def _box_marker(e: PoseEstimate, header: Header, i: int, life: Duration) -> Marker:
    m = _marker(
        header, "boxes", i, Marker.LINE_LIST, life, color=_colour(e.class_name), scale=Vector3(x=0.004)
    )
    corners = transform_points(e.rotation, e.translation, box_corners(e.size))
    m.points = [_point(corners[k]) for edge in BOX_EDGES for k in edge]
    return m


def _axes_marker(e: PoseEstimate, header: Header, i: int, life: Duration) -> Marker:
    m = _marker(header, "axes", i, Marker.LINE_LIST, life, scale=Vector3(x=0.003))
    ends = transform_points(e.rotation, e.translation, np.vstack([np.zeros(3), 0.5 * np.diag(e.size)]))
    for k, (r, g, b) in enumerate(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))):
        m.points += [_point(ends[0]), _point(ends[k + 1])]
        m.colors += [ColorRGBA(r=r, g=g, b=b, a=1.0)] * 2
    return m


def _label_marker(e: PoseEstimate, header: Header, i: int, life: Duration) -> Marker:
    m = _marker(
        header,
        "labels",
        i,
        Marker.TEXT_VIEW_FACING,
        life,
        color=_colour(e.class_name),
        scale=Vector3(z=0.03),
        text=f"{object_name(e, i)} {e.score:.2f}",
    )
    m.pose.position = _point(
        e.translation - e.rotation[:, 1] * (0.5 * e.size[1] + 0.02)
    )  # above: optical y is down
    return m


def to_markers(estimates: list[PoseEstimate], header: Header, lifetime: float = 0.5) -> MarkerArray:
    """RViz: a DELETEALL, then per detection the box edges, its axes and a text label."""
    life = Duration(sec=int(lifetime), nanosec=int((lifetime % 1) * 1e9))
    out = MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL)])
    for i, e in enumerate(estimates):
        out.markers += [f(e, header, i, life) for f in (_box_marker, _axes_marker, _label_marker)]
    return out


def detection_to_estimate(d: Detection3D, names: Sequence[str] = NOCS.names) -> PoseEstimate:
    """One vision_msgs/Detection3D of ``to_detections`` -> the PoseEstimate it carries; the
    track id is read back from the id ``object_name`` wrote (UNTRACKED for an index name).
    names: the publishing model's class names, "BG" first (``Predictor.class_names``)."""
    p, s = d.bbox.center, d.bbox.size
    q = [p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]
    if not all(math.isfinite(v) for v in q):
        raise ConversionError(f"detection {d.id!r} has a non-finite orientation")
    hyp = d.results[0].hypothesis if d.results else ObjectHypothesis()
    if hyp.class_id not in names[1:]:
        known = tuple(names[1:])
        raise ConversionError(f"detection {d.id!r}: unknown class {hyp.class_id!r}; expected one of {known}")
    cls = list(names).index(hyp.class_id)
    track = d.id.rsplit("_", 1)[-1]
    return PoseEstimate(
        cls,
        hyp.class_id,
        hyp.score,
        quaternion_to_matrix(np.array(q)),
        np.array([p.position.x, p.position.y, p.position.z]),
        np.array([s.x, s.y, s.z]),
        int(track) if track.isdigit() else UNTRACKED,
    )


def detections_to_estimates(msg: Detection3DArray, names: Sequence[str] = NOCS.names) -> list[PoseEstimate]:
    """Detection3DArray -> its estimates (for recording and comparing outputs); names as in
    ``detection_to_estimate``."""
    return [detection_to_estimate(d, names) for d in msg.detections]
