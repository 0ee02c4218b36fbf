"""#46: each tracked object's estimates fused in a fixed frame (seqpose_core/tracking/fusion.py)."""

import numpy as np
import pytest
import torch

from seqpose_core.categories import NOCS
from seqpose_core.estimates import PoseEstimate
from seqpose_core.geometry import rigid_transform, rotation_about_y, rotation_error_deg
from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import Predictor
from seqpose_core.tracking.fusion import Fusion, FusionConfig, ObjectFusion

LAPTOP, BOTTLE = NOCS.id("laptop"), NOCS.id("bottle")
K640 = np.array([[591.0, 0, 320.0], [0, 590.0, 240.0], [0, 0, 1]])


def small_turn(rng, deg):
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    a = np.radians(deg) * rng.uniform(0, 1)
    kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * kx @ kx


def estimate(rot, t, size=(0.3, 0.2, 0.25), cls=LAPTOP, track=1, score=0.5):
    return PoseEstimate(
        cls, NOCS.names[cls], score, rot, np.asarray(t, float), np.asarray(size, float), track
    )


def angle(a, b, symmetric=False):
    return float(rotation_error_deg(a[None], b[None], np.array([symmetric]))[0, 0])


def test_a_minority_of_flipped_headings_is_outvoted():
    rng = np.random.default_rng(0)
    truth = rotation_about_y(0.7) @ small_turn(rng, 0)
    fusion = ObjectFusion(symmetric=False)
    flips = [3, 6, 9, 12]  # 4 of 14 views read the laptop from behind
    for i in range(14):
        rot = truth @ small_turn(rng, 6)
        if i in flips:
            rot = rotation_about_y(np.pi / 2) @ rot  # a quarter turn: a mean is dragged by it
        fusion.add(rot, np.array([0.1, 0.05, 0.0]) + rng.normal(0, 0.01, 3), np.array([0.3, 0.2, 0.25]), 0.5)
    assert angle(fusion.rotation, truth) < 4.0
    mean = sum(fusion.rotations)  # what an average would give: dragged far off
    u, _, vt = np.linalg.svd(mean)
    assert angle(u @ vt, truth) > 15.0


def test_a_symmetric_object_is_fused_by_its_up_axis_alone():
    rng = np.random.default_rng(1)
    up_truth = small_turn(rng, 8)
    fusion = ObjectFusion(symmetric=True)
    for _ in range(10):  # any heading about the axis: the network cannot know it
        rot = up_truth @ small_turn(rng, 3) @ rotation_about_y(rng.uniform(0, 2 * np.pi))
        fusion.add(rot, np.zeros(3), np.array([0.07, 0.2, 0.07]), 0.5)
    assert angle(fusion.rotation, up_truth, symmetric=True) < 2.0
    np.testing.assert_allclose(fusion.rotation @ fusion.rotation.T, np.eye(3), atol=1e-9)


def test_the_fused_up_axis_holds_when_headings_scatter():
    rng = np.random.default_rng(2)
    fusion = ObjectFusion(symmetric=False)
    for _ in range(12):
        rot = small_turn(rng, 2) @ rotation_about_y(0.3 + rng.normal(0, 0.2))
        fusion.add(rot, np.zeros(3), np.array([0.3, 0.2, 0.25]), 0.5)
    assert np.degrees(np.arccos(np.clip(fusion.rotation[1, 1], -1, 1))) < 1.5


def test_translation_and_size_resist_outliers_and_memory_is_bounded():
    rng = np.random.default_rng(3)
    cfg = FusionConfig(window=20)
    fusion = ObjectFusion(symmetric=False, cfg=cfg)
    centre = np.array([0.2, 0.1, -0.3])
    for i in range(100):
        t = centre + rng.normal(0, 0.01, 3)
        size = np.array([0.3, 0.2, 0.25]) * (3.0 if i % 5 == 0 else 1.0)  # a fifth far too large
        fusion.add(np.eye(3), t, size, 0.5)
        if i == 50:
            fusion.add(np.eye(3), centre + np.array([0.5, 0, 0]), size, 0.9)  # one wild centre
    assert len(fusion.rotations) == len(fusion.translations) == cfg.window
    assert np.linalg.norm(fusion.translation - centre) < 0.006
    np.testing.assert_allclose(fusion.size, [0.3, 0.2, 0.25], rtol=0.05)


def test_a_moved_object_is_followed_within_a_few_frames():
    rng = np.random.default_rng(4)
    fusion = ObjectFusion(symmetric=False)
    before, after = np.array([0.0, 0.05, 0.0]), np.array([0.25, 0.05, 0.1])
    for _ in range(20):
        fusion.add(np.eye(3), before + rng.normal(0, 0.005, 3), np.array([0.3, 0.2, 0.25]), 0.5)
    followed = None
    for i in range(10):
        fusion.add(rotation_about_y(1.0), after + rng.normal(0, 0.005, 3), np.array([0.3, 0.2, 0.25]), 0.5)
        if followed is None and np.linalg.norm(fusion.translation - after) < 0.02:
            followed = i + 1
    assert followed is not None and followed <= 5
    assert fusion.restarts == 1 and angle(fusion.rotation, rotation_about_y(1.0)) < 1.0


def views(n, rng, radius=0.8):
    """Camera poses (camera -> world) on an arc looking at the origin."""
    poses = []
    for a in np.linspace(0, 1.2, n):
        pos = radius * np.array([np.cos(a), 0.6, np.sin(a)])
        fwd = -pos / np.linalg.norm(pos)
        right = np.cross(fwd, [0, 1.0, 0])
        right /= np.linalg.norm(right)
        poses.append(rigid_transform(np.stack([right, np.cross(fwd, right), fwd], 1), pos))
    return poses


