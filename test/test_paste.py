"""Cut and paste with a camera turn: the pasted object looks as the renderer draws it at the
label's new pose."""

from pathlib import Path

import numpy as np
import pytest

from seqpose_core.data.frame import Frame, Objects
from seqpose_core.data.nocs_dataset import MIN_OBJECT_PIXELS
from seqpose_core.data.paste import paste_object, turn_between
from seqpose_core.data.paste_look import LookDraw, PasteLook, composite, distance_range, noise_sigma
from seqpose_core.geometry import rotation_about_y
from seqpose_core.synth.render import SceneRenderer
from seqpose_core.synth.scene import PlacedObject, Scene
from seqpose_core.synth.shapes import GENERATOR_CLASSES, make_object

CAM_ROT = np.diag([-1.0, -1.0, 1.0])  # optical camera -> world (y up): looking along world +z
CAM_POS = np.array([0.0, 1.0, -1.5])  # in the room, above the table's height: nothing behind it
K_SOURCE = np.array([[150.0, 0, 64], [0, 150.0, 48], [0, 0, 1]])  # 128 x 96
K_TARGET = np.array([[260.0, 0, 161], [0, 255.0, 119], [0, 0, 1]])  # 320 x 240


def view(model, rot_cam, t_cam, k, hw, instance_id=3) -> Frame:
    """The object at pose (rot_cam, t_cam) in the camera frame, rendered as a labelled Frame."""
    placed = PlacedObject(model, instance_id, CAM_ROT @ rot_cam, CAM_ROT @ t_cam + CAM_POS)
    frame = SceneRenderer(Scene([placed], np.full(3, 0.5), np.full(3, 0.6), 1)).render(
        k, CAM_ROT, CAM_POS, hw
    )
    mine = frame.instance == instance_id
    objects = Objects(
        np.array([model.class_id]),
        rot_cam[None],
        t_cam[None],
        model.size[None],
        np.array([instance_id]),
        np.array([True]),
    )
    normals = np.zeros((*hw, 3), np.float32)
    normals[mine] = [0.0, 0.0, -1.0]
    return Frame(
        frame.rgb,
        k,
        frame.depth,
        normals,
        np.where(mine, model.class_id, 0).astype(np.uint8),
        frame.instance,
        objects,
    )


def test_the_turn_between_two_directions_is_a_rotation_that_maps_one_onto_the_other():
    rng = np.random.default_rng(0)
    for a, b in rng.normal(size=(20, 2, 3)):
        r = turn_between(a, b)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) > 0
        np.testing.assert_allclose(r @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-12)


def test_a_pasted_object_is_what_the_renderer_draws_at_its_new_label():
    kettle = make_object(GENERATOR_CLASSES.id("kettle"), np.random.default_rng(2))
    source = view(kettle, rotation_about_y(0.7), np.array([0.02, -0.01, 0.75]), K_SOURCE, (96, 128))
    empty = view(kettle, np.eye(3), np.array([0.0, 0.0, -5.0]), K_TARGET, (240, 320), instance_id=9)
    empty.objects = Objects()  # the same room, no object in view
    pasted = paste_object(empty, source, 0, (250.0, 80.0))
    o = pasted.objects
    assert len(o) == 1 and o.class_ids[0] == 7
    u, v, w = K_TARGET @ o.translations[0]
    np.testing.assert_allclose([u / w, v / w], [250.0, 80.0], atol=1e-9)  # the centre lands there
    np.testing.assert_allclose(np.linalg.norm(o.translations), np.linalg.norm(source.objects.translations))
    truth = view(kettle, o.rotations[0], o.translations[0], K_TARGET, (240, 320))
    drawn, expected = pasted.instance_mask == o.instance_ids[0], truth.instance_mask == 3
    assert (drawn & expected).sum() / (drawn | expected).sum() > 0.93  # 0.86 with an unturned rotation
    both = drawn & expected
    assert np.median(np.abs(pasted.depth[both] - truth.depth[both])) < 0.004
    assert (pasted.class_mask[drawn] == 7).all()


