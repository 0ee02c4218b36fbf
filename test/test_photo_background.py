"""#45: rendered objects in front of training-side photos (seqpose_core/data/photo_background.py)."""

from pathlib import Path

import numpy as np
import pytest

from seqpose_core.data import photos
from seqpose_core.data.frame import Frame, Objects
from seqpose_core.data.negatives import photo_crops
from seqpose_core.data.photo_background import photo_background_clip

K = np.array([[200.0, 0, 80], [0, 200.0, 60], [0, 0, 1]])


def _frame(with_object: bool, stamp: float) -> Frame:
    h, w = 120, 160
    class_mask = np.zeros((h, w), np.uint8)
    instance = np.full((h, w), 255, np.uint8)
    objects = Objects()
    if with_object:
        class_mask[40:80, 60:110], instance[40:80, 60:110] = 5, 1
        objects = Objects(
            class_ids=np.array([5]),
            instance_ids=np.array([1]),
            rotations=np.eye(3)[None],
            translations=np.array([[0.0, 0.0, 0.6]]),
            sizes=np.array([[0.1, 0.1, 0.1]]),
        )
    rgb = np.full((h, w, 3), 128, np.uint8)
    rgb[40:80, 60:110] = (200, 30, 30)
    return Frame(
        rgb=rgb,
        k=K,
        depth=np.full((h, w), 0.8, np.float32),
        normals=np.tile(np.array([0, 0, -1], np.float32), (h, w, 1)),
        class_mask=class_mask,
        instance_mask=instance,
        objects=objects,
        stamp=stamp,
    )


def test_objects_keep_labels_and_depth_while_everything_else_becomes_the_photo():
    clip = [_frame(True, t / 15) for t in range(3)]
    out = photo_background_clip(clip, np.random.default_rng(7))
    expected, _ = photo_crops((120, 160), 3, np.random.default_rng(7))  # the same first draws
    for before, after, photo in zip(clip, out, expected, strict=True):
        off = before.class_mask == 0
        assert np.array_equal(after.rgb[off], photo[off])  # no rendered background pixel is left
        assert not after.depth[off].any() and not after.normals[off].any()  # unknown, not the table's
        assert np.array_equal(after.depth[~off], before.depth[~off])
        assert np.array_equal(after.class_mask, before.class_mask)
        assert np.array_equal(after.instance_mask, before.instance_mask)
        assert after.objects is before.objects and after.stamp == before.stamp
        inner = after.rgb[50:70, 70:100].reshape(-1, 3).mean(0)
        assert inner[0] > inner[1] + 60  # the object itself is still drawn (red)


def test_a_clip_without_objects_is_left_as_rendered_and_a_frame_without_one_is_all_photo():
    empty = [_frame(False, 0.0), _frame(False, 0.1)]
    assert photo_background_clip(empty, np.random.default_rng(0)) is empty
    mixed = photo_background_clip([_frame(True, 0.0), _frame(False, 0.1)], np.random.default_rng(1))
    assert not mixed[1].depth.any() and len(mixed[1].objects) == 0
    assert not np.array_equal(mixed[1].rgb, _frame(False, 0.1).rgb)


def test_backgrounds_read_training_photos_only(monkeypatch):
    read = []
    real = photos.load_photo
    monkeypatch.setattr(photos, "load_photo", lambda name: read.append(name) or real(name))
    photo_background_clip([_frame(True, 0.0)], np.random.default_rng(2))
    assert read and set(read) <= set(photos.TRAINING_PHOTOS)


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_training_items_get_photo_backgrounds_at_the_configured_rate(tiny_samples, prob):
    samples, _ = tiny_samples(f"data.photo_background_prob={prob}")
    for i in range(len(samples)):
        for frame in samples[i]:
            if frame.class_mask.any():
                off = frame.class_mask == 0
                assert (frame.depth[off] == 0).mean() == pytest.approx(float(prob == 1.0), abs=0.05)


def test_the_rate_is_checked():
    from training.config import load_config

    config = Path(__file__).resolve().parents[1] / "training" / "configs" / "synthetic_tiny.yaml"
    with pytest.raises(ValueError, match="photo_background_prob"):
        load_config(config, ["data.photo_background_prob=1.5"])
