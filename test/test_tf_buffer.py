"""The pip environment's TF tree (seqpose_ros.node.tf_buffer): chains, interpolation, no extrapolation."""

import threading
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from seqpose_ros.node.tf_buffer import StampedTransform, TransformBuffer, TransformUnavailable


def rigid(rotvec: tuple[float, float, float], t: tuple[float, float, float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = Rotation.from_rotvec(rotvec).as_matrix(), t
    return m


ODOM_BASE = {0.0: rigid((0, 0, 0), (0, 0, 0)), 1.0: rigid((0, 0, 0.4), (1.0, 0.2, 0))}
BASE_CAM = rigid((-np.pi / 2, 0, -np.pi / 2), (0.1, 0.0, 0.5))  # an optical frame on the base


def tree() -> TransformBuffer:
    buf = TransformBuffer()
    for stamp, m in ODOM_BASE.items():
        buf.add(StampedTransform("odom", "base_link", stamp, m))
    buf.add(StampedTransform("base_link", "cam_optical", 0.0, BASE_CAM), static=True)
    buf.add(StampedTransform("odom", "marker", 0.5, rigid((0, 0, 0), (3, 0, 0))), static=True)
    return buf


def test_a_chain_multiplies_the_transforms_and_inverts_towards_the_target():
    buf = tree()
    np.testing.assert_allclose(buf.lookup("odom", "cam_optical", 1.0), ODOM_BASE[1.0] @ BASE_CAM, atol=1e-12)
    np.testing.assert_allclose(
        buf.lookup("cam_optical", "odom", 1.0), np.linalg.inv(ODOM_BASE[1.0] @ BASE_CAM), atol=1e-12
    )
    # across branches: the common ancestor is odom
    expected = np.linalg.inv(rigid((0, 0, 0), (3, 0, 0))) @ ODOM_BASE[1.0] @ BASE_CAM
    np.testing.assert_allclose(buf.lookup("marker", "cam_optical", 1.0), expected, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("cam_optical", "cam_optical", 7.0), np.eye(4))


def test_between_samples_translation_is_linear_and_rotation_slerped():
    m = tree().lookup("odom", "base_link", 0.25)
    np.testing.assert_allclose(m[:3, 3], [0.25, 0.05, 0.0], atol=1e-12)
    np.testing.assert_allclose(Rotation.from_matrix(m[:3, :3]).as_rotvec(), [0, 0, 0.1], atol=1e-12)


def test_no_extrapolation_and_unknown_frames_are_named():
    buf = tree()
    with pytest.raises(TransformUnavailable, match=r"'odom' -> 'base_link' is known from 0.000 .. 1.000 s"):
        buf.lookup("odom", "cam_optical", 1.5)
    with pytest.raises(TransformUnavailable, match=r"'world' and 'cam_optical' are not connected"):
        buf.lookup("world", "cam_optical", 0.5)


def test_wait_for_returns_once_the_transform_arrives_and_old_frames_are_forgotten():
    buf = TransformBuffer(cache_seconds=2.0)
    buf.add(StampedTransform("odom", "cam", 0.0, np.eye(4)))
    buf.add(StampedTransform("cam", "seqpose/mug_1", 0.0, np.eye(4)))
    later = rigid((0, 0, 0), (0, 0, 1))
    threading.Timer(0.1, lambda: buf.add(StampedTransform("odom", "cam", 1.0, later))).start()
    start = time.monotonic()
    np.testing.assert_allclose(buf.wait_for("odom", "cam", 1.0, timeout=5.0), later)
    assert time.monotonic() - start < 4.0
    with pytest.raises(TransformUnavailable):
        buf.wait_for("odom", "cam", 2.0, timeout=0.05)
    for stamp in (2.5, 3.0):  # the object's frame was last seen at 0 s: dropped after 2 s
        buf.add(StampedTransform("odom", "cam", stamp, later))
    with pytest.raises(TransformUnavailable, match="not connected"):
        buf.lookup("odom", "seqpose/mug_1", 3.0)
    with pytest.raises(TransformUnavailable, match=r"known from 1\.000"):  # samples beyond the cache go
        buf.lookup("odom", "cam", 0.5)
