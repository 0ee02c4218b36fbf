"""Bags: NOCS sequences in, replay offline and live, identical detections and metrics both ways."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("rclpy")

from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from seqpose_core.checkpoint import save_model
from seqpose_core.geometry import quaternion_to_matrix
from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_ros.bags.bag import (
    IMAGE,
    INFO,
    BagError,
    header_msg,
    image_msg,
    read_camera_bag,
    stamp_ns,
    typestore,
    write_nocs_bag,
)
from seqpose_ros.bags.live import replay_live
from seqpose_ros.bags.replay import main as replay_main
from seqpose_ros.bags.replay import replay_offline
from seqpose_ros.bags.report import write_replay_report


@pytest.fixture(scope="module")
def bag(synth_root, tmp_path_factory):
    path = tmp_path_factory.mktemp("bags") / "scene_1"
    assert write_nocs_bag(synth_root, "real_test", "scene_1", path) == 4
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(5)
    return save_model(SeqPose(tiny_config(input_size=(112, 154))), tmp_path_factory.mktemp("ck") / "tiny")


def test_bag_round_trip_keeps_images_intrinsics_and_ground_truth(bag, synth_root):
    from seqpose_core.data.nocs_dataset import NocsSubset

    data = NocsSubset(synth_root, "real_test")
    frames = list(read_camera_bag(bag))
    assert len(frames) == 4 and (bag / "scene_1.mcap").is_file()
    for f, ref in zip(frames, data.frames, strict=True):
        truth = data.load(ref)
        np.testing.assert_array_equal(f.rgb, truth.rgb)
        np.testing.assert_allclose(f.k, truth.k)
        np.testing.assert_allclose(f.gt.translations, truth.objects.translations)
        np.testing.assert_allclose(f.gt.rotations, truth.objects.rotations, atol=1e-6)  # float32 labels
        assert f.gt.handle_visible.tolist() == truth.objects.handle_visible.tolist()
        assert f.frame_id == "camera_color_optical_frame"
    ts = typestore()
    with Reader(bag) as reader:  # the camera's poses on /tf, world -> optical frame
        tfs = [
            ts.deserialize_cdr(raw, c.msgtype).transforms
            for c, _, raw in reader.messages()
            if c.topic == "/tf"
        ]
    assert len(tfs) == 4
    for (t,), ref in zip(tfs, data.frames, strict=True):
        assert (t.header.frame_id, t.child_frame_id) == ("world", "camera_color_optical_frame")
        v, q = t.transform.translation, t.transform.rotation
        pose = data.load(ref).camera_pose
        np.testing.assert_allclose([v.x, v.y, v.z], pose[:3, 3], atol=1e-12)
        np.testing.assert_allclose(quaternion_to_matrix([q.x, q.y, q.z, q.w]), pose[:3, :3], atol=1e-9)


def test_offline_and_live_replay_agree(bag, checkpoint, tmp_path, monkeypatch):
    from seqpose_core.checkpoint import load_model
    from seqpose_ros.bags import live as live_module

    opens = []

    class CountingReader(live_module.Reader):
        def open(self) -> None:
            opens.append(1)
            super().open()

    monkeypatch.setattr(live_module, "Reader", CountingReader)
    offline = replay_offline(bag, load_model(checkpoint), multi_frame=True, score_threshold=0.0)
    record = tmp_path / "recording"
    live = replay_live(
        bag, str(checkpoint), multi_frame=True, score_threshold=0.0, rate=0.1, record=record, backend="torch"
    )
    assert len(opens) == 1, "live replay reads the bag once"
    assert live.dropped == 0, f"the node dropped {live.dropped} frames at a tenth of the bag's rate"
    assert len(offline.records) == 4
    assert len(live.records) == 4, f"{len(live.records)} of 4 frames answered; node log: {bag}.node.log"
    assert all(r.gt is not None and len(r.gt.class_ids) for r in live.records)
    for a, b in zip(offline.records, live.records, strict=True):
        assert a.stamp == pytest.approx(b.stamp, abs=1e-6)
        assert [e.class_name for e in a.estimates] == [e.class_name for e in b.estimates]
        assert [e.track_id for e in a.estimates] == [e.track_id for e in b.estimates]
        for x, y in zip(a.estimates, b.estimates, strict=True):
            np.testing.assert_allclose(x.translation, y.translation, atol=1e-6)
            np.testing.assert_allclose(x.rotation, y.rotation, atol=1e-6)
            assert x.score == pytest.approx(y.score, abs=1e-6)
    sa = write_replay_report(bag, offline, tmp_path / "offline", "tiny")
    sb = write_replay_report(bag, live, tmp_path / "live", "tiny")
    for key in ("mAP_exact", "mAP_legacy"):  # every class has ground truth: no metric is nan
        assert all(np.isfinite(v) for v in sa[key].values()) and sa[key] == pytest.approx(sb[key])
    assert (tmp_path / "live" / "metrics_exact" / "ap_curves.png").is_file()
    assert len(list((tmp_path / "live" / "frames").glob("*.png"))) == 4
    assert sb["latency"]["mean_ms"] > 0
    check_recording(record, [round(r.stamp * 1e6) for r in live.records])


def check_recording(record, stamps):
    """The MCAP holds the inputs and the node's outputs, each output at its image's stamp (us)."""
    ts = typestore()
    with Reader(record) as reader:
        assert reader.connections[0].msgtype and next(record.glob("*.mcap")).is_file()
        times: dict[str, list[int]] = {}
        for conn, t_ns, raw in reader.messages():
            times.setdefault(conn.topic, []).append(round(t_ns / 1e3))
            if conn.topic == "/detections":
                assert stamp_ns(ts.deserialize_cdr(raw, conn.msgtype).header) == t_ns
    assert sorted(times["/detections"]) == sorted(times["/markers"]) == stamps
    assert len(times["/camera/color/image_raw"]) == 4 and set(times["/seqpose/overlay"]) <= set(stamps)
    assert times["/seqpose/overlay"] and times["/tf"]


def _write_bag(path, with_info, encoding="rgb8"):
    ts = typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        img = w.add_connection("/cam/image", IMAGE, typestore=ts)
        info = w.add_connection("/cam/info", INFO, typestore=ts) if with_info else None
        header = header_msg(ts, 1_000_000_000, "cam")
        msg = image_msg(ts, header, np.zeros((4, 4, 3), np.uint8))
        msg.encoding = encoding
        w.write(img, 1_000_000_000, ts.serialize_cdr(msg, IMAGE))
        if info is not None:
            from seqpose_ros.bags.bag import info_msg

            w.write(
                info, 1_000_000_000, ts.serialize_cdr(info_msg(ts, header, np.eye(3) * 100, (4, 4)), INFO)
            )


def test_bags_without_camera_info_or_with_unknown_encodings_are_named(tmp_path, capsys):
    _write_bag(tmp_path / "no_info", with_info=False)
    with pytest.raises(BagError, match=r"no_info: no sensor_msgs/msg/CameraInfo topic"):
        list(read_camera_bag(tmp_path / "no_info"))
    _write_bag(tmp_path / "depth", with_info=True, encoding="16UC1")
    with pytest.raises(BagError, match=r"topic /cam/image: image encoding '16UC1' is not supported"):
        list(read_camera_bag(tmp_path / "depth"))
    assert replay_main([str(tmp_path / "depth"), "--out", str(tmp_path / "r")]) == 2
    assert "/cam/image" in capsys.readouterr().err


def test_replay_cli_writes_the_report(bag, checkpoint, tmp_path):
    assert replay_main([str(bag), "--out", str(tmp_path / "r"), "--checkpoint", str(checkpoint)]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["frames_in_bag"] == 4 and summary["mode"] == "offline" and "jitter" in summary
    assert (tmp_path / "r" / "annotated_sheet.png").is_file()


def test_the_report_scores_the_models_own_classes(bag, tmp_path):
    """A seven-class model's replay counts its new class: a kettle box on a kettle scores."""
    from seqpose_core.categories import NOCS, Category
    from seqpose_core.data.frame import Objects
    from seqpose_core.estimates import PoseEstimate
    from seqpose_ros.bags.report import FrameRecord, Replay

    stamp = next(iter(read_camera_bag(bag))).stamp
    pose = (np.eye(3), np.array([0.0, 0.0, 0.8]), np.array([0.2, 0.25, 0.15]))
    gt = Objects(np.array([7]), pose[0][None], pose[1][None], pose[2][None], np.array([1]), np.array([False]))
    replay = Replay("offline", [FrameRecord(stamp, [PoseEstimate(7, "kettle", 0.9, *pose)], gt, 0.01)], 4)
    write_replay_report(bag, replay, tmp_path, "seven", NOCS.plus(Category("kettle")))
    metrics = json.loads((tmp_path / "metrics_exact" / "metrics.json").read_text())
    assert "kettle" in json.dumps(metrics)
    assert "| kettle | 1 | 100.0 |" in (tmp_path / "metrics_exact" / "metrics.md").read_text()


def test_a_bag_with_tf_becomes_an_object_centric_video_with_the_cameras_poses(synth_root, tmp_path):
    from seqpose_core.data.nocs_dataset import NocsSubset
    from seqpose_core.selflabel.videos import read_video
    from seqpose_ros.bags.bag import write_nocs_bag
    from seqpose_ros.bags.video import bag_to_video, main

    bag = tmp_path / "orbit.bag"
    write_nocs_bag(synth_root, "real_test", "scene_1", bag)
    written = bag_to_video(bag, tmp_path / "video", "mug", "world", up=np.array([0.0, 1.0, 0.0]))
    assert written == (4, False)  # a NOCS bag has no depth topic
    video = read_video(tmp_path / "video", need_depth=False)
    data = NocsSubset(synth_root, "real_test")
    truth = [data.load(ref).camera_pose for ref in data.frames]
    np.testing.assert_allclose(video.cam_to_world, np.stack(truth), atol=1e-6)
    assert video.category == "mug" and video.depth is None and video.rgb.shape[0] == 4
    np.testing.assert_allclose(video.world_up, [0.0, 1.0, 0.0])
    assert main([str(bag), "--out", str(tmp_path / "v2"), "--category", "mug", "--fixed-frame", "map"]) == 2
