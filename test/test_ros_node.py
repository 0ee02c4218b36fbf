"""The seqpose node on a real rclpy graph, in its own process."""

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from support.rosgraph import CameraRig, header  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from seqpose_core.checkpoint import load_model, save_model  # noqa: E402
from seqpose_core.data.nocs_dataset import NocsSubset  # noqa: E402
from seqpose_core.geometry import box_corners, project_points, transform_points  # noqa: E402
from seqpose_core.model.config import tiny_config  # noqa: E402
from seqpose_core.model.seqpose import SeqPose  # noqa: E402
from seqpose_core.predictor import Predictor  # noqa: E402
from seqpose_core.visualize import PRED_COLOUR  # noqa: E402
from seqpose_ros.node.converters import detections_to_estimates, image_to_rgb, transform_msg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD, MAX_DET = 0.0, 6


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    return save_model(SeqPose(tiny_config(input_size=(112, 154))), tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="module")
def frames(synth_root):
    data = NocsSubset(synth_root, "real_test")
    return [data.load(ref) for ref in data.frames]


def start_node(background, checkpoint, **params):
    args = [
        sys.executable,
        "-m",
        "seqpose_ros.node.node",
        "--ros-args",
        "--params-file",
        str(ROOT / "config" / "seqpose.yaml"),
        "-p",
        f"checkpoint:={checkpoint}",
        "-p",
        f"score_threshold:={THRESHOLD}",
        "-p",
        f"max_detections:={MAX_DET}",
        "-p",
        "qos:=reliable",
        "-p",  # the estimates are compared with the torch Predictor's to 1e-6
        "backend:=torch",
        "-p",
        "diagnostics_period:=0.5",
        "-r",
        "image:=/test/image",
        "-r",
        "camera_info:=/test/camera_info",
    ]
    for k, v in params.items():
        args += ["-p", f"{k}:={v}"]
    return background(args, cwd=str(ROOT))


@pytest.fixture
def rig():
    r = CameraRig()
    yield r
    r.close()


def send_and_wait(rig, node, frame, stamp, count, **kw):
    rig.send(frame.rgb, frame.k, stamp, **kw)
    rig.wait_for(lambda: len(rig.statuses()) >= count or node.proc.poll() is not None, 60, f"status {count}")
    assert node.proc.poll() is None, node.output()


def test_node_publishes_what_the_predictor_computes(background, checkpoint, frames, rig):
    node = start_node(background, checkpoint)
    rig.wait_for_node()
    stamps = [100.0 + 0.1 * i for i in range(len(frames))]
    for i, (frame, stamp) in enumerate(zip(frames, stamps, strict=True)):
        send_and_wait(rig, node, frame, stamp, i + 1)
    rig.spin(0.3)
    predictor = Predictor(load_model(checkpoint), "cpu", score_threshold=THRESHOLD, max_detections=MAX_DET)
    received = {
        round(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, 3): m for m in rig.got["/detections"]
    }
    assert len(received) == len(frames)
    for frame, stamp in zip(frames, stamps, strict=True):
        expected = predictor.step(frame.rgb, frame.k, stamp).estimates
        got = detections_to_estimates(received[round(stamp, 3)])
        assert len(got) == len(expected) == MAX_DET
        for g, e in zip(got, expected, strict=True):
            assert (g.class_id, g.class_name, g.track_id) == (e.class_id, e.class_name, e.track_id)
            assert g.score == pytest.approx(e.score, abs=1e-6)
            np.testing.assert_allclose(g.translation, e.translation, atol=1e-6)
            np.testing.assert_allclose(g.rotation, e.rotation, atol=1e-6)
            np.testing.assert_allclose(g.size, e.size, atol=1e-6)
        assert received[round(stamp, 3)].header.frame_id == "cam_optical"
    last = rig.got["/tf"][-1].transforms
    assert [t.child_frame_id for t in last] == [f"seqpose/{e.class_name}_{e.track_id}" for e in got]
    np.testing.assert_allclose(
        [last[0].transform.translation.x, last[0].transform.translation.y, last[0].transform.translation.z],
        got[0].translation,
        atol=1e-9,
    )
    boxes = [m for m in rig.got["/markers"][-1].markers if m.ns == "boxes"]
    assert len(boxes) == MAX_DET and all(len(b.points) == 24 for b in boxes)
    status = rig.statuses()[-1]
    assert status.frames_processed == len(frames) and status.frames_dropped == 0 and not status.random_weights
    assert status.memory_frames == 3


