"""The node's ROS-free parts: StreamGuard's counting and resets, and the typed parameters."""

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import Predictor
from seqpose_ros.node.graph_env import private_graph
from seqpose_ros.node.params import DEFAULTS, NodeParams, check, cpu_threads
from seqpose_ros.node.pipeline import Rejected, StreamGuard, reason_kind

ROOT = Path(__file__).resolve().parents[1]
K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
RGB = np.zeros((240, 320, 3), np.uint8)


def guard(multi_frame: bool) -> StreamGuard:
    torch.manual_seed(0)
    model = SeqPose(tiny_config(input_size=(112, 154)))
    g = StreamGuard(Predictor(model, "cpu", multi_frame), max_infos=100)
    for i in range(40):
        g.infos.add("cam", 0.1 * i, K, (320, 240))
        g.infos.add("other", 0.1 * i, K, (320, 240))
    return g


@pytest.mark.parametrize("multi_frame", [False, True])
def test_a_reset_is_counted_once_and_reported_by_one_frame(multi_frame):
    g = guard(multi_frame)
    reasons = [g.process(RGB, "cam", 0.1 * i).reset_reason for i in range(2)]
    g.request_reset("requested on ~/reset")
    assert g.counters.snapshot().resets == 1 and len(g.predictor.memory) == (1 if multi_frame else 0) * 2
    reasons += [g.process(RGB, "cam", 0.1 * i).reset_reason for i in range(2, 5)]
    reasons.append(g.process(RGB, "other", 0.5).reset_reason)  # a new camera: one more reset
    reasons += [g.process(RGB, "other", 0.1 * i).reset_reason for i in range(6, 8)]
    assert reasons == [
        "",
        "",
        "requested on ~/reset",
        "",
        "",
        "frame id changed from 'cam' to 'other'",
        "",
        "",
    ]
    assert g.counters.snapshot().resets == 2 and g.counters.snapshot().processed == 8


def test_reset_requests_from_another_thread_count_each_and_never_clear_mid_frame():
    g = guard(True)
    cleared_during_step = []
    step = g.predictor.step

    def watched_step(*args, **kw):
        before = len(g.predictor.memory)
        out = step(*args, **kw)
        cleared_during_step.append(len(g.predictor.memory) < min(before + 1, 3))
        return out

    g.predictor.step = watched_step
    requester = threading.Thread(target=lambda: [g.request_reset("requested") for _ in range(20)])
    requester.start()
    for i in range(30):
        g.process(RGB, "cam", 0.1 * i)
    requester.join()
    assert g.counters.snapshot().resets == 20 and not any(cleared_during_step)


def test_rejections_are_counted_per_kind_and_the_window_restarts():
    g = guard(True)
    for frame in ("a", "b", "c"):
        with pytest.raises(Rejected):
            g.process(RGB, frame, 1.0)
    with pytest.raises(Rejected):
        g.process(np.zeros((480, 640, 3), np.uint8), "cam", 1.0)  # camera info for another size
    window = g.counters.take_window()
    assert window.rejected == window.rejected_since == 4 and len(window.rejected_by) == 2
    assert window.rejected_by[reason_kind("no camera_info for frame 'x' within 0.5 s of 1.000")] == 3
    g.process(RGB, "cam", 1.1)
    later = g.counters.take_window()
    assert later.rejected == 4 and later.rejected_since == 0 and later.processed_since == 1


def test_config_yaml_sets_exactly_the_typed_parameters_within_their_ranges():
    doc = yaml.safe_load((ROOT / "config" / "seqpose.yaml").read_text())["seqpose"]["ros__parameters"]
    assert set(doc) == set(DEFAULTS)
    assert NodeParams.from_values(doc).autostart is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("diagnostics_period", 0.0, "outside"),
        ("score_threshold", 1.5, "outside"),
        ("max_detections", 0, "outside"),
        ("qos", "fast", "not one of"),
        ("multi_frame", 1, "expected bool"),
        ("max_detections", 2.5, "expected int"),
        ("image_topic", "/x", "no such parameter"),
    ],
)
def test_parameters_out_of_range_or_of_the_wrong_type_are_named(name, value, message):
    with pytest.raises(ValueError, match=f"parameter '{name}'.*{message}"):
        check(name, value)
    check("diagnostics_period", 2)  # an integer is a fine float


def test_camera_poses_become_the_motion_since_the_last_frame_and_a_reset_forgets_them():
    g = guard(multi_frame=True)
    seen = []
    step = g.predictor.step
    g.predictor.step = lambda rgb, k, stamp, motion=None, pose=None: (
        seen.append(motion) or step(rgb, k, stamp, motion, pose)
    )
    pose = [np.eye(4) for _ in range(4)]
    for i, p in enumerate(pose):
        p[:3, 3] = [0.1 * i, 0.0, 0.02 * i * i]  # camera -> fixed frame: the camera drives along x, z
    g.process(RGB, "cam", 0.0, pose[0])
    g.process(RGB, "cam", 0.1, pose[1])
    g.process(RGB, "cam", 0.2, None)  # TF had no transform: no motion, and none known after it
    g.process(RGB, "cam", 0.3, pose[3])
    g.request_reset("requested on ~/reset")
    g.process(RGB, "cam", 0.4, pose[3])
    assert seen[0] is None and seen[2] is None and seen[3] is None and seen[4] is None
    point_before = np.array([0.3, -0.1, 1.0, 1.0])  # a static point in the camera at frame 0
    in_fixed = pose[0] @ point_before
    np.testing.assert_allclose(seen[1] @ point_before, np.linalg.inv(pose[1]) @ in_fixed, atol=1e-12)
    np.testing.assert_allclose(seen[1][:3, 3], [-0.1, 0.0, -0.02], atol=1e-12)


def test_private_graph_keeps_a_users_domain_unless_forced():
    env = {"ROS_DOMAIN_ID": "42"}
    assert private_graph(env) == 42 and env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    forced = private_graph(env, force=True)
    assert 1 <= forced <= 100 and env["ROS_DOMAIN_ID"] == str(forced)


def test_private_graph_loads_the_documented_dds_profile_unless_one_is_set():
    env: dict[str, str] = {}
    private_graph(env)
    profile = Path(env["FASTDDS_DEFAULT_PROFILES_FILE"])
    assert profile.name == "fastdds.xml" and "<segment_size>" in profile.read_text()
    own = {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/my_profile.xml"}
    private_graph(own, force=True)
    assert own["FASTDDS_DEFAULT_PROFILES_FILE"] == "/etc/my_profile.xml"


@pytest.mark.parametrize(
    ("requested", "cores", "threads"), [(0, 2, 1), (0, 1, 1), (0, 8, 4), (0, 4, 3), (3, 2, 3)]
)
def test_the_node_leaves_one_core_to_ros_unless_told_how_many_threads(requested, cores, threads):
    assert cpu_threads(requested, cores) == threads
