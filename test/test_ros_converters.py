"""Message converters, tested on plain messages without a graph."""

import numpy as np
import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from seqpose_core.geometry import rotation_about_y
from seqpose_core.predictor import PoseEstimate
from seqpose_ros.bags.bag import stamp_ns
from seqpose_ros.node.converters import (
    ConversionError,
    camera_info_to_k,
    camera_messages,
    detections_to_estimates,
    header_at,
    image_to_rgb,
    k_to_camera_info,
    rgb_to_image,
    to_detections,
    to_markers,
    to_stamped_transform,
    to_transforms,
    transform_msg,
)

RGB = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
HEADER = Header(frame_id="cam_optical")


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_round_trip(encoding):
    np.testing.assert_array_equal(image_to_rgb(rgb_to_image(RGB, HEADER, encoding)), RGB)


def test_bgr_bytes_are_swapped_and_mono_is_grey():
    msg = Image(height=1, width=1, encoding="bgr8", step=3, data=bytes([10, 20, 30]))
    assert image_to_rgb(msg).tolist() == [[[30, 20, 10]]]
    mono = Image(height=1, width=2, encoding="mono8", step=2, data=bytes([7, 9]))
    assert image_to_rgb(mono).tolist() == [[[7, 7, 7], [9, 9, 9]]]


def test_row_padding_is_skipped():
    padded = np.zeros((5, 24), np.uint8)
    padded[:, :21] = RGB.reshape(5, 21)
    msg = Image(height=5, width=7, encoding="rgb8", step=24, data=padded.tobytes())
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (
            Image(height=2, width=2, encoding="16UC1", step=4, data=bytes(8)),
            "encoding '16UC1' is not supported",
        ),
        (Image(height=0, width=0, encoding="rgb8", step=0, data=b""), "image is empty"),
        (
            Image(height=2, width=2, encoding="rgb8", step=4, data=bytes(12)),
            "step 4 is smaller than width 2 x 3",
        ),
        (
            Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(5)),
            "data has 5 bytes, step 6 x height 2",
        ),
        (
            Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(13)),
            "data has 13 bytes, step 6 x height 2 makes 12",
        ),
    ],
)
def test_malformed_images_are_named(msg, message):
    with pytest.raises(ConversionError, match=message):
        image_to_rgb(msg)


def test_camera_info_round_trip_and_rejections():
    k = np.array([[500.0, 0, 320], [0, 505.0, 240], [0, 0, 1]])
    np.testing.assert_array_equal(camera_info_to_k(k_to_camera_info(k, HEADER, 640, 480)), k)
    with pytest.raises(ConversionError, match="no image size"):
        camera_info_to_k(CameraInfo())
    for index, value, message in (
        (8, 0.0, "last row"),
        (0, 1e-12, "implausible"),
        (2, 1e9, "principal point"),
    ):
        bad = k_to_camera_info(k, HEADER, 640, 480)
        bad.k[index] = value
        with pytest.raises(ConversionError, match=message):
            camera_info_to_k(bad)
    bad = k_to_camera_info(k, HEADER, 640, 480)
    bad.k[4] = float("inf")
    with pytest.raises(ConversionError, match="finite"):
        camera_info_to_k(bad)


def estimates():
    rot = rotation_about_y(0.4) @ np.diag([1.0, -1.0, -1.0])
    return [
        PoseEstimate(6, "mug", 0.9, rot, np.array([0.1, -0.02, 0.7]), np.array([0.12, 0.09, 0.08]), 17),
        PoseEstimate(
            2, "bowl", 0.6, np.eye(3), np.array([-0.2, 0.05, 0.9]), np.array([0.16, 0.06, 0.16]), -1
        ),
    ]


def test_detections_carry_pose_size_class_and_id():
    msg = to_detections(estimates(), HEADER)
    assert msg.header.frame_id == "cam_optical" and len(msg.detections) == 2
    back = detections_to_estimates(msg)
    for b, e in zip(back, estimates(), strict=True):
        assert (b.class_id, b.class_name, b.track_id) == (e.class_id, e.class_name, e.track_id)
        assert b.score == pytest.approx(e.score)
        np.testing.assert_allclose(b.rotation, e.rotation, atol=1e-12)
        np.testing.assert_allclose(b.translation, e.translation)
        np.testing.assert_allclose(b.size, e.size)
    assert [d.id for d in msg.detections] == ["mug_17", "bowl_n1"]
    assert msg.detections[0].results[0].pose.pose == msg.detections[0].bbox.center


def test_transforms_are_named_from_prefix_class_and_track():
    tf = to_transforms(estimates(), HEADER, "seqpose/")
    assert [t.child_frame_id for t in tf.transforms] == ["seqpose/mug_17", "seqpose/bowl_n1"]
    assert all(t.header.frame_id == "cam_optical" for t in tf.transforms)
    assert tf.transforms[0].transform.translation.z == pytest.approx(0.7)


def test_markers_draw_boxes_axes_and_labels():
    markers = to_markers(estimates(), HEADER).markers
    assert markers[0].action == Marker.DELETEALL
    boxes = [m for m in markers if m.ns == "boxes"]
    assert len(boxes) == 2 and len(boxes[0].points) == 24  # 12 edges
    xs = [p.x for p in boxes[0].points]
    assert min(xs) < 0.1 < max(xs)
    assert [m.text for m in markers if m.ns == "labels"] == ["mug_17 0.90", "bowl_n1 0.60"]
    assert len(next(m for m in markers if m.ns == "axes").points) == 6