def test_bad_inputs_are_counted_and_the_node_recovers(background, checkpoint, frames, rig):
    node = start_node(background, checkpoint)
    rig.wait_for_node()
    f = frames[0]
    send_and_wait(rig, node, f, 10.0, 1)
    bad_images = [
        Image(header=header(10.1), height=2, width=2, encoding="16UC1", step=4, data=bytes(8)),
        Image(header=header(10.2), height=4, width=4, encoding="rgb8", step=6, data=bytes(24)),
        Image(header=header(10.3), height=0, width=0, encoding="rgb8", step=0, data=b""),
    ]
    for msg in bad_images:
        rig.pub_image.publish(msg)
        rig.spin(0.3)
    zero = CameraInfo(header=header(10.4), width=4, height=4)
    nan = CameraInfo(header=header(10.5), width=4, height=4, k=[float("nan")] * 9)
    for msg in (zero, nan):
        rig.pub_info.publish(msg)
        rig.spin(0.3)
    rig.send(f.rgb, f.k, 10.6, info=False)  # an image without camera info
    rig.spin(0.3)
    rig.send(f.rgb, f.k, 9.9)  # 0.1 s back: out of order
    rig.spin(0.3)
    assert node.proc.poll() is None, node.output()
    send_and_wait(rig, node, f, 10.7, 2)
    status = rig.statuses()[-1]
    assert status.messages_rejected == 7, node.output()
    assert status.num_detections == MAX_DET and status.frames_processed == 2
    rig.wait_for(
        lambda: any(
            any(v.key == "messages_rejected" and v.value == "7" for v in s.values)
            for m in rig.got["/diagnostics"]
            for s in m.status
        ),
        5,
        "diagnostics",
    )
    kinds = {v.key for m in rig.got["/diagnostics"] for s in m.status for v in s.values}
    assert len([k for k in kinds if k.startswith("rejected: ")]) == 7  # each under its own reason
    seen = len(rig.got["/diagnostics"])
    rig.wait_for(lambda: len(rig.got["/diagnostics"]) >= seen + 3, 10, "later diagnostics")
    # OK again after a period without rejections
    assert rig.got["/diagnostics"][-1].status[0].level == DiagnosticStatus.OK
    output = node.output()
    for fragment in (
        "16UC1",
        "step 6 is smaller",
        "image is empty",
        "last row must be (0, 0, 1)",
        "must be a finite 3 x 3",
        "no camera_info",
        "out-of-order",
    ):
        assert fragment in output, f"no log line about {fragment!r}"


def test_time_jump_back_resets_memory_and_tracks_persist(background, checkpoint, frames, rig):
    node = start_node(background, checkpoint)
    rig.wait_for_node()
    f = frames[0]
    for i, stamp in enumerate((1.0, 1.1, 1.2)):
        send_and_wait(rig, node, f, stamp, i + 1)
    # status and detections are separate topics: the status may be taken first
    rig.wait_for(lambda: len(rig.got["/detections"]) >= 3, 30, "3 detection messages")
    ids = [{d.id for d in m.detections} for m in rig.got["/detections"][-3:]]
    assert ids[1] & ids[2], "no track id survived from one frame of the object to the next"
    send_and_wait(rig, node, f, 0.2, 4)  # the bag looped
    status = rig.statuses()[-1]
    assert "time went back" in status.reset_reason and status.memory_resets == 1 and status.memory_frames == 1
    send_and_wait(rig, node, f, 0.3, 5, frame_id="other_camera_optical")
    assert "frame id changed" in rig.statuses()[-1].reset_reason


def test_missing_checkpoint_fails_configure_and_names_the_file(background, tmp_path, rig):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 64)
    bad.with_suffix(".yaml").write_text("model: {encoder: tiny}\n")
    node = start_node(background, bad)
    deadline = time.monotonic() + 60
    while "configure failed" not in node.output() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "broken.safetensors: corrupt" in node.output()
    assert node.proc.poll() is None, "the node should stay up, unconfigured"


