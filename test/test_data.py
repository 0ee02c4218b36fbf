"""The NOCS readers on generated data: annotations agree with the pixels they describe."""

import shutil

import cv2
import numpy as np
import pytest
import torch

from seqpose_core.data.collate import collate_clips, collate_frames
from seqpose_core.data.geometry3d import backproject, normals_from_depth
from seqpose_core.data.nocs_dataset import NocsClips, NocsFrames, NocsSubset
from seqpose_core.data.nocs_io import NocsFormatError, read_depth, read_meta, write_meta
from seqpose_core.data.transforms import PhotometricJitter, resize_crop
from seqpose_core.estimates import StepResult
from seqpose_core.evaluation.predict import predict_subset, stream_subset
from seqpose_core.geometry import box_corners, project_points, transform_points


def all_frames(root):
    for subset in ("real_train", "real_test"):
        data = NocsSubset(root, subset)
        for ref in data.frames:
            yield data.load(ref)


def test_layout_and_split(synth_root):
    train, test = NocsSubset(synth_root, "real_train"), NocsSubset(synth_root, "real_test")
    assert [len(s) for s in train.scenes] == [4, 4] and [len(s) for s in test.scenes] == [4]
    assert len(list((synth_root / "gts" / "real_test").glob("results_*.pkl"))) == 4
    frames = list(all_frames(synth_root))
    assert sum(len(f.objects) for f in frames) >= 8
    assert set(np.concatenate([f.objects.class_ids for f in frames])) <= set(range(1, 7))


def test_projected_boxes_land_on_their_masks(synth_root):
    for f in all_frames(synth_root):
        o = f.objects
        for i in range(len(o)):
            mask = f.instance_mask == o.instance_ids[i]
            ys, xs = np.nonzero(mask)
            corners = project_points(
                f.k, transform_points(o.rotations[i], o.translations[i], box_corners(o.sizes[i]))
            )
            lo, hi = corners.min(0) - 1.5, corners.max(0) + 1.5
            inside = (xs >= lo[0]) & (xs <= hi[0]) & (ys >= lo[1]) & (ys <= hi[1])
            assert inside.all(), f"{f.scene}/{f.index} object {i}: mask pixels outside the projected box"
            centre = project_points(f.k, o.translations[i])
            if xs.min() == 0 or ys.min() == 0 or xs.max() == f.size[1] - 1 or ys.max() == f.size[0] - 1:
                continue  # cut by the image border: its centre may lie outside the mask
            assert xs.min() - 2 <= centre[0] <= xs.max() + 2 and ys.min() - 2 <= centre[1] <= ys.max() + 2


def test_nocs_coordinates_through_the_gt_pose_meet_the_depth(synth_root):
    from seqpose_core.data.nocs_io import read_coord

    data = NocsSubset(synth_root, "real_test")
    for ref in data.frames:
        f = data.load(ref)
        coord = read_coord(ref.file("coord.png")) - 0.5
        points = backproject(f.depth, f.k)
        for i in range(len(f.objects)):
            pick = (f.instance_mask == f.objects.instance_ids[i]) & (f.depth > 0)
            s = np.linalg.norm(f.objects.sizes[i])
            predicted = s * coord[pick] @ f.objects.rotations[i].T + f.objects.translations[i]
            err = np.linalg.norm(predicted - points[pick], axis=1)
            assert np.median(err) < 0.003 and np.percentile(err, 95) < 0.008, (f.scene, f.index, i)


def test_normals_of_a_plane_are_constant():
    k = np.array([[300.0, 0, 80], [0, 300.0, 60], [0, 0, 1]])
    n_true = np.array([0.2, -0.5, -1.0]) / np.linalg.norm([0.2, -0.5, -1.0])
    v, u = np.mgrid[0:120, 0:160]
    rays = np.stack([(u - 80) / 300.0, (v - 60) / 300.0, np.ones_like(u, float)], -1)
    depth = (-1.5 / (rays @ n_true)).astype(np.float32)  # plane n . p = -1.5 (facing the camera)
    n = normals_from_depth(depth, k)
    np.testing.assert_allclose(
        n[5:-5, 5:-5].reshape(-1, 3), np.broadcast_to(n_true, (110 * 150, 3)), atol=1e-3
    )
    depth[50, 70] = 0
    n = normals_from_depth(depth, k)
    assert not n[50, 70].any() and not n[49, 70].any() and n[47, 70].any()