def test_a_pasted_object_hides_what_it_covers_and_a_hidden_object_leaves_the_labels():
    kettle = make_object(GENERATOR_CLASSES.id("kettle"), np.random.default_rng(2))
    mug = make_object(6, np.random.default_rng(3))
    source = view(kettle, np.eye(3), np.array([0.0, 0.0, 0.4]), K_SOURCE, (96, 128))
    target = view(mug, np.eye(3), np.array([0.0, 0.0, 1.2]), K_TARGET, (240, 320))
    assert (target.instance_mask == 3).sum() >= MIN_OBJECT_PIXELS
    pasted = paste_object(target, source, 0, (161.0, 119.0))
    assert list(pasted.objects.class_ids) == [7]  # the far mug is behind the near kettle
    assert pasted.objects.instance_ids[0] != 3 and not (pasted.instance_mask == 3).any()
    aside = paste_object(target, source, 0, (20.0, 20.0))
    assert list(aside.objects.class_ids) == [6, 7]
    assert paste_object(target, source, 0, (5000.0, 119.0)) is target  # out of view: nothing pasted


def test_training_items_get_the_pasted_category_in_every_frame(synth_root, tmp_path):
    from seqpose_core.categories import NOCS, Category
    from seqpose_core.synth.writer import SynthConfig, generate
    from training.config import load_config
    from training.data import build_train_loader

    kettles = tmp_path / "kettles"
    generate(kettles, SynthConfig(1, 0, 3, 120, 160, seed=4, class_ids=(7,)))
    config = Path(__file__).resolve().parents[1] / "training" / "configs" / "synthetic_tiny.yaml"
    overrides = [f"data.root={synth_root}", "data.extra_roots=[]", f"data.paste_root={kettles}"]
    overrides += ["data.paste_prob=1.0", "data.clip_length=2", "model.memory_frames=1", "data.workers=0"]
    with pytest.raises(ValueError, match="kettle"):  # the pasted ids must be the model's
        build_train_loader(load_config(config, overrides), 0, 1)
    classes = NOCS.plus(Category("kettle")).to_list()
    cfg = load_config(config, [*overrides, f"model.categories={classes}"])
    samples = build_train_loader(cfg, 0, 1)[2]
    for i in range(3):
        clip = samples[i]
        assert len(clip) == 2 and all(7 in f.objects.class_ids for f in clip)
        assert all((f.class_mask == 7).sum() >= MIN_OBJECT_PIXELS for f in clip)
    assert [f.objects.class_ids.tolist() for f in samples[0]] == [
        f.objects.class_ids.tolist() for f in samples[0]
    ]


def test_a_paste_moved_along_its_ray_is_what_the_renderer_draws_at_the_new_distance():
    kettle = make_object(GENERATOR_CLASSES.id("kettle"), np.random.default_rng(2))
    source = view(kettle, rotation_about_y(0.7), np.array([0.02, -0.01, 0.6]), K_SOURCE, (96, 128))
    empty = view(kettle, np.eye(3), np.array([0.0, 0.0, -5.0]), K_TARGET, (240, 320), instance_id=9)
    empty.objects = Objects()
    half = float(np.linalg.norm(kettle.size)) / 2
    near, far = distance_range(PasteLook(), 0.6, half)
    assert near < 0.6 < far and half * (1 / near - 1 / 0.6) <= PasteLook().max_shape_error + 1e-9
    draw = LookDraw(distance_ratio=far / np.linalg.norm(source.objects.translations[0]))
    pasted = paste_object(empty, source, 0, (200.0, 110.0), draw)
    o = pasted.objects
    np.testing.assert_allclose(np.linalg.norm(o.translations[0]), far)
    truth = view(kettle, o.rotations[0], o.translations[0], K_TARGET, (240, 320))
    drawn, expected = pasted.instance_mask == o.instance_ids[0], truth.instance_mask == 3
    assert (drawn & expected).sum() / (drawn | expected).sum() > 0.85
    plain = paste_object(empty, source, 0, (200.0, 110.0))
    assert drawn.sum() < 0.8 * (plain.instance_mask == plain.objects.instance_ids[0]).sum()  # smaller
    both = drawn & expected
    assert np.median(np.abs(pasted.depth[both] - truth.depth[both])) < 0.006