def test_launch_file_describes_the_node():
    pytest.importorskip(
        "launch_ros", reason="launch_ros is not installable from PyPI here; checked on ROS installs"
    )
    import importlib.util

    spec = importlib.util.spec_from_file_location("seqpose_launch", ROOT / "launch" / "seqpose.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert any(type(e).__name__ == "LifecycleNode" for e in description.entities)
    assert any(type(e).__name__ == "SetEnvironmentVariable" for e in description.entities)


@pytest.fixture
def node_in_process(checkpoint):
    """A SeqPoseNode in this process, on its own context, with the test checkpoint; unconfigured."""
    from rclpy.parameter import Parameter

    from seqpose_ros.node.node import SeqPoseNode

    context = rclpy.Context()
    rclpy.init(context=context)
    threads = torch.get_num_threads()  # configure sets the process's torch threads
    try:
        node = SeqPoseNode(
            context=context, parameter_overrides=[Parameter("checkpoint", value=str(checkpoint))]
        )
        yield node
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        torch.set_num_threads(threads)


def test_lifecycle_transitions_in_process(node_in_process):
    from rclpy.lifecycle import TransitionCallbackReturn

    node = node_in_process
    ok = TransitionCallbackReturn.SUCCESS
    assert node.trigger_configure() == ok and node.trigger_activate() == ok
    assert node.count_subscribers("/image") == 1 and node.count_publishers("/detections") == 1
    assert (
        node.trigger_deactivate() == ok and node.trigger_activate() == ok
    )  # activate again after deactivate
    assert node.trigger_deactivate() == ok and node.trigger_cleanup() == ok
    assert node.guard is None


def test_parameters_are_range_checked_at_start_and_at_run_time(checkpoint, capfd):
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from seqpose_ros.node.node import SeqPoseNode

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        overrides = [
            Parameter("checkpoint", value=str(checkpoint)),
            Parameter("diagnostics_period", value=0.0),
        ]
        node = SeqPoseNode(context=context, parameter_overrides=overrides)
        assert node.params.diagnostics_period == 1.0  # refused at start, default kept, node up
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert not node.set_parameters([Parameter("score_threshold", value=1.5)])[0].successful
        refused = node.set_parameters([Parameter("qos", value="fast")])[0]
        assert not refused.successful and "qos" in refused.reason
        assert node.set_parameters([Parameter("score_threshold", value=0.9)])[0].successful
        assert node.guard.predictor.score_threshold == 0.9 and node.params.score_threshold == 0.9
        node.destroy_node()
        bad = SeqPoseNode(
            context=context,
            parameter_overrides=[
                Parameter("checkpoint", value=str(checkpoint)),
                Parameter("device", value="gpu0"),
            ],
        )
        assert bad.trigger_configure() == TransitionCallbackReturn.FAILURE
        bad.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    log = capfd.readouterr().err
    assert "parameter diagnostics_period: start value refused" in log
    assert "configure failed (parameters device 'gpu0'" in log


def test_a_moving_camera_in_tf_moves_the_memory_and_tracks_as_the_predictor_does(
    background, checkpoint, frames, rig
):
    """fixed_frame: the node looks up world <- camera on /tf at each image's stamp and hands the
    motion since the last frame and the pose to the Predictor: its detections are those of a
    Predictor given the same poses (a static object under a moving camera keeps its id:
    test_tracking), fused in the fixed frame, and ~/objects holds the fused objects in "world"."""
    node = start_node(background, checkpoint, fixed_frame="world")
    tf_pub = rig.node.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))
    rig.wait_for_node()
    rig.wait_for(lambda: tf_pub.get_subscription_count() > 0, 30, "the node's /tf subscription")
    stamps = [20.0 + 0.1 * i for i in range(len(frames))]
    for i, (frame, stamp) in enumerate(zip(frames, stamps, strict=True)):
        tf_pub.publish(
            TFMessage(transforms=[transform_msg(frame.camera_pose, header(stamp, "world"), "cam_optical")])
        )
        rig.spin(0.05)
        send_and_wait(rig, node, frame, stamp, i + 1)
    rig.spin(0.3)
    predictor = Predictor(load_model(checkpoint), "cpu", score_threshold=THRESHOLD, max_detections=MAX_DET)
    got = {round(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, 3): m for m in rig.got["/detections"]}
    previous = None
    for frame, stamp in zip(frames, stamps, strict=True):
        motion = None if previous is None else np.linalg.inv(frame.camera_pose) @ previous
        expected = predictor.step(frame.rgb, frame.k, stamp, motion, frame.camera_pose).estimates
        published = detections_to_estimates(got[round(stamp, 3)])
        assert [f"{e.class_name}_{e.track_id}" for e in published] == [
            f"{e.class_name}_{e.track_id}" for e in expected
        ]
        for a, b in zip(published, expected, strict=True):
            np.testing.assert_allclose(a.translation, b.translation, atol=1e-5)
        previous = frame.camera_pose
    (last,) = [
        m for m in rig.got["/seqpose/objects"] if m.header.stamp == got[round(stamps[-1], 3)].header.stamp
    ]
    assert last.header.frame_id == "world"
    fused = {o.track_id: o for o in predictor.fused_objects()}
    assert sorted(o.track_id for o in last.objects) == sorted(fused)
    for o in last.objects:
        p = o.pose.position
        np.testing.assert_allclose([p.x, p.y, p.z], fused[o.track_id].translation, atol=1e-5)
    diag = {v.key: v.value for m in rig.got["/diagnostics"] for s in m.status for v in s.values}
    assert diag["camera_motion_unknown"] == "0"


