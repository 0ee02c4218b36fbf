"""Frame-to-frame jitter of pose estimates along videos.

For every ground-truth object seen in two consecutive frames, take the same-class
prediction nearest to it (within ``max_cm``) in each frame; jitter is how much the
prediction's error changes between the frames: |(pred_t - gt_t) - (pred_t-1 - gt_t-1)|
for translation (cm) and the angle of the error rotations' difference (degrees, y axis
only for symmetric objects). Lower is steadier; a constant bias has no jitter.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from seqpose_core.categories import is_symmetric
from seqpose_core.evaluation.results import ImageResult
from seqpose_core.geometry import rotation_error_deg, srt_to_pose


def _closest(class_ids: np.ndarray, rts: np.ndarray, cls: int, t: np.ndarray, max_cm: float) -> int | None:
    """Index of the entry of class ``cls`` nearest to ``t`` (metres), if within ``max_cm``."""
    same = np.flatnonzero(class_ids == cls)
    if not len(same):
        return None
    d = np.linalg.norm(rts[same, :3, 3] - t, axis=1) * 100
    return int(same[np.argmin(d)]) if d.min() <= max_cm else None


def _nearest(r: ImageResult, gt: int, max_cm: float) -> int | None:
    return _closest(r.pred_class_ids, r.pred_RTs, r.gt_class_ids[gt], r.gt_RTs[gt, :3, 3], max_cm)


def _same_object(prev: ImageResult, cur: ImageResult, g: int, max_cm: float = 5.0) -> int | None:
    return _closest(prev.gt_class_ids, prev.gt_RTs, cur.gt_class_ids[g], cur.gt_RTs[g, :3, 3], max_cm)


def _errors(r: ImageResult, gt: int, pred: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rp, tp, _ = srt_to_pose(r.pred_RTs[pred], r.pred_scales[pred])
    rg, tg, _ = srt_to_pose(r.gt_RTs[gt], r.gt_scales[gt])
    return tp - tg, rp, rg


def pose_jitter(results: list[ImageResult], max_cm: float = 10.0) -> dict[str, float]:
    """Mean translation (cm) and rotation (deg) jitter over consecutive frames of each scene.

    ``results`` in time order; frames of one scene share the folder part of ``image_path``;
    a GT object is followed to the previous frame's GT of its class nearest to it (within 5 cm).
    """
    dt, dr = [], []
    for prev, cur in pairwise(results):
        if prev.image_path.rsplit("/", 1)[0] != cur.image_path.rsplit("/", 1)[0]:
            continue
        for g in range(len(cur.gt_class_ids)):
            g_prev = _same_object(prev, cur, g)
            if g_prev is None:
                continue
            p0, p1 = _nearest(prev, g_prev, max_cm), _nearest(cur, g, max_cm)
            if p0 is None or p1 is None:
                continue
            e0, r0, g0 = _errors(prev, g_prev, p0)
            e1, r1, g1 = _errors(cur, g, p1)
            dt.append(100 * np.linalg.norm(e1 - e0))
            sym = is_symmetric(int(cur.gt_class_ids[g]), bool(cur.gt_handle_visibility[g]))
            # change of the error rotation between frames: (R1 G1^T) vs (R0 G0^T)
            dr.append(float(rotation_error_deg((r1 @ g1.T @ g0)[None], r0[None], np.array([sym]))[0, 0]))
    return {
        "translation_cm": float(np.mean(dt)) if dt else float("nan"),
        "rotation_deg": float(np.mean(dr)) if dr else float("nan"),
        "pairs": len(dt),
    }
