"""A robot's own recordings to labels: RGB-D bags with TF in a z-up frame, no masks, no truth."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from seqpose_core.data.nocs_dataset import REAL_K, NocsFrames, intrinsics_for
from seqpose_core.data.nocs_io import write_intrinsics
from seqpose_core.selflabel.align import nocs_turn, up_to_y
from seqpose_core.selflabel.segment import geometry_masks
from seqpose_core.selflabel.videos import ObjectVideo, read_video
from seqpose_core.synth.orbit import make_recording
from seqpose_ros.bags.bag import IMAGE, header_msg, typestore
from seqpose_ros.bags.orbit_bags import write_recording_bag
from seqpose_ros.node import pixels

SIZE = (96, 128)


@pytest.fixture(scope="module")
def recordings():
    rng = np.random.default_rng(5)
    return [make_recording(6, rng, 8, SIZE) for _ in range(3)]


@pytest.fixture(scope="module")
def bags(recordings, tmp_path_factory):
    root = tmp_path_factory.mktemp("bags")
    for i, rec in enumerate(recordings):
        write_recording_bag(rec, root / f"orbit_{i}", "16UC1" if i % 2 else "32FC1")
    return root


def test_depth_images_round_trip_in_both_encodings_and_bad_ones_are_named():
    metres = np.array([[0.0, 0.4567], [1.2, 3.0]], np.float32)
    for encoding, tol in (("16UC1", 5e-4), ("32FC1", 1e-7)):
        data, step = pixels.encode_depth(metres, encoding)
        back = pixels.decode_depth(data, encoding, 2, 2, step)
        np.testing.assert_allclose(back, metres, atol=tol)
    nan = np.frombuffer(np.array([np.nan, 1.0], "<f4").tobytes(), np.uint8)
    assert pixels.decode_depth(nan, "32FC1", 2, 1, 8)[0, 0] == 0  # no return
    big = np.array([[1000, 2000]], ">u2").tobytes()
    np.testing.assert_allclose(pixels.decode_depth(big, "16UC1", 2, 1, 4, bigendian=True), [[1.0, 2.0]])
    with pytest.raises(pixels.PixelError, match="'mono16' is not supported"):
        pixels.decode_depth(b"\0" * 8, "mono16", 2, 2, 4)
    with pytest.raises(pixels.PixelError, match="6 bytes"):
        pixels.decode_depth(b"\0" * 6, "16UC1", 2, 2, 4)


def test_masks_from_depth_and_geometry_find_the_object_among_clutter(recordings):
    for rec in recordings:
        up = np.array([0.0, 0.0, 1.0])
        video = ObjectVideo(Path("rec"), rec.category, rec.k, rec.cam_to_base, rec.rgb, rec.depth, None, up)
        masks, _ = geometry_masks(video, rec.depth, video.world_up)
        iou = (masks & rec.object_mask).sum() / (masks | rec.object_mask).sum()
        assert iou > 0.85, iou
        assert masks.mean() < 0.5  # never the whole image


def test_the_canonical_frame_puts_a_z_up_world_on_y():
    up = np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(up_to_y(up) @ up, [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(up_to_y(-up) @ -up, [0.0, 1.0, 0.0], atol=1e-12)
    box = np.random.default_rng(0).uniform(-1, 1, (500, 3)) * [0.3, 0.1, 0.5]  # z up, x-y footprint
    yaw = 0.5
    turned = box @ np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]).T
    turn = nocs_turn([turned], up)
    canonical = turn.apply(turned)
    np.testing.assert_allclose(turn.rot @ up, [0.0, 1.0, 0.0], atol=1e-9)
    extents = np.sort(np.ptp(canonical, axis=0)[[0, 2]])
    np.testing.assert_allclose(extents, [0.2, 0.6], rtol=0.05)  # tight along the box's own axes


def test_a_bag_with_an_unreadable_depth_encoding_is_refused_by_name(recordings, tmp_path):
    from seqpose_ros.bags.video import main

    bag = tmp_path / "bad"
    write_recording_bag(recordings[0], bag)
    ts = typestore()
    wrong = tmp_path / "wrong"
    with Writer(wrong, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("/camera/depth/image_rect_raw", IMAGE, typestore=ts)
        msg = ts.types[IMAGE](
            header=header_msg(ts, 1, "cam"),
            height=1,
            width=1,
            encoding="mono16",
            is_bigendian=0,
            step=2,
            data=np.zeros(2, np.uint8),
        )
        w.write(conn, 1, ts.serialize_cdr(msg, IMAGE))
    from seqpose_ros.bags.bag import BagError
    from seqpose_ros.bags.video import read_depths

    with pytest.raises(BagError, match=r"/camera/depth/image_rect_raw.*'mono16'"):
        read_depths(wrong, "/camera/depth/image_rect_raw", {0})
    args = [str(bag), "--out", str(tmp_path / "v"), "--category", "mug", "--fixed-frame", "base_link"]
    assert main([*args, "--depth-topic", "/nope"]) == 2


def test_bags_to_labels_end_to_end_with_the_cameras_k_masks_and_y_up(recordings, bags, tmp_path, capsys):
    from seqpose_core.selflabel.cli import main as align
    from seqpose_ros.bags.video import main as video

    for i in range(len(recordings)):
        args = [
            str(bags / f"orbit_{i}"),
            "--out",
            str(tmp_path / "videos" / f"orbit_{i}"),
            "--category",
            "mug",
        ]
        assert video([*args, "--fixed-frame", "base_link"]) == 0
    v = read_video(tmp_path / "videos" / "orbit_0")
    assert v.depth is not None and v.mask is None
    np.testing.assert_allclose(v.depth, recordings[0].depth, atol=5.1e-4)  # 32FC1; the folder keeps mm
    np.testing.assert_allclose(v.k, recordings[0].k)
    np.testing.assert_allclose(v.cam_to_world, recordings[0].cam_to_base, atol=1e-6)
    labels = tmp_path / "labels"
    code = align(
        [
            str(tmp_path / "videos"),
            "--features",
            "none",
            "--labels",
            str(labels),
            "--evaluate",
            "--truth",
            str(bags),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["acc30"] == 100 and report["label_centre_m"] < 0.01
    assert report["label_size_rel"] < 0.05, report  # the box reaches down to the table
    frames = NocsFrames(labels, "real_train")
    assert len(frames) > 0
    for i in (0, len(frames) - 1):
        f = frames[i]
        rec = recordings[int(frames.subset.frames[i].scene.name.split("_")[1]) - 1]
        np.testing.assert_allclose(f.k, rec.k)  # the recording's camera, not REAL275's
        assert 0 < (f.instance_mask != 255).mean() < 0.5  # the object's mask, not the whole image
        up_in_camera = f.camera_pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])
        assert f.objects.rotations[0][:, 1] @ up_in_camera > np.cos(np.radians(3))  # y is up


def test_scenes_without_their_own_intrinsics_keep_the_subsets(tmp_path, synth_root):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    frames = NocsFrames(root, "real_test")
    np.testing.assert_allclose(frames[0].k, intrinsics_for(REAL_K, frames[0].rgb.shape[:2]))
    k = np.array([[100.0, 0, 40], [0, 101.0, 30], [0, 0, 1]])
    write_intrinsics(frames.subset.frames[0].scene / "intrinsics.txt", k)
    np.testing.assert_allclose(NocsFrames(root, "real_test")[0].k, k)


def copy_bag(src, dst, extra=(), change=None):
    """``src`` with more topics: ``extra`` (new topic, copied topic) pairs repeat a topic's messages;
    ``change(topic, msg)`` may edit a message on its way."""
    from rosbags.rosbag2 import Reader

    ts = typestore()
    with Reader(src) as reader, Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {c.topic: w.add_connection(c.topic, c.msgtype, typestore=ts) for c in reader.connections}
        kinds = {c.topic: c.msgtype for c in reader.connections}
        copies = {new: (old, w.add_connection(new, kinds[old], typestore=ts)) for new, old in extra}
        for conn, t, raw in reader.messages():
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            if change is not None:
                change(conn.topic, msg)
            w.write(conns[conn.topic], t, ts.serialize_cdr(msg, conn.msgtype))
            for old, new_conn in copies.values():
                if old == conn.topic:
                    w.write(new_conn, t, ts.serialize_cdr(msg, conn.msgtype))
    return dst


def video_cli(bag, out, *flags):
    from seqpose_ros.bags.video import main

    return main([str(bag), "--out", str(out), "--category", "mug", "--fixed-frame", "base_link", *flags])


def test_a_realsense_style_bag_with_several_candidate_topics_is_refused_by_name(bags, tmp_path, capsys):
    src = bags / "orbit_1"
    ir = copy_bag(src, tmp_path / "ir", [("/camera/infra1/image_rect_raw", "/camera/color/image_raw")])
    assert video_cli(ir, tmp_path / "v0") == 2
    err = capsys.readouterr().err
    assert (
        "/camera/infra1/image_rect_raw" in err and "/camera/color/image_raw" in err and "--image-topic" in err
    )
    assert video_cli(ir, tmp_path / "v1", "--image-topic", "/camera/color/image_raw") == 0


def test_the_aligned_depth_and_the_colour_cameras_info_are_taken_by_default(bags, tmp_path):
    from seqpose_ros.bags.video import image_topics, info_topic

    bag = copy_bag(
        bags / "orbit_1",
        tmp_path / "rs",
        [
            ("/camera/depth/image_rect_raw", "/camera/aligned_depth_to_color/image_raw"),  # unaligned
            ("/camera/infra1/camera_info", "/camera/color/camera_info"),
        ],
    )
    assert image_topics(bag, None, None) == (
        "/camera/color/image_raw",
        "/camera/aligned_depth_to_color/image_raw",
    )
    assert info_topic(bag, "/camera/color/image_raw", None) == "/camera/color/camera_info"
    assert (
        info_topic(bag, "/camera/color/image_raw", "/camera/infra1/camera_info")
        == "/camera/infra1/camera_info"
    )
    from seqpose_ros.bags.bag import BagError

    with pytest.raises(BagError, match="no CameraInfo topic /nope"):
        info_topic(bag, "/camera/color/image_raw", "/nope")


def test_a_zero_k_and_a_path_that_is_not_a_bag_are_named(bags, tmp_path, capsys):
    def zero_k(topic, msg):
        if topic.endswith("camera_info"):
            msg.k = np.zeros(9)

    bad = copy_bag(bags / "orbit_1", tmp_path / "zero_k", change=zero_k)
    assert video_cli(bad, tmp_path / "v") == 2
    err = capsys.readouterr().err
    assert "/camera/color/camera_info" in err and "K" in err and "Traceback" not in err
    assert not (tmp_path / "v").exists()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not a bag")
    assert video_cli(junk, tmp_path / "v") == 2
    assert "not a readable ROS 2 bag" in capsys.readouterr().err


@pytest.fixture(scope="module")
def videos(recordings, bags, tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for i in range(len(recordings)):
        assert video_cli(bags / f"orbit_{i}", root / f"orbit_{i}") == 0
    return root


def test_align_checks_its_request_before_the_long_work(videos, bags, tmp_path, capsys):
    from seqpose_core.categories import Categories, Category
    from seqpose_core.data.nocs_io import write_classes
    from seqpose_core.selflabel.cli import main as align

    with pytest.raises(SystemExit):
        align([str(videos), "--truth", str(bags)])
    assert "--truth is read by --evaluate alone" in capsys.readouterr().err
    assert align([str(videos), "--checkpoint", str(tmp_path / "missing.safetensors")]) == 2
    assert "missing.safetensors: no such file" in capsys.readouterr().err
    clash = tmp_path / "clash"
    write_classes(clash, Categories([Category("mug", symmetric=True)]))
    assert align([str(videos), "--features", "none", "--labels", str(clash)]) == 2
    err = capsys.readouterr().err
    assert "'mug' is listed as" in err and "aligned" not in capsys.readouterr().out
    bad = tmp_path / "bad_videos"
    shutil.copytree(videos, bad)
    for f in bad.glob("*/video.json"):
        doc = json.loads(f.read_text())
        f.write_text(json.dumps({**doc, "category": "Kettle 2"}))
    assert align([str(bad), "--features", "none"]) == 2
    assert "'Kettle 2'" in capsys.readouterr().err


def test_labels_refuse_a_folder_with_scenes_unless_appended(videos, tmp_path, capsys):
    from seqpose_core.selflabel.cli import main as align

    labels = tmp_path / "labels"
    args = [str(videos), "--features", "none", "--labels", str(labels)]
    assert align(args) == 0
    first = sorted(p.name for p in (labels / "Real" / "train").iterdir())
    assert first == ["scene_1", "scene_2", "scene_3"]
    capsys.readouterr()
    assert align(args) == 2
    assert (
        "already holds 3 scenes" in capsys.readouterr().err
        and "--append" in capsys.readouterr().err + "--append"
    )
    assert align([*args, "--append"]) == 0
    assert sorted(p.name for p in (labels / "Real" / "train").iterdir()) == [
        f"scene_{i}" for i in range(1, 7)
    ]


def test_a_long_recording_keeps_keyframes_by_viewpoint_change(tmp_path, capsys):
    from seqpose_core.selflabel.keyframes import KeyframeConfig, keyframes, turn_deg
    from seqpose_ros.bags.video import main

    rec = make_recording(6, np.random.default_rng(8), 48, SIZE)  # one turn: 7.5 degrees a frame
    bag = tmp_path / "long"
    write_recording_bag(rec, bag, "16UC1")
    args = [str(bag), "--category", "mug", "--fixed-frame", "base_link"]
    assert main([*args, "--out", str(tmp_path / "key")]) == 0
    video = read_video(tmp_path / "key")
    assert 16 <= len(video.rgb) <= 30
    steps = zip(video.cam_to_world[:-1], video.cam_to_world[1:], strict=True)
    assert all(turn_deg(a, b) >= 10 or np.linalg.norm(a[:3, 3] - b[:3, 3]) >= 0.10 for a, b in steps)
    assert "48 images read" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "all"), "--keyframe-deg", "0", "--keyframe-move", "0"]) == 0
    assert len(read_video(tmp_path / "all").rgb) == 48
    coarser = keyframes(video.cam_to_world, KeyframeConfig(25.0, 1.0))
    assert coarser[0] == 0 and len(coarser) < len(video.rgb)