def test_overlay_is_drawn_only_while_subscribed_and_shows_boxes_where_they_project(
    background, checkpoint, frames, rig
):
    node = start_node(background, checkpoint)
    rig.wait_for_node()
    f = frames[0]

    def overlays_published() -> int | None:
        values = [{v.key: v.value for v in s.values} for m in rig.got["/diagnostics"] for s in m.status]
        return int(values[-1]["overlays_published"]) if values else None

    for i in range(2):
        send_and_wait(rig, node, f, 30.0 + 0.1 * i, i + 1)
    seen = len(rig.got["/diagnostics"])
    rig.wait_for(lambda: len(rig.got["/diagnostics"]) > seen, 10, "diagnostics")
    assert overlays_published() == 0  # nobody watching: nothing drawn
    got: list[Image] = []
    sub = rig.node.create_subscription(Image, "/seqpose/overlay", got.append, QoSProfile(depth=10))
    rig.wait_for(lambda: sub.get_publisher_count() > 0, 30, "the overlay publisher")
    rig.spin(1.0)
    send_and_wait(rig, node, f, 30.2, 3)
    rig.wait_for(lambda: got, 10, "an overlay image")
    seen = len(rig.got["/diagnostics"])
    rig.wait_for(lambda: len(rig.got["/diagnostics"]) > seen, 10, "diagnostics")
    assert overlays_published() == 1
    img = image_to_rgb(got[-1])
    assert img.shape == f.rgb.shape and got[-1].header.frame_id == "cam_optical"
    estimates = [e for m in rig.got["/detections"][-1:] for e in detections_to_estimates(m)]
    corners = [
        project_points(f.k, transform_points(e.rotation, e.translation, box_corners(e.size)))
        for e in estimates
        if np.all(transform_points(e.rotation, e.translation, box_corners(e.size))[:, 2] > 0.05)
    ]
    inside = [p for c in corners for p in np.round(c).astype(int) if 2 <= p[0] < 318 and 2 <= p[1] < 238]
    assert inside, "no projected box corner inside the image"
    for u, v in inside:
        window = img[v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3).astype(int)
        assert np.abs(window - PRED_COLOUR).sum(1).min() < 60, (u, v)  # a box edge's colour at the corner


