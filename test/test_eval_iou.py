"""3D IoU in both modes against answers computed by hand."""

import numpy as np
import pytest

from seqpose_core.evaluation.iou import exact_iou, legacy_iou
from seqpose_core.geometry import pose_to_srt, rotation_about_y


def boxes(rot, t, size):
    return pose_to_srt(
        np.asarray(rot, float)[None], np.asarray(t, float)[None], np.asarray(size, float)[None]
    )


def iou(mode, a, b, symmetric=False):
    fn = legacy_iou if mode == "legacy" else exact_iou
    return float(fn(a[0], b[0], a[1], b[1], np.array([symmetric]))[0])


GENERIC = np.array([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])


@pytest.mark.parametrize("mode", ["legacy", "exact"])
def test_identical_boxes_have_iou_one(mode):
    a = boxes(GENERIC, [0.1, -0.05, 0.8], [0.1, 0.2, 0.15])
    assert iou(mode, a, a) == pytest.approx(1.0)


def test_exact_iou_of_shifted_box():
    a = boxes(np.eye(3), [0, 0, 1.0], [0.2, 0.1, 0.1])
    b = boxes(np.eye(3), [0.05, 0, 1.0], [0.2, 0.1, 0.1])
    # overlap 0.15 x 0.1 x 0.1 = 0.0015; union 2 * 0.002 - 0.0015 = 0.0025
    assert iou("exact", a, b) == pytest.approx(0.6)


def test_exact_iou_is_invariant_to_a_common_rigid_motion():
    a = boxes(GENERIC, [0, 0, 1.0], [0.2, 0.1, 0.1])
    b = boxes(GENERIC @ rotation_about_y(0.3), [0.03, 0.01, 1.02], [0.15, 0.12, 0.1])
    motion = np.eye(4)
    motion[:3, :3], motion[:3, 3] = [[0, -1.0, 0], [1, 0, 0], [0, 0, 1]], [0.5, -0.2, 0.3]
    moved_a, moved_b = (motion @ a[0], a[1]), (motion @ b[0], b[1])
    assert 0.1 < iou("exact", a, b) < 0.9
    assert iou("exact", moved_a, moved_b) == pytest.approx(iou("exact", a, b))


def test_exact_iou_of_box_turned_45_degrees_in_itself():
    a = boxes(np.eye(3), [0, 0, 1.0], [1.0, 1.0, 1.0])
    b = boxes(rotation_about_y(np.pi / 4), [0, 0, 1.0], [1.0, 1.0, 1.0])
    octagon = 2 * (np.sqrt(2) - 1)  # area shared by a unit square and itself turned 45 degrees
    assert iou("exact", a, b) == pytest.approx(octagon / (2 - octagon))


def test_exact_iou_of_touching_and_contained_boxes():
    a = boxes(np.eye(3), [0, 0, 1.0], [1.0, 1.0, 1.0])
    assert iou("exact", a, boxes(np.eye(3), [1.0, 0, 1.0], [1.0, 1.0, 1.0])) == pytest.approx(0.0, abs=1e-12)
    assert iou("exact", a, boxes(np.eye(3), [0, 0, 1.0], [0.5, 0.5, 0.5])) == pytest.approx(0.125)
    assert iou("exact", a, boxes(np.eye(3), [5.0, 0, 1.0], [1.0, 1.0, 1.0])) == 0.0


def test_legacy_iou_takes_min_max_over_each_corner_like_the_reference():
    # Cube of side 2 at z = 10 and the same cube 1 m further. Per corner the reference
    # code takes max = z and min = min(x, y), so its "IoU" is a ratio of 8 such extents.
    a = boxes(np.eye(3), [0, 0, 10.0], [2.0, 2.0, 2.0])
    b = boxes(np.eye(3), [0, 0, 11.0], [2.0, 2.0, 2.0])
    by_hand = (10 * 8 * 12 * 10 * 12 * 10 * 12 * 10) / (11 * 9 * 13 * 11 * 13 * 11 * 13 * 11)
    assert iou("legacy", a, b) == pytest.approx(by_hand)
    assert iou("exact", a, b) == pytest.approx(1 / 3)


@pytest.mark.parametrize("mode", ["legacy", "exact"])
def test_symmetric_search_finds_a_box_turned_about_y(mode):
    a = boxes(GENERIC, [0.1, 0, 0.9], [0.08, 0.2, 0.12])
    turned = boxes(GENERIC @ rotation_about_y(np.radians(90)), [0.1, 0, 0.9], [0.08, 0.2, 0.12])
    assert iou(mode, turned, a, symmetric=True) == pytest.approx(1.0)
    assert iou(mode, turned, a, symmetric=False) < 0.8


def test_exact_iou_agrees_with_monte_carlo_on_random_overlapping_boxes():
    rng = np.random.default_rng(5)
    for k in range(4):
        rot_a, rot_b = (GENERIC @ rotation_about_y(rng.uniform(0, 6)) for _ in range(2))
        rot_b = rotation_about_y(0.4 * k) @ rot_b.T
        t_a, t_b = rng.normal(0, 0.03, 3), rng.normal(0, 0.03, 3)
        s_a, s_b = rng.uniform(0.08, 0.2, 3), rng.uniform(0.08, 0.2, 3)
        pts = rng.uniform(-0.25, 0.25, (400_000, 3))
        in_a = np.all(np.abs((pts - t_a) @ rot_a) <= s_a / 2, axis=1)
        in_b = np.all(np.abs((pts - t_b) @ rot_b) <= s_b / 2, axis=1)
        sampled = (in_a & in_b).sum() / (in_a | in_b).sum()
        assert iou("exact", boxes(rot_a, t_a, s_a), boxes(rot_b, t_b, s_b)) == pytest.approx(
            sampled, abs=0.01
        )