def test_resize_and_crop_keep_a_projected_corner_on_its_pixel(synth_root):
    data = NocsSubset(synth_root, "real_train")
    f = data.load(data.frames[1])
    small = resize_crop(f, (119, 161))
    sx, sy = (
        161 / 320,
        121 / 240,
    )  # 320x240 covers 161x119 at scale max(119/240, 161/320): 161x121, 1 row cropped
    for i in range(len(f.objects)):
        o = f.objects
        pts = transform_points(
            o.rotations[i], o.translations[i], np.vstack([np.zeros(3), box_corners(o.sizes[i])])
        )
        before, after = project_points(f.k, pts), project_points(small.k, pts)
        np.testing.assert_allclose(after[:, 0], sx * (before[:, 0] + 0.5) - 0.5, atol=1e-9)
        np.testing.assert_allclose(after[:, 1], sy * (before[:, 1] + 0.5) - 0.5 - 1, atol=1e-9)
        u, v = np.round(after[0]).astype(int)
        if 0 <= v < 119 and 0 <= u < 161 and small.instance_mask[v, u] != 255:
            u0, v0 = np.round(before[0]).astype(int)
            assert small.instance_mask[v, u] == f.instance_mask[v0, u0]
    assert small.rgb.shape == (119, 161, 3) and small.depth.shape == (119, 161)


def test_meta_only_annotations_match_the_labels(synth_root, tmp_path):
    scene = tmp_path / "Real" / "train" / "scene_1"
    shutil.copytree(synth_root / "Real" / "train" / "scene_1", scene)
    shutil.copytree(synth_root / "obj_models", tmp_path / "obj_models")
    labelled = NocsSubset(synth_root, "real_train")
    for p in scene.glob("*_label.pkl"):
        p.unlink()
    derived = NocsSubset(tmp_path, "real_train")
    for ref_l, ref_d in zip(labelled.scenes[0], derived.scenes[0], strict=True):
        a, b = labelled.load(ref_l).objects, derived.load(ref_d).objects
        assert sorted(a.instance_ids) == sorted(b.instance_ids)
        order_a, order_b = np.argsort(a.instance_ids), np.argsort(b.instance_ids)
        np.testing.assert_allclose(b.translations[order_b], a.translations[order_a], atol=0.006)
        np.testing.assert_allclose(b.sizes[order_b], a.sizes[order_a], rtol=0.03)
        rel = b.rotations[order_b] @ np.swapaxes(a.rotations[order_a], 1, 2)
        angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        assert angle.max() < 2.5


def test_camera_layout_with_three_channel_depth(synth_root, tmp_path):
    """A CAMERA folder: 3-channel depth (G * 256 + B), 4-word meta, models under synset/id."""
    src = synth_root / "Real" / "train" / "scene_1"
    dst = tmp_path / "CAMERA" / "val" / "00000"
    dst.mkdir(parents=True)
    depth16 = cv2.imread(str(src / "0000_depth.png"), cv2.IMREAD_UNCHANGED)
    bgr = np.zeros((*depth16.shape, 3), np.uint8)
    bgr[..., 0], bgr[..., 1] = depth16 % 256, depth16 // 256
    cv2.imwrite(str(dst / "0000_depth.png"), bgr)
    for suffix in ("color.png", "mask.png", "coord.png"):
        shutil.copy(src / f"0000_{suffix}", dst / f"0000_{suffix}")
    entries = read_meta(src / "0000_meta.txt")
    camera_entries = []
    for e in entries:
        model = f"02876657/{e.model}"
        camera_entries.append(type(e)(e.instance_id, e.class_id, model))
        if e.class_id:
            (tmp_path / "obj_models" / "val" / model).mkdir(parents=True)
            shutil.copy(
                synth_root / "obj_models" / "real_train" / f"{e.model}.obj",
                tmp_path / "obj_models" / "val" / model / "model.obj",
            )
    write_meta(dst / "0000_meta.txt", camera_entries)
    assert (dst / "0000_meta.txt").read_text().split("\n")[0].count(" ") == 3
    np.testing.assert_array_equal(read_depth(dst / "0000_depth.png"), read_depth(src / "0000_depth.png"))
    frame = NocsFrames(tmp_path, "camera_val")[0]
    assert (
        len(frame.objects) > 0 and frame.k[0, 0] == 577.5 / 2
    )  # CAMERA intrinsics, scaled to the 320 x 240 test images
    with pytest.raises(ValueError, match="single images"):
        NocsClips(tmp_path, "camera_val")


def test_clips_are_consecutive_frames_of_one_scene(synth_root):
    clips = NocsClips(synth_root, "real_train", length=3, stride=1)
    assert len(clips) == 4  # 2 scenes x (4 - 2) windows
    clip = clips[1]
    assert [f.index for f in clip] == [1, 2, 3] and len({f.scene for f in clip}) == 1
    strided = NocsClips(synth_root, "real_train", length=2, stride=3)
    assert [[r.index for r in c] for c in strided.clips] == [[0, 3], [0, 3]]


