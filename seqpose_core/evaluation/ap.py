"""Average precision as the all-point interpolated area under the precision-recall curve (VOC)."""

from __future__ import annotations

import numpy as np


def average_precision(matched: np.ndarray, scores: np.ndarray, num_gt: int) -> np.ndarray:
    """AP of detections at many thresholds at once.

    matched: (..., N) bool, whether each detection is a true positive at each threshold;
    scores: (N,) shared by all thresholds; num_gt: ground-truth count (recall's denominator).
    Returns (...). With no ground truth the AP is nan (undefined), as in the reference code.
    The arithmetic follows the reference code step for step (recall in float32, the
    precision envelope, the sum over recall changes), so results agree to the last bit.
    """
    order = np.argsort(scores)[::-1]
    tp = np.cumsum(matched[..., order], axis=-1)
    lead = matched.shape[:-1]
    if num_gt == 0:
        return np.full(lead, np.nan)
    precision = tp / (np.arange(tp.shape[-1]) + 1)
    recall = tp.astype(np.float32) / num_gt
    zeros, ones = np.zeros((*lead, 1)), np.ones((*lead, 1))
    precision = np.concatenate([zeros, precision, zeros], axis=-1)
    recall = np.concatenate([zeros, recall, ones], axis=-1)
    precision = np.flip(np.maximum.accumulate(np.flip(precision, -1), axis=-1), -1)
    flat_p, flat_r = precision.reshape(-1, precision.shape[-1]), recall.reshape(-1, recall.shape[-1])
    out = np.empty(flat_p.shape[0])
    for k, (p, r) in enumerate(zip(flat_p, flat_r, strict=True)):
        idx = np.flatnonzero(r[:-1] != r[1:]) + 1
        out[k] = np.sum((r[idx] - r[idx - 1]) * p[idx])
    return out.reshape(lead)
