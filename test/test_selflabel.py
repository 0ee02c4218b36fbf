"""Self-labelling from object-centric videos: the cyclic score, RANSAC, the video folders."""

import itertools
import json
import shutil

import numpy as np
import pytest

from seqpose_core.categories import class_id
from seqpose_core.geometry import rotation_about_y
from seqpose_core.selflabel.align import AlignConfig, Similarity, Target, align_pair, cyclic_score, normalise
from seqpose_core.selflabel.evaluate import rotation_errors
from seqpose_core.selflabel.videos import VideoError, read_category, read_video
from seqpose_core.synth.orbit import generate_videos


def rotation(axis, degrees):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    a = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def l_shape(n=400, seed=0):
    """An asymmetric cloud: a box with a bar off one corner, normalised."""
    rng = np.random.default_rng(seed)
    body = rng.uniform([-0.5, -0.2, -0.3], [0.5, 0.2, 0.3], (n, 3))
    bar = rng.uniform([0.3, 0.2, 0.1], [0.5, 0.6, 0.3], (n // 3, 3))
    pts = np.concatenate([body, bar])
    return normalise(pts).apply(pts)


def test_the_cyclic_score_is_perfect_for_a_shape_and_itself_and_falls_with_misalignment():
    pts = l_shape()
    ref = Target(pts, None)
    cfg = AlignConfig(appearance_weight=0.0)
    scores = [cyclic_score(pts @ rotation([0.3, 1, 0.2], deg).T, None, ref, cfg) for deg in (0, 10, 30, 90)]
    assert scores[0] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(scores)), scores


def test_ransac_recovers_a_known_similarity_from_noisy_correspondences_with_outliers():
    rng = np.random.default_rng(1)
    src = l_shape(seed=2)
    truth = Similarity(1.1, rotation([1, 2, 0.5], 140), np.array([0.05, -0.02, 0.1]))
    ref_pts = truth.apply(src) + rng.normal(0, 0.004, src.shape)
    feats = rng.normal(size=(len(src), 16))
    ref_feats = feats.copy()
    outliers = rng.random(len(src)) < 0.4
    ref_feats[outliers] = rng.permutation(ref_feats[outliers])  # 40 % wrong correspondences
    unit = lambda f: f / np.linalg.norm(f, axis=1, keepdims=True)  # noqa: E731
    cfg = AlignConfig(appearance_weight=0.2, hypotheses=200)
    found = align_pair(src, unit(feats), Target(ref_pts, unit(ref_feats)), cfg, rng).transform
    angle = np.degrees(np.arccos(np.clip((np.trace(found.rot.T @ truth.rot) - 1) / 2, -1, 1)))
    assert angle < 2.0 and found.scale == pytest.approx(1.1, rel=0.02)
    assert np.linalg.norm(found.t - truth.t) < 0.02


def test_the_metric_forgives_one_global_rotation_and_symmetric_objects_their_turn_about_up():
    truth = np.stack([rotation_about_y(a) for a in np.linspace(0, 5, 8)])
    g = rotation([1, 1, 0], 70)
    found = np.stack([g @ r.T for r in truth])  # world -> canonical, one global rotation off
    assert rotation_errors(found, truth, symmetric=False).max() < 1e-3
    turned = np.stack([rotation_about_y(0.4 * i) @ f for i, f in enumerate(found)])
    assert rotation_errors(turned, truth, symmetric=True).max() < 1e-3
    assert np.median(rotation_errors(turned, truth, symmetric=False)) > 10


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    generate_videos(root, [3], 2, frames=6, size=(60, 80), seed=4)
    return root / "camera"


def test_bad_video_folders_get_an_error_that_names_the_video(videos, tmp_path):
    short = tmp_path / "short"
    shutil.copytree(videos / "video_000", short)
    doc = json.loads((short / "video.json").read_text())
    (short / "video.json").write_text(json.dumps({**doc, "cam_to_world": doc["cam_to_world"][:2]}))
    with pytest.raises(VideoError, match="short: 2 frames"):
        read_video(short)
    no_depth = tmp_path / "no_depth"
    shutil.copytree(videos / "video_000", no_depth)
    shutil.rmtree(no_depth / "depth")
    with pytest.raises(VideoError, match="no_depth: no depth images"):
        read_video(no_depth)
    assert read_video(no_depth, need_depth=False).depth is None
    mixed = tmp_path / "mixed"
    shutil.copytree(videos, mixed)
    doc = json.loads((mixed / "video_001" / "video.json").read_text())
    (mixed / "video_001" / "video.json").write_text(json.dumps({**doc, "category": "mug"}))
    with pytest.raises(VideoError, match=r"different categories.*video_001"):
        read_category(mixed)


def test_written_labels_read_back_through_the_nocs_readers_with_the_known_poses(videos, tmp_path):
    from seqpose_core.data.nocs_dataset import NocsFrames
    from seqpose_core.selflabel.labels import object_in_world, write_video_labels
    from seqpose_core.selflabel.reconstruct import build_cloud
    from seqpose_core.selflabel.videos import read_truth

    video = read_video(videos / "video_000")
    truth = read_truth(video.path)
    obj = json.loads((video.path / "truth.json").read_text())
    to_world = np.asarray(obj["object_to_world"])
    # the canonical frame of the truth: world -> object, so the labels must give the true poses
    canonical = Similarity(1.0, truth.T, -truth.T @ to_world[:3, 3])
    cloud = build_cloud(video, None)
    write_video_labels(tmp_path, 1, video, object_in_world(cloud, canonical), class_id(video.category))
    frames = NocsFrames(tmp_path, "real_train")
    assert len(frames) == len(video.cam_to_world)
    for i in (0, 3):
        o = frames[i].objects
        pose = video.cam_to_world[i]
        np.testing.assert_allclose(o.rotations[0], pose[:3, :3].T @ truth, atol=1e-5)
        centre = pose[:3, :3].T @ (to_world[:3, 3] - pose[:3, 3])
        assert np.linalg.norm(o.translations[0] - centre) < 0.01  # the box of the seen points
        np.testing.assert_allclose(o.sizes[0], obj["size"], rtol=0.15)
        assert frames[i].objects.class_ids[0] == 3


def test_with_an_up_direction_every_transform_is_a_turn_about_it():
    from seqpose_core.selflabel.align import about, umeyama_about, upright

    up = np.array([0.0, 1.0, 0.0])
    src = l_shape(seed=3)
    truth = Similarity(0.9, about(up, 2.0), np.array([0.1, 0.0, -0.05]))
    dst = truth.apply(src) + np.random.default_rng(0).normal(0, 0.003, src.shape)
    fit = umeyama_about(src, dst, up)
    assert np.degrees(np.arccos((np.trace(fit.rot.T @ truth.rot) - 1) / 2)) < 0.5
    assert fit.scale == pytest.approx(0.9, rel=0.01) and np.linalg.norm(fit.t - truth.t) < 0.005
    found = align_pair(src, None, Target(dst, None), AlignConfig(appearance_weight=0.0, up=tuple(up)), None)
    np.testing.assert_allclose(found.transform.rot @ up, up, atol=1e-9)  # no tilt at all
    assert np.degrees(np.arccos((np.trace(found.transform.rot.T @ truth.rot) - 1) / 2)) < 1.0
    tilted = Similarity(1.2, rotation([1, 0, 0], 20) @ about(up, 0.7), np.array([0.3, 0.1, 0.0]))
    centre = src.mean(0)
    (turned,) = upright([tilted], up, centre)
    np.testing.assert_allclose(turned.rot, about(up, 0.7), atol=1e-3)  # tilted after the turn
    np.testing.assert_allclose(turned.apply(centre[None]), tilted.apply(centre[None]), atol=1e-12)


def mug_shape(n=1200, seed=0):
    """A cylinder (y up) with a small handle on +x: only the handle fixes its turn about y."""
    rng = np.random.default_rng(seed)
    a, y = rng.uniform(0, 2 * np.pi, n), rng.uniform(-0.5, 0.5, n)
    body = np.stack([0.4 * np.cos(a), y, 0.4 * np.sin(a)], 1)
    b = rng.uniform(-np.pi / 2, np.pi / 2, n // 12)
    handle = np.stack([0.4 + 0.15 * np.cos(b), 0.2 * np.sin(b), rng.uniform(-0.03, 0.03, len(b))], 1)
    return np.concatenate([body, handle])


def test_the_joint_refinement_turns_near_symmetric_bodies_by_their_handle():
    """Twelve mugs turned by up to 8 degrees about up: the joint refinement must bring their
    handles together. Measured: median deviation 3.9 degrees at the start, 1.4 after; 3.3 with
    trimmed ICP and no last turn (the trimming drops the handle, the cylinder leaves the turn free)."""
    from seqpose_core.selflabel.align import about, refine_together

    up = np.array([0.0, 1.0, 0.0])
    turns = np.random.default_rng(0).uniform(-8, 8, 12)
    clouds = [mug_shape(seed=i) @ about(up, np.radians(t)).T for i, t in enumerate(turns)]
    start = [Similarity(1.0, np.eye(3), np.zeros(3)) for _ in clouds]
    found = refine_together(clouds, start, AlignConfig(appearance_weight=0.0, up=tuple(up)))
    final = turns + np.degrees([np.arctan2(f.rot[0, 2], f.rot[0, 0]) for f in found])
    assert np.median(np.abs(final - np.median(final))) < 2.0, final


def test_scenes_for_a_new_category_leave_it_out():
    from seqpose_core.synth.scene import sample_scene

    kinds = lambda s: [o.model.class_id for o in s.objects]  # noqa: E731
    for seed in range(8):
        scene = sample_scene(np.random.default_rng(seed), class_ids=(1, 2, 3, 4, 6))
        assert 5 not in kinds(scene) and any(kinds(scene))


def test_self_labels_in_the_nocs_frame_give_the_true_poses_after_the_one_global_turn(videos, tmp_path):
    from seqpose_core.data.nocs_dataset import NocsFrames
    from seqpose_core.selflabel.videos import read_truth_instance
    from training.selflabel_experiment import in_nocs_frame, write_labels

    vids = read_category(videos)
    g = rotation([0.2, 1, 0.1], 130)  # the discovered frame: the true one turned once, scaled
    found = []
    for v in vids:
        rot, centre, _ = read_truth_instance(v.path)
        found.append(Similarity(2.5, g @ rot.T, -2.5 * g @ rot.T @ centre))
    doc = {
        "videos": {
            v.name: {"world_to_canonical": f.matrix().tolist()} for v, f in zip(vids, found, strict=True)
        }
    }
    (tmp_path / "alignment.json").write_text(json.dumps(doc))
    for v, t in zip(vids, in_nocs_frame(found, vids), strict=True):
        np.testing.assert_allclose(t.rot, read_truth_instance(v.path)[0].T, atol=1e-6)
    write_labels(videos, tmp_path / "alignment.json", tmp_path / "self", tmp_path / "truth")
    mine, true = NocsFrames(tmp_path / "self", "real_train"), NocsFrames(tmp_path / "truth", "real_train")
    assert len(mine) == len(true) == sum(len(v.cam_to_world) for v in vids)
    for i in (0, len(true) - 1):
        a, b = mine[i].objects, true[i].objects
        np.testing.assert_allclose(a.rotations, b.rotations, atol=1e-5)
        assert np.linalg.norm(a.translations - b.translations) < 0.01  # the box of the seen points
        np.testing.assert_allclose(a.sizes, b.sizes, rtol=0.15)
