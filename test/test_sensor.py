"""#47: a real wrist camera's faults in the generated robot recordings (seqpose_core/synth/sensor.py)."""

import numpy as np

from seqpose_core.geometry import rotation_error_deg
from seqpose_core.synth.orbit import WRIST_TO_OPTICAL, make_recording
from seqpose_core.synth.sensor import REALISTIC, SensorConfig, depth_faults


def error(z, cfg=REALISTIC, seed=0):
    true = np.full((120, 160), z, np.float32)
    faulty = depth_faults(true, np.random.default_rng(seed), cfg)
    return faulty, faulty[faulty > 0] - z


def test_depth_noise_grows_with_the_square_of_the_distance_and_is_quantised():
    _, near = error(1.0)
    far_img, far = error(2.0)
    ratio = far.std() / near.std()
    assert 3.0 < ratio < 5.0, ratio  # 4 for the noise alone; the bias and the millimetre steps add
    np.testing.assert_allclose(far_img[far_img > 0] * 1000, np.round(far_img[far_img > 0] * 1000), atol=1e-3)
    calm = SensorConfig(axial_noise=0.0, hole_share=0.0)
    _, bias = error(1.0, calm)
    assert 0.0005 < np.abs(bias).max() <= REALISTIC.bias_m + 0.0006  # the bias alone, millimetre steps


def test_holes_take_their_share_and_depth_edges_lose_their_pixels():
    faulty, _ = error(1.0)
    assert 0.02 < (faulty == 0).mean() < 0.05
    step = np.full((60, 80), 0.6, np.float32)
    step[:, 40:] = 1.2
    out = depth_faults(step, np.random.default_rng(1), SensorConfig(hole_share=0.0, misregistration_px=0))
    assert (out[:, 39:41] == 0).all() and (out[:, 10:30] > 0).all()


def test_a_realistic_recording_has_the_hand_eye_error_on_tf_and_the_ideal_one_none():
    ideal = make_recording(6, np.random.default_rng(3), 4, (48, 64))
    real = make_recording(6, np.random.default_rng(3), 4, (48, 64), REALISTIC)
    np.testing.assert_array_equal(ideal.object_mask, real.object_mask)  # the same scene and orbit
    assert real.tf_offset_s == REALISTIC.time_offset_s and ideal.tf_offset_s == 0.0
    off = np.linalg.norm(real.cam_to_base[:, :3, 3] - ideal.cam_to_base[:, :3, 3], axis=1)
    assert ((off > 0.002) & (off < 0.0045)).all(), off  # 3 mm, and half a millimetre of joint noise
    deg = rotation_error_deg(real.cam_to_base[:, :3, :3], ideal.cam_to_base[:, :3, :3], np.zeros(4, bool))
    assert (np.diag(deg) > 0.5).all() and (np.diag(deg) < 0.9).all()
    assert not np.array_equal(real.depth, ideal.depth) and not np.array_equal(real.rgb, ideal.rgb)
    np.testing.assert_allclose(ideal.wrist_to_base @ WRIST_TO_OPTICAL, ideal.cam_to_base)


def test_the_image_motion_and_its_blur_follow_the_cameras_move():
    from seqpose_core.synth.sensor import image_motion, motion_blur

    k = np.array([[100.0, 0, 40], [0, 100.0, 30], [0, 0, 1]])
    depth = np.full((60, 80), 1.0, np.float32)
    moved = np.eye(4)
    moved[0, 3] = 0.05  # 5 cm to the camera's right: the scene moves 5 px to the left
    np.testing.assert_allclose(image_motion(depth, k, np.eye(4), moved), [-5.0, 0.0], atol=1e-6)
    dot = np.zeros((60, 80, 3), np.uint8)
    dot[30, 40] = 255
    smeared = motion_blur(dot, np.array([-5.0, 0.0]))[..., 0]
    rows, cols = np.nonzero(smeared)
    assert set(rows) == {30} and 4 <= cols.max() - cols.min() <= 6  # a 5 px line, along u only
    assert motion_blur(dot, np.array([0.3, 0.2])) is dot  # under a pixel: left alone


def test_the_misregistration_is_one_shift_for_the_whole_recording():
    only = SensorConfig(
        axial_noise=0.0, bias_m=0.0, hole_share=0.0, edge_jump_m=9.0, quantisation_m=1e-9, exposure_s=0.0
    )
    ideal = make_recording(6, np.random.default_rng(4), 5, (48, 64))
    real = make_recording(6, np.random.default_rng(4), 5, (48, 64), only)
    shifts = set()
    for a, b in zip(ideal.depth, real.depth, strict=True):
        found = [
            s
            for s in [(r, c) for r in (-1, 1) for c in (-1, 1)]
            if np.allclose(np.roll(a, s, (0, 1)), b, atol=1e-6)
        ]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) == 1