def test_fusion_works_in_the_fixed_frame_and_answers_in_the_camera_frame():
    rng = np.random.default_rng(5)
    obj_rot, obj_t = rotation_about_y(0.4), np.array([0.05, 0.1, -0.02])
    fusion = Fusion(NOCS)
    for pose in views(12, rng):
        cam_from_world = np.linalg.inv(pose)
        rot = cam_from_world[:3, :3] @ obj_rot @ small_turn(rng, 5)
        t = cam_from_world[:3, :3] @ obj_t + cam_from_world[:3, 3] + rng.normal(0, 0.02, 3)
        (out,) = fusion.update([estimate(rot, t)], pose, 0.0)
        world_t = pose[:3, :3] @ out.translation + pose[:3, 3]
    assert np.linalg.norm(world_t - obj_t) < 0.015  # 12 views of 2 cm noise
    (obj,) = fusion.fused_objects()
    assert obj.in_view and np.linalg.norm(obj.translation - obj_t) < 0.015


def test_an_object_out_of_view_is_kept_for_a_while_and_its_new_track_continues_it():
    fusion = Fusion(NOCS, FusionConfig(keep_unseen_s=1.0))
    for i in range(5):
        fusion.update([estimate(np.eye(3), [0, 0, 1.0], track=1)], np.eye(4), 0.1 * i)
    fusion.update([], np.eye(4), 0.6)
    (kept,) = fusion.fused_objects()
    assert not kept.in_view and kept.track_id == 1
    (back,) = fusion.update([estimate(np.eye(3), [0.01, 0, 1.0], track=7)], np.eye(4), 0.7)
    assert back.track_id == 1  # the tracker's new id 7 continues object 1
    fusion.update([], np.eye(4), 2.0)
    assert fusion.fused_objects() == []  # unseen past keep_unseen_s: forgotten


@pytest.fixture
def model():
    torch.manual_seed(0)
    return SeqPose(tiny_config(input_size=(112, 154)))


def frame(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (480, 640, 3), dtype=np.uint8)


def run(predictor, motions):
    return [predictor.step(frame(), K640, 0.1 * i, m).estimates for i, m in enumerate(motions)]


def same(a, b):
    return len(a) == len(b) and all(
        np.allclose(x.translation, y.translation) and np.allclose(x.rotation, y.rotation)
        for x, y in zip(a, b, strict=True)
    )


def test_without_camera_motion_nothing_is_fused_unless_the_camera_is_static(model):
    kw = {"device": "cpu", "score_threshold": 0.0, "max_detections": 5}
    plain = run(Predictor(model, fusion=None, **kw), [None] * 4)
    unknown = run(Predictor(model, **kw), [None] * 4)
    assert all(same(a, b) for a, b in zip(plain, unknown, strict=True))
    static = Predictor(model, static_camera=True, **kw)
    fused = run(static, [None] * 4)
    assert static.fused_objects() and not same(plain[-1], fused[-1])


def test_camera_motion_fuses_and_a_reset_forgets(model):
    p = Predictor(model, device="cpu", score_threshold=0.0, max_detections=5)
    run(p, [None] + [np.eye(4)] * 3)
    assert p.fused_objects()
    p.reset()
    assert p.fused_objects() == [] and p.world_from_camera is None


def test_a_camera_pose_sets_the_fixed_frame_of_the_fused_objects(model):
    p = Predictor(model, device="cpu", score_threshold=0.0, max_detections=3)
    pose = rigid_transform(rotation_about_y(0.5), np.array([1.0, 2.0, 3.0]))
    for i in range(3):
        out = p.step(frame(), K640, 0.1 * i, camera_pose=pose).estimates
    by_id = {o.track_id: o for o in p.fused_objects()}
    for e in out:
        world = pose[:3, :3] @ e.translation + pose[:3, 3]
        np.testing.assert_allclose(world, by_id[e.track_id].translation, atol=1e-9)
    with pytest.raises(ValueError, match="camera_pose must be a finite 4 x 4"):
        p.step(frame(), K640, 0.5, camera_pose=np.full((4, 4), np.nan))


def test_a_second_track_on_a_fused_object_is_its_duplicate_and_is_dropped():
    fusion = Fusion(NOCS)
    for i in range(3):
        fusion.update([estimate(np.eye(3), [0, 0, 1.0], track=1)], np.eye(4), 0.1 * i)
    out = fusion.update(
        [estimate(np.eye(3), [0.01, 0, 1.0], track=9, score=0.9), estimate(np.eye(3), [0, 0, 1.0], track=1)],
        np.eye(4),
        0.3,
    )
    assert [e.track_id for e in out] == [1]  # track 9 stands on object 1, which track 1 answers
    far = fusion.update([estimate(np.eye(3), [0.5, 0, 1.0], track=9)], np.eye(4), 0.4)
    assert [e.track_id for e in far] == [1]  # the alias holds: track 9 is object 1 from now on


def test_another_class_on_the_same_spot_is_another_object():
    fusion = Fusion(NOCS)
    mug, bowl = NOCS.id("mug"), NOCS.id("bowl")
    box = (0.1, 0.1, 0.1)
    for i in range(4):
        fusion.update([estimate(np.eye(3), [0, 0, 1.0], size=box, cls=mug, track=1)], np.eye(4), 0.1 * i)
    both = fusion.update(
        [
            estimate(np.eye(3), [0, 0, 1.0], size=box, cls=mug, track=1),
            estimate(np.eye(3), [0.01, 0, 1.0], size=box, cls=bowl, track=2),
        ],
        np.eye(4),
        0.6,
    )
    assert [(e.track_id, e.class_name) for e in both] == [(1, "mug"), (2, "bowl")]
