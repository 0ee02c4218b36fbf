import numpy as np
import pytest
import torch

from seqpose_core.categories import class_id, is_symmetric
from seqpose_core.geometry import (
    box_corners,
    pose_to_srt,
    project_points,
    rotation_about_y,
    rotation_error_deg,
    srt_to_pose,
)
from seqpose_core.model.rotation import rot6d_to_matrix as rot6d_to_matrix_torch


def random_rotations(n, seed=0):
    q = np.random.default_rng(seed).normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def rot6d_to_matrix(d6):
    return rot6d_to_matrix_torch(torch.from_numpy(d6)).numpy()


def matrix_to_rot6d(rot):
    """The 6 numbers are the first two columns of R."""
    return np.concatenate([rot[..., :, 0], rot[..., :, 1]], axis=-1)


def test_rot6d_round_trip_and_orthonormalisation():
    rot = random_rotations(50)
    np.testing.assert_allclose(rot6d_to_matrix(matrix_to_rot6d(rot)), rot, atol=1e-12)
    noisy = rot6d_to_matrix(matrix_to_rot6d(rot) * 3.0 + 0.01)
    np.testing.assert_allclose(
        noisy @ np.swapaxes(noisy, 1, 2), np.broadcast_to(np.eye(3), (50, 3, 3)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(noisy), 1.0)


def test_srt_round_trip_keeps_metric_pose():
    rot, t = random_rotations(5, 1), np.random.default_rng(2).normal(size=(5, 3))
    size = np.random.default_rng(3).uniform(0.05, 0.4, (5, 3))
    srt, scales = pose_to_srt(rot, t, size)
    np.testing.assert_allclose(np.linalg.norm(scales, axis=1), 1.0)
    np.testing.assert_allclose(np.cbrt(np.linalg.det(srt[:, :3, :3])), np.linalg.norm(size, axis=1))
    r2, t2, s2 = srt_to_pose(srt, scales)
    np.testing.assert_allclose(r2, rot, atol=1e-12)
    np.testing.assert_allclose(t2, t)
    np.testing.assert_allclose(s2, size)


def test_projection_of_a_known_point():
    k = np.array([[600.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    np.testing.assert_allclose(project_points(k, np.array([0.1, -0.2, 2.0])), [350.0, 190.0])


def test_box_corners_span_the_size():
    c = box_corners(np.array([0.2, 0.1, 0.4]))
    np.testing.assert_allclose(c.max(0) - c.min(0), [0.2, 0.1, 0.4])
    np.testing.assert_allclose(c[0], [0.1, 0.05, 0.2])


def test_rotation_about_y_is_symmetric_only_for_symmetric_classes():
    turn = rotation_about_y(np.radians(30.0))
    base = random_rotations(1, 4)[0]
    pred, gt = (base @ turn)[None], np.stack([base, base])
    sym = np.array([is_symmetric(class_id("bottle")), is_symmetric(class_id("camera"))])
    np.testing.assert_allclose(rotation_error_deg(pred, gt, sym), [[0.0, 30.0]], atol=1e-5)
    np.testing.assert_allclose(rotation_error_deg(2.0 * pred, gt, sym), [[0.0, 30.0]], atol=1e-5)  # scale


def test_mug_symmetry_follows_handle_visibility():
    assert is_symmetric(class_id("mug"), handle_visible=False)
    assert not is_symmetric(class_id("mug"), handle_visible=True)
    assert is_symmetric(class_id("can"), handle_visible=True)
    with pytest.raises(ValueError, match="unknown class 'cup'"):
        class_id("cup")


def test_quaternion_round_trip_in_ros_order():
    from seqpose_core.geometry import matrix_to_quaternion, quaternion_to_matrix

    rot = random_rotations(200, 7)
    rot[0] = np.diag([1.0, -1.0, -1.0])  # 180 degrees about x: the trace < 0 branch
    for r in rot:
        q = matrix_to_quaternion(r)
        assert q[3] >= 0 and np.linalg.norm(q) == pytest.approx(1.0)
        np.testing.assert_allclose(quaternion_to_matrix(q), r, atol=1e-10)
    np.testing.assert_allclose(
        matrix_to_quaternion(rotation_about_y(np.pi / 2)), [0, np.sqrt(0.5), 0, np.sqrt(0.5)]
    )