def test_collate_pads_objects_and_keeps_values(synth_root):
    clips = NocsClips(synth_root, "real_train", length=2, transform=lambda f: resize_crop(f, (119, 161)))
    steps = collate_clips([clips[0], clips[3]])
    assert len(steps) == 2
    batch = steps[0]
    assert batch["image"].shape == (2, 3, 119, 161) and batch["image"].max() <= 1.0
    n = [len(clips[0][0].objects), len(clips[3][0].objects)]
    assert batch["valid"].sum(1).tolist() == n
    first = clips[0][0].objects
    torch.testing.assert_close(batch["translations"][0, : n[0]], torch.from_numpy(first.translations).float())
    with pytest.raises(ValueError, match="share one size"):
        collate_frames([clips[0][0], NocsFrames(synth_root, "real_train")[0]])


def test_photometric_jitter_changes_colour_only(synth_root):
    f = NocsFrames(synth_root, "real_train")[0]
    g = PhotometricJitter(seed=1)(f)
    assert g.rgb.shape == f.rgb.shape and not np.array_equal(g.rgb, f.rgb)
    assert g.depth is f.depth and g.objects is f.objects


@pytest.mark.parametrize("look", ["plain", "randomized"])
def test_generation_is_deterministic(synth_root, tmp_path, look):
    from seqpose_core.synth.writer import SynthConfig, generate

    cfg = SynthConfig(train_scenes=1, test_scenes=0, frames=4, height=240, width=320, seed=11, look=look)
    generate(tmp_path / "a", cfg)
    generate(tmp_path / "b", cfg)
    first = synth_root if look == "plain" else tmp_path / "b"  # the fixture: the plain look, seed 11
    for name in ("0001_color.png", "0001_mask.png", "0001_depth.png"):
        a = (tmp_path / "a" / "Real" / "train" / "scene_1" / name).read_bytes()
        assert a == (first / "Real" / "train" / "scene_1" / name).read_bytes()


def test_missing_files_are_named(synth_root, tmp_path):
    with pytest.raises(NocsFormatError, match="Real/test: no such folder"):
        NocsSubset(tmp_path, "real_test")
    with pytest.raises(ValueError, match="unknown NOCS subset"):
        NocsSubset(synth_root, "real_val")


def test_camera_poses_keep_a_static_object_in_one_place_in_the_world(synth_root):
    data = NocsSubset(synth_root, "real_test")
    world: dict[int, list[np.ndarray]] = {}
    for f in (data.load(ref) for ref in data.frames):
        pose = f.camera_pose
        assert pose is not None and np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3))
        for inst, t in zip(f.objects.instance_ids, f.objects.translations, strict=True):
            world.setdefault(int(inst), []).append(pose[:3, :3] @ t + pose[:3, 3])
    moved = [np.ptp(np.array(p), axis=0).max() for p in world.values() if len(p) > 1]
    assert moved and max(moved) < 1e-4  # metres, after the float32 labels
    poses = [data.load(ref).camera_pose for ref in data.frames]
    assert np.linalg.norm(poses[-1][:3, 3] - poses[0][:3, 3]) > 0.05  # the camera does move


class MotionLog:
    """A stream predictor that records the camera motion it is given and estimates nothing."""

    def __init__(self):
        self.motions: list = []

    def reset(self) -> None:
        self.motions.append("reset")

    def step(self, rgb, k, stamp, camera_motion=None):
        self.motions.append(camera_motion)
        return StepResult([])


def test_evaluation_passes_each_frames_camera_motion_from_the_poses(synth_root, tmp_path):
    data = NocsSubset(synth_root, "real_test")
    log = MotionLog()
    predict_subset(log, data, camera_motion=True)
    assert log.motions[:2] == ["reset", None]  # a scene's first frame has no motion
    frames = [data.load(ref) for ref in data.frames]
    for before, now, motion in zip(frames[:-1], frames[1:], log.motions[2:], strict=True):
        point = before.objects.translations[0]  # a static object, seen from the moved camera
        moved = motion[:3, :3] @ point + motion[:3, 3]
        assert np.allclose(moved, now.objects.translations[0], atol=1e-4)
    copy = tmp_path / "copy"
    shutil.copytree(synth_root, copy)
    for pose_file in (copy / "Real" / "test").rglob("*_camera_pose.txt"):
        pose_file.unlink()
    with pytest.raises(ValueError, match="no camera pose"):
        predict_subset(MotionLog(), NocsSubset(copy, "real_test"), camera_motion=True)


def test_streaming_a_subset_resets_the_memory_per_scene_and_pairs_each_frame(synth_root):
    data = NocsSubset(synth_root, "real_train")  # 2 scenes
    log = MotionLog()
    pairs = list(stream_subset(log, data))
    assert [(f.scene, f.index) for f, _ in pairs] == [(r.scene.name, r.index) for s in data.scenes for r in s]
    first_of_scene = [0, len(data.scenes[0]) + 1]  # each scene's reset before its first step
    assert [i for i, m in enumerate(log.motions) if m == "reset"] == first_of_scene
