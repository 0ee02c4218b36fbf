"""#45: the randomized look of the generator, photos as negatives, and the photos' roles."""

import numpy as np
import pytest

from seqpose_core.data import negatives, photos
from seqpose_core.data.nocs_dataset import NocsFrames
from seqpose_core.synth.camera_effects import CameraEffectsConfig, apply_camera_effects
from seqpose_core.synth.randomize import RandomizeConfig
from seqpose_core.synth.scene import DISTRACTOR_CLASS_ID, sample_randomized_scene, sample_scene
from seqpose_core.synth.textures import lookup
from seqpose_core.synth.writer import SynthConfig, generate


def test_photo_roles_are_disjoint_and_no_photo_of_a_class_is_a_training_photo():
    roles = [
        set(photos.TRAINING_PHOTOS),
        set(photos.VALIDATION_NEGATIVES),
        set(photos.EVALUATION_NEGATIVES),
        set(photos.EVALUATION_POSITIVES),
    ]
    assert sum(map(len, roles)) == len(set().union(*roles))  # no photo in two roles
    train, _, _, pos = roles
    assert {"coffee", "camera"} <= pos
    assert "motorcycle_right" not in train  # the stereo partner of an evaluation photo
    with pytest.raises(ValueError, match="'lena'"):
        photos.load_photo("lena")


def test_negative_clips_read_training_photos_only_and_carry_no_target(monkeypatch):
    read = []
    real = photos.load_photo

    def spy(name):
        read.append(name)
        return real(name)

    monkeypatch.setattr(photos, "load_photo", spy)
    k = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
    template = negatives.empty_frame(np.zeros((240, 320, 3), np.uint8), k, "s", 0, 0.0)
    clip = negatives.negative_clip([template.with_(stamp=t / 15) for t in range(3)], np.random.default_rng(4))
    assert read and set(read) <= set(photos.TRAINING_PHOTOS)
    assert [f.stamp for f in clip] == [0, 1 / 15, 2 / 15]
    for f in clip:
        assert f.rgb.shape == (240, 320, 3) and np.array_equal(f.k, k)
        assert len(f.objects) == 0 and not f.class_mask.any() and (f.instance_mask == 255).all()
        assert not f.depth.any() and not f.normals.any()
        assert f.rgb.std() > 5  # a photo, not a blank
    assert len({f.scene for f in clip}) == 1


def test_the_randomized_look_has_varied_distractors_touching_some_objects_and_empty_scenes():
    rng = np.random.default_rng(0)
    touching = 0
    for _ in range(10):
        scene = sample_randomized_scene(rng, cfg=RandomizeConfig(empty_scene_prob=0.0, touch_prob=1.0))
        distractors = [o for o in scene.objects if o.model.class_id == DISTRACTOR_CLASS_ID]
        assert len(distractors) >= 1 and scene.look is not None
        assert set(scene.look.objects) == {i for i, o in enumerate(scene.objects) if o in distractors}
        for d in distractors:
            gaps = [
                np.linalg.norm(d.t[[0, 2]] - o.t[[0, 2]])
                - 0.5 * np.hypot(d.model.size[0], d.model.size[2])
                - 0.5 * np.hypot(o.model.size[0], o.model.size[2])
                for o in scene.objects
                if o is not d
            ]
            touching += min(gaps) < 0.03  # footprints (with their 1 cm margins) meet
    assert touching >= 10
    empty = sample_randomized_scene(rng, cfg=RandomizeConfig(empty_scene_prob=1.0))
    assert empty.objects and all(o.model.class_id == DISTRACTOR_CLASS_ID for o in empty.objects)
    plain = sample_scene(np.random.default_rng(0))
    assert plain.look is None


def test_randomized_data_renders_textured_frames_that_the_reader_loads(tmp_path):
    generate(tmp_path, SynthConfig(train_scenes=2, test_scenes=0, frames=2, height=60, width=80, seed=3))
    frames = NocsFrames(tmp_path, "real_train")
    assert len(frames) == 4
    assert "randomized look" in (tmp_path / "SYNTHETIC.txt").read_text()
    for i in range(len(frames)):
        f = frames[i]
        assert f.rgb.dtype == np.uint8 and f.rgb.std() > 3
    with pytest.raises(ValueError, match="look 'fancy'"):
        SynthConfig(look="fancy")


def test_camera_effects_keep_the_image_in_range_and_change_it():
    rng = np.random.default_rng(1)
    img = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    for _ in range(20):  # every branch: blur (both kinds), JPEG, noise near 0 and 255
        out = apply_camera_effects(img, rng, CameraEffectsConfig(blur_prob=1.0, jpeg_prob=0.5))
        assert out.shape == img.shape and out.dtype == np.uint8
        assert abs(float(out.mean()) - float(img.mean())) < 80  # an exposure, not garbage
        assert np.corrcoef(out[..., 1].ravel(), img[..., 1].ravel())[0, 1] > 0.8


def test_texture_lookup_wraps():
    tex = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    out = lookup(tex, np.array([0.5, 3.2, -0.5]), np.array([0.0, 2.1, 1.0]))
    np.testing.assert_array_equal(out, tex[[0, 0, 1], [0, 0, 2]])


def test_a_frame_with_no_object_writes_a_label_its_reader_loads(tmp_path):
    """Protocol 2 pickles an empty array's data as bytes(): the safe loader must admit it."""
    from seqpose_core.data.nocs_io import read_label, write_label
    from seqpose_core.synth.writer import _label

    write_label(tmp_path / "0000_label.pkl", _label([], None, [], test=True))
    back = read_label(tmp_path / "0000_label.pkl")
    assert back["bboxes"].shape == (0, 4) and back["scales"].shape == (0,)


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_training_items_become_photo_negatives_at_the_configured_rate(tiny_samples, prob):
    samples, cfg = tiny_samples(f"data.negative_prob={prob}")
    for i in range(len(samples)):
        clip = samples[i]
        negative = [f.scene.startswith("photo_") and len(f.objects) == 0 for f in clip]
        assert negative == [prob == 1.0] * len(clip)
        assert clip[0].rgb.shape[:2] == tuple(cfg.model.input_size)  # resized like every item


def test_a_shared_photo_cannot_be_drawn_on():
    photo = photos.load_photo("coffee")
    with pytest.raises(ValueError, match="read-only"):
        photo[0, 0] = 0