def test_a_target_object_nearer_than_the_paste_hides_it_and_keeps_its_label():
    kettle = make_object(GENERATOR_CLASSES.id("kettle"), np.random.default_rng(2))
    mug = make_object(6, np.random.default_rng(3))
    source = view(kettle, np.eye(3), np.array([0.0, 0.0, 0.9]), K_SOURCE, (96, 128))
    target = view(mug, np.eye(3), np.array([0.0, 0.0, 0.5]), K_TARGET, (240, 320))
    behind = paste_object(target, source, 0, (161.0, 119.0), LookDraw(occlusion=True))
    assert list(behind.objects.class_ids) == [6, 7]  # the near mug stays whole, the kettle behind it
    assert (behind.instance_mask == 3).sum() == (target.instance_mask == 3).sum()
    over = paste_object(target, source, 0, (161.0, 119.0))  # without the depth test: drawn on top
    assert (over.instance_mask == 3).sum() < (target.instance_mask == 3).sum()


def test_the_blended_look_touches_only_the_mask_and_moves_its_colour_towards_the_scene():
    rng = np.random.default_rng(0)
    target = np.full((60, 80, 3), 40, np.uint8)
    paste = np.full((60, 80, 3), 200, np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[20:40, 30:50] = True
    out = composite(target, paste, mask, LookDraw(light=0.5, edge_px=1.0), rng)
    assert (out[~mask] == 40).all()
    inner = out[25:35, 35:45].astype(float)
    assert 40 < inner.mean() < 200 * 0.6  # relit halfway (in log) towards the scene's 40
    assert out[20, 40].mean() < inner.mean()  # the feathered edge lets the scene through


def test_the_noise_estimate_follows_added_noise():
    rng = np.random.default_rng(1)
    smooth = np.tile(np.linspace(0, 200, 160, dtype=np.float32), (120, 1))[..., None].repeat(3, -1)
    for sigma in (2.0, 8.0):
        noisy = np.clip(smooth + rng.normal(0, sigma, (120, 160, 1)), 0, 255).astype(np.uint8)
        assert abs(noise_sigma(noisy) - sigma) < 0.25 * sigma + 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_a_paste_reprojected_by_its_depth_is_what_the_renderer_draws_far_beyond_the_scale_bound():
    kettle = make_object(GENERATOR_CLASSES.id("kettle"), np.random.default_rng(2))
    source = view(kettle, rotation_about_y(0.7), np.array([0.02, -0.01, 0.45]), K_SOURCE, (96, 128))
    empty = view(kettle, np.eye(3), np.array([0.0, 0.0, -5.0]), K_TARGET, (240, 320), instance_id=9)
    empty.objects = Objects()
    ratio = 1.1 / float(np.linalg.norm(source.objects.translations[0]))
    half = float(np.linalg.norm(kettle.size)) / 2
    assert distance_range(PasteLook(), 0.45, half)[1] < 1.1  # an image scale may not go this far
    holed = source.with_(depth=np.where(np.random.default_rng(3).random((96, 128)) < 0.2, 0, source.depth))
    for src in (source, holed):
        pasted = paste_object(empty, src, 0, (200.0, 110.0), LookDraw(distance_ratio=ratio, reproject=True))
        o = pasted.objects
        np.testing.assert_allclose(np.linalg.norm(o.translations[0]), 1.1)
        truth = view(kettle, o.rotations[0], o.translations[0], K_TARGET, (240, 320))
        drawn, expected = pasted.instance_mask == o.instance_ids[0], truth.instance_mask == 3
        assert _iou(drawn, expected) > 0.93
        both = drawn & expected
        assert np.median(np.abs(pasted.depth[both] - truth.depth[both])) < 0.003
    scaled = paste_object(empty, source, 0, (200.0, 110.0), LookDraw(distance_ratio=ratio))
    reprojected = paste_object(
        empty, source, 0, (200.0, 110.0), LookDraw(distance_ratio=ratio, reproject=True)
    )
    iou = [_iou(p.instance_mask == p.objects.instance_ids[0], expected) for p in (scaled, reprojected)]
    assert iou[1] > iou[0]  # the depth keeps the shape the image scale loses
    mostly_holes = source.with_(
        depth=np.where(np.random.default_rng(4).random((96, 128)) < 0.7, 0, source.depth)
    )
    assert paste_object(empty, mostly_holes, 0, (200.0, 110.0), LookDraw(reproject=True)) is empty
