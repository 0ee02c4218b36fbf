"""Greedy NOCS matching of one class in one image, vectorised over thresholds.

Predictions must come sorted by descending score. Each prediction in turn takes the
best ground truth still free at that threshold, as the reference protocol does.
"""

from __future__ import annotations

import numpy as np


def match_iou(iou: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match by 3D IoU at every threshold.

    A prediction takes the free ground truth of highest IoU if that IoU is strictly
    above the threshold (the reference code's rule: the first free one in IoU order
    decides). A nan IoU (the legacy IoU of a degenerate box) is passed over, as the
    reference code's comparisons do.

    iou: (P, G); thresholds: (T,) -> pred_match (T, P), gt_match (T, G): indices or -1.
    """
    n_pred, n_gt = iou.shape
    pred_match = -np.ones((len(thresholds), n_pred), dtype=np.int64)
    gt_match = -np.ones((len(thresholds), n_gt), dtype=np.int64)
    if n_pred == 0 or n_gt == 0:
        return pred_match, gt_match
    rows = np.arange(len(thresholds))
    for i in range(n_pred):
        order = np.argsort(iou[i])[::-1]
        free = (gt_match[:, order] < 0) & ~np.isnan(iou[i][order])  # (T, G) in IoU order
        first = np.argmax(free, axis=1)
        j = order[first]
        ok = free[rows, first] & (np.float64(iou[i])[j] > thresholds)
        gt_match[rows[ok], j[ok]] = i
        pred_match[rows[ok], i] = j[ok]
    return pred_match, gt_match


def match_pose(
    deg: np.ndarray, cm: np.ndarray, deg_thresholds: np.ndarray, cm_thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Match by rotation and translation error at every (degree, cm) threshold pair.

    A prediction takes the free ground truth of smallest ``deg + cm`` among those within
    both thresholds. A nan error compares false, so it never disqualifies (the
    reference code's behaviour, kept for the legacy protocol).

    deg, cm: (P, G); deg_thresholds (D,), cm_thresholds (S,)
    -> pred_match (D, S, P), gt_match (D, S, G): indices or -1.
    """
    n_pred, n_gt = deg.shape
    shape = (len(deg_thresholds), len(cm_thresholds))
    pred_match = -np.ones((*shape, n_pred), dtype=np.int64)
    gt_match = -np.ones((*shape, n_gt), dtype=np.int64)
    if n_pred == 0 or n_gt == 0:
        return pred_match, gt_match
    d_idx, s_idx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    for i in range(n_pred):
        order = np.argsort(deg[i] + cm[i])
        too_far = (deg[i][order] > deg_thresholds[:, None, None]) | (
            cm[i][order] > cm_thresholds[None, :, None]
        )
        ok_all = (gt_match[..., order] < 0) & ~too_far  # (D, S, G) in error order
        first = np.argmax(ok_all, axis=-1)
        ok = np.take_along_axis(ok_all, first[..., None], -1)[..., 0]
        j = order[first]
        gt_match[d_idx[ok], s_idx[ok], j[ok]] = i
        pred_match[d_idx[ok], s_idx[ok], i] = j[ok]
    return pred_match, gt_match