def test_invalid_stamps_and_empty_frame_ids_are_refused():
    from builtin_interfaces.msg import Time

    from seqpose_ros.node.converters import frame_id, stamp_seconds

    assert stamp_seconds(Header(stamp=Time(sec=3, nanosec=500_000_000))) == 3.5
    with pytest.raises(ConversionError, match="nanosec 1000000000 is not below 1e9"):
        stamp_seconds(Header(stamp=Time(sec=3, nanosec=1_000_000_000)))
    assert frame_id(HEADER) == "cam_optical"
    with pytest.raises(ConversionError, match="frame_id is empty"):
        frame_id(Header())


def test_camera_info_for_another_image_size_is_refused():
    import torch

    from seqpose_core.model.config import tiny_config
    from seqpose_core.model.seqpose import SeqPose
    from seqpose_core.predictor import Predictor
    from seqpose_ros.node.pipeline import Rejected, StreamGuard

    torch.manual_seed(0)
    guard = StreamGuard(Predictor(SeqPose(tiny_config(input_size=(112, 154))), "cpu"))
    k = np.array([[500.0, 0, 320], [0, 505.0, 240], [0, 0, 1]])
    guard.infos.add("cam", 1.0, k, (1280, 960))
    with pytest.raises(Rejected, match="camera_info is for 1280 x 960 images, this image is 640 x 480"):
        guard.process(np.zeros((480, 640, 3), np.uint8), "cam", 1.0)
    assert guard.counters.snapshot().rejected == 1
    guard.infos.add("cam", 2.0, k, (640, 480))
    guard.process(np.zeros((480, 640, 3), np.uint8), "cam", 2.0)
    assert guard.counters.snapshot().processed == 1


def test_transforms_round_trip_and_malformed_ones_are_named():
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation_about_y(0.7), [0.4, -0.2, 1.5]
    h = Header(frame_id="world")
    h.stamp.sec, h.stamp.nanosec = 12, 500_000_000
    t = to_stamped_transform(transform_msg(pose, h, "cam_optical"))
    assert (t.parent, t.child, t.stamp) == ("world", "cam_optical", 12.5)
    np.testing.assert_allclose(t.matrix, pose, atol=1e-12)
    bad = transform_msg(pose, h, "cam_optical")
    bad.transform.rotation.x = bad.transform.rotation.y = bad.transform.rotation.z = 0.0
    bad.transform.rotation.w = 0.0
    with pytest.raises(ConversionError, match="'cam_optical': non-finite values or zero quaternion"):
        to_stamped_transform(bad)
    with pytest.raises(ConversionError, match="empty frame id"):
        to_stamped_transform(transform_msg(pose, Header(), "cam_optical"))


def test_a_camera_frame_is_an_image_and_its_camera_info_under_one_stamped_header():
    rgb = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    k = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    ns = 1_700_000_000_123_456_789
    image, info = camera_messages(rgb, k, header_at(ns, "cam"), "bgr8")
    assert stamp_ns(image.header) == stamp_ns(info.header) == ns and info.header.frame_id == "cam"
    assert (info.width, info.height, image.encoding) == (64, 48, "bgr8")
    np.testing.assert_array_equal(image_to_rgb(image), rgb)
    np.testing.assert_array_equal(camera_info_to_k(info), k)


def test_fused_objects_carry_the_fixed_frame_pose_and_mark_those_out_of_view():
    from seqpose_core.tracking.fusion import FusedObject
    from seqpose_ros.node.fused_converters import (
        UNSEEN_COLOUR,
        to_fused_objects,
        to_object_markers,
        to_object_transforms,
    )

    objects = [
        FusedObject(
            4, 6, "mug", 0.8, rotation_about_y(0.3), np.array([0.4, 0.1, 0.05]), np.full(3, 0.1), True, 9.5
        ),
        FusedObject(7, 2, "bowl", 0.5, np.eye(3), np.array([0.6, 0.0, 0.0]), np.full(3, 0.15), False, 7.0),
    ]
    world = Header(frame_id="base_link")
    msg = to_fused_objects(objects, world, 9.5)
    assert msg.header.frame_id == "base_link" and [o.track_id for o in msg.objects] == [4, 7]
    assert [o.in_view for o in msg.objects] == [True, False]
    assert [o.unseen_for for o in msg.objects] == [0.0, 2.5]
    assert msg.objects[0].pose.position.x == pytest.approx(0.4) and msg.objects[1].size.x == pytest.approx(
        0.15
    )
    tf = to_object_transforms(objects, world, "seqpose/")
    assert [t.child_frame_id for t in tf.transforms] == ["seqpose/object_mug_4", "seqpose/object_bowl_7"]
    assert all(t.header.frame_id == "base_link" for t in tf.transforms)
    markers = to_object_markers(objects, world, 0.5).markers
    boxes = [m for m in markers if m.ns == "object_boxes"]
    assert boxes[0].color != UNSEEN_COLOUR and boxes[1].color == UNSEEN_COLOUR
    assert [m.text for m in markers if m.ns == "object_labels"] == ["mug_4 0.80", "bowl_7 0.50 (unseen)"]