def malformed_messages(n: int, seed: int = 0) -> list:
    """n Images and CameraInfos, each wrong in one randomly drawn way, stamped in order."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        stamp, kind = 20.0 + 0.01 * i, int(rng.integers(8))
        h, w = (int(v) for v in rng.integers(1, 64, 2))
        if kind == 0:  # data shorter than height x step
            out.append(
                Image(
                    header=header(stamp),
                    height=h,
                    width=w,
                    encoding="rgb8",
                    step=3 * w,
                    data=bytes(3 * w * h - 1),
                )
            )
        elif kind == 1:  # an encoding the node does not read
            enc = str(rng.choice(["16UC1", "32FC1", "yuv422", "bayer_rggb8", "nonsense"]))
            out.append(
                Image(
                    header=header(stamp), height=h, width=w, encoding=enc, step=4 * w, data=bytes(4 * w * h)
                )
            )
        elif kind == 2:  # step smaller than a row
            out.append(
                Image(header=header(stamp), height=h, width=w, encoding="bgr8", step=w, data=bytes(3 * w * h))
            )
        elif kind == 3:  # declared huge, carries nothing
            out.append(
                Image(header=header(stamp), height=60000, width=60000, encoding="rgb8", step=180000, data=b"")
            )
        elif kind == 4:  # empty
            out.append(Image(header=header(stamp), encoding="mono8"))
        else:  # camera info: non-finite, zero focal length, or a bad last row
            k = [300.0, 0, 32, 0, 300.0, 24, 0, 0, 1]
            k[int(rng.integers(9))] = float(rng.choice([np.nan, np.inf, -np.inf])) if kind == 5 else k[0]
            if kind == 6:
                k[0] = 0.0
            if kind == 7:
                k[8] = 0.0
            out.append(CameraInfo(header=header(stamp), width=w, height=h, k=k))
    return out


def test_a_flood_of_malformed_messages_is_rejected_and_the_node_goes_on(background, checkpoint, frames, rig):
    node = start_node(background, checkpoint)
    rig.wait_for_node()
    f = frames[0]
    send_and_wait(rig, node, f, 10.0, 1)
    flood = malformed_messages(300)
    for i, msg in enumerate(flood):
        (rig.pub_image if isinstance(msg, Image) else rig.pub_info).publish(msg)
        if i % 10 == 9:
            rig.spin(0.02)
    rig.spin(1.0)
    assert node.proc.poll() is None, node.output()
    send_and_wait(rig, node, f, 30.0, 2)
    status = rig.statuses()[-1]
    assert status.frames_processed == 2 and status.num_detections == MAX_DET
    # Images that arrive while one waits are dropped (the newest wins), the others rejected; the
    # middleware may drop some of a burst before the node sees them (keep-last queues).
    handled = status.messages_rejected + status.frames_dropped
    assert handled >= 0.5 * len(flood), (status, node.output()[-2000:])
    assert "unexpected" not in node.output()  # every rejection has its named reason


def test_an_error_of_the_model_is_counted_apart_from_rejections_and_the_next_frame_is_processed(
    node_in_process, frames
):
    from rclpy.lifecycle import TransitionCallbackReturn

    from seqpose_ros.node.converters import camera_messages, header_at

    node = node_in_process
    ok = TransitionCallbackReturn.SUCCESS
    assert node.trigger_configure() == ok and node.trigger_activate() == ok
    diagnostics = []
    node.pub_diag.publish = diagnostics.append
    step = node.guard.predictor.step
    calls = []

    def broken_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the model")
        return step(*args, **kwargs)

    node.guard.predictor.step = broken_once
    for i in range(2):
        image, info = camera_messages(frames[0].rgb, frames[0].k, header_at((100 + i) * 10**9, "camera"))
        node.on_camera_info(info)
        node.on_image(image)
        deadline = time.monotonic() + 60
        while (
            len(calls) <= i
            or node.guard.counters.snapshot().processed + node.guard.counters.snapshot().errors <= i
        ):
            assert time.monotonic() < deadline, "the worker did not take the frame"
            time.sleep(0.01)
    c = node.guard.counters.snapshot()
    assert (c.errors, c.rejected, c.processed) == (1, 0, 1)
    node.publish_diagnostics()
    status = diagnostics[-1].status[0]
    assert status.level == DiagnosticStatus.ERROR and "a bug in the model" in status.message
    node.publish_diagnostics()  # the next period had no error
    assert diagnostics[-1].status[0].level != DiagnosticStatus.ERROR
    node.trigger_deactivate()
