"""The NOCS protocol: per-class matching by score, AP over threshold grids, mAP.

For every image and class, predictions are sorted by score and matched greedily to
ground truth by 3D IoU at each IoU threshold. Pose APs use only the predictions and
ground truths matched at IoU 0.1, matched again by rotation and translation error.
AP is the all-point interpolated area; mAP the mean over the classes (the model's list;
the six NOCS classes by default).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from seqpose_core.categories import NOCS, Categories
from seqpose_core.evaluation.ap import average_precision
from seqpose_core.evaluation.iou import exact_iou, legacy_iou
from seqpose_core.evaluation.matching import match_iou, match_pose
from seqpose_core.evaluation.results import ImageResult
from seqpose_core.geometry import rotation_error_deg

IOU_MODES = ("legacy", "exact")
UNMATCHED_RULES = ("nan", "zero")
POSE_IOU_THRESHOLD = 0.1
# (name, kind, thresholds): the table of the paper plus the two 2 cm entries.
SUMMARY_METRICS: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("IoU25", "iou", (0.25,)),
    ("IoU50", "iou", (0.50,)),
    ("IoU75", "iou", (0.75,)),
    ("10cm", "pose", (360.0, 10.0)),
    ("10deg", "pose", (10.0, 100.0)),
    ("10deg10cm", "pose", (10.0, 10.0)),
    ("10deg5cm", "pose", (10.0, 5.0)),
    ("5deg5cm", "pose", (5.0, 5.0)),
    ("5deg2cm", "pose", (5.0, 2.0)),
    ("10deg2cm", "pose", (10.0, 2.0)),
)


def _grid(values: Iterable[float]) -> np.ndarray:
    return np.array(list(values), dtype=np.float64)


@dataclass(frozen=True)
class Thresholds:
    """Threshold grids; the last degree and cm entries are the 'any error' sentinels."""

    iou: np.ndarray = field(default_factory=lambda: _grid(i / 100 for i in range(101)))
    deg: np.ndarray = field(default_factory=lambda: _grid([*range(61), 360]))
    cm: np.ndarray = field(default_factory=lambda: _grid([*(i / 2 for i in range(41)), 100]))


@dataclass
class NocsMetrics:
    """APs in [0, 1] for C classes. Row k < C is class k + 1; row C is the mean over classes
    with ground truth.

    iou_aps: (C + 1, T); pose_aps: (C + 1, D, S); num_gt: (C,) ground-truth objects per class;
    names: (C,) the class names.
    """

    iou_mode: str
    thresholds: Thresholds
    iou_aps: np.ndarray
    pose_aps: np.ndarray
    num_gt: np.ndarray
    num_images: int
    names: tuple[str, ...] = NOCS.names[1:]

    def ap(self, kind: str, values: tuple[float, ...]) -> np.ndarray:
        """APs (C + 1,) at one threshold: ``("iou", (0.5,))`` or ``("pose", (deg, cm))``."""
        t = self.thresholds
        if kind == "iou":
            return self.iou_aps[:, _index(t.iou, values[0])]
        return self.pose_aps[:, _index(t.deg, values[0]), _index(t.cm, values[1])]

    def summary(self) -> dict[str, dict[str, float]]:
        """Metric name -> {class name or 'mean': AP in [0, 1] (nan for a class without GT)}."""
        names = [*self.names, "mean"]
        return {
            name: dict(zip(names, map(float, self.ap(kind, values)), strict=True))
            for name, kind, values in SUMMARY_METRICS
        }


def _index(grid: np.ndarray, value: float) -> int:
    hits = np.flatnonzero(np.isclose(grid, value))
    if not len(hits):
        raise KeyError(f"threshold {value} is not on the grid")
    return int(hits[0])


def pose_errors(
    pred_srt: np.ndarray, gt_srt: np.ndarray, symmetric: np.ndarray, legacy: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rotation error (degrees) and translation error (cm) of every pair.

    pred_srt (P, 4, 4), gt_srt (G, 4, 4), symmetric (G,) -> deg (P, G), cm (P, G).
    Symmetric ground truths compare y axes only. ``legacy`` leaves the y-axis cosine
    unclipped as the reference code does (a nan then matches at every threshold).
    """
    deg = rotation_error_deg(pred_srt[:, :3, :3], gt_srt[:, :3, :3], symmetric, clip_y=not legacy)
    cm = np.linalg.norm(pred_srt[:, None, :3, 3] - gt_srt[None, :, :3, 3], axis=-1) * 100
    return deg, cm


@dataclass
class _ClassRecord:
    """What one class accumulates over all images (lists of per-image arrays)."""

    iou_matched: list[np.ndarray] = field(default_factory=list)  # (T, P)
    iou_scores: list[np.ndarray] = field(default_factory=list)
    num_gt: int = 0
    pose_matched: list[np.ndarray] = field(default_factory=list)  # (D, S, P')
    pose_scores: list[np.ndarray] = field(default_factory=list)
    pose_num_gt: int = 0


@dataclass
class _Cell:
    """One class in one image: predictions sorted by score, with their pairwise IoUs."""

    cls: int
    result: ImageResult
    pred: np.ndarray  # indices into result's predictions, by descending score
    gt: np.ndarray
    symmetric: np.ndarray  # (G,)
    iou: np.ndarray | None = None  # (P, G) float32


def _cells(results: list[ImageResult], categories: Categories) -> list[_Cell]:
    cells = []
    for r in results:
        if len(r.gt_class_ids) == 0 and len(r.pred_class_ids) == 0:
            continue
        for cls in range(1, len(categories) + 1):
            pred = np.flatnonzero(r.pred_class_ids == cls)
            pred = pred[np.argsort(r.pred_scores[pred])[::-1]]
            gt = np.flatnonzero(r.gt_class_ids == cls)
            sym = categories.symmetric_about_y(np.full(len(gt), cls), r.gt_handle_visibility[gt] != 0)
            cells.append(_Cell(cls, r, pred, gt, sym))
    return cells


def _fill_ious(cells: list[_Cell], iou_mode: str) -> None:
    """Compute every cell's (P, G) IoU matrix in one batched call."""
    pairs = [(c, np.repeat(c.pred, len(c.gt)), np.tile(c.gt, len(c.pred))) for c in cells]
    srt_p = np.concatenate([c.result.pred_RTs[p] for c, p, _ in pairs] + [np.zeros((0, 4, 4))])
    srt_g = np.concatenate([c.result.gt_RTs[g] for c, _, g in pairs] + [np.zeros((0, 4, 4))])
    sc_p = np.concatenate([c.result.pred_scales[p] for c, p, _ in pairs] + [np.zeros((0, 3))])
    sc_g = np.concatenate([c.result.gt_scales[g] for c, _, g in pairs] + [np.zeros((0, 3))])
    sym = np.concatenate([np.tile(c.symmetric, len(c.pred)) for c in cells] + [np.zeros(0, bool)])
    fn = legacy_iou if iou_mode == "legacy" else exact_iou
    flat = fn(srt_p, srt_g, sc_p, sc_g, sym).astype(np.float32)
    start = 0
    for c in cells:
        n = len(c.pred) * len(c.gt)
        c.iou = flat[start : start + n].reshape(len(c.pred), len(c.gt))
        start += n


def _accumulate(cell: _Cell, rec: _ClassRecord, t: Thresholds, legacy: bool) -> None:
    r = cell.result
    pred_match, gt_match = match_iou(cell.iou, t.iou)
    scores = r.pred_scores[cell.pred]
    rec.iou_matched.append(pred_match >= 0)
    rec.iou_scores.append(scores)
    rec.num_gt += len(cell.gt)
    k = _index(t.iou, POSE_IOU_THRESHOLD)
    p_ok, g_ok = pred_match[k] >= 0, gt_match[k] >= 0
    pred, gt = cell.pred[p_ok], cell.gt[g_ok]
    deg, cm = pose_errors(r.pred_RTs[pred], r.gt_RTs[gt], cell.symmetric[g_ok], legacy)
    pose_pred, _ = match_pose(deg, cm, t.deg, t.cm)
    rec.pose_matched.append(pose_pred >= 0)
    rec.pose_scores.append(scores[p_ok])
    rec.pose_num_gt += len(gt)


def _class_aps(rec: _ClassRecord, t: Thresholds, unmatched: str) -> tuple[np.ndarray, np.ndarray]:
    iou_m = np.concatenate([np.zeros((len(t.iou), 0), bool), *rec.iou_matched], axis=-1)
    iou_s = np.concatenate([np.zeros(0), *rec.iou_scores])
    pose_m = np.concatenate([np.zeros((len(t.deg), len(t.cm), 0), bool), *rec.pose_matched], axis=-1)
    pose_s = np.concatenate([np.zeros(0), *rec.pose_scores])
    pose = average_precision(pose_m, pose_s, int(rec.pose_num_gt))
    if rec.num_gt and not rec.pose_num_gt:  # GT exists but nothing matched at IoU 0.1
        pose = np.full_like(pose, 0.0 if unmatched == "zero" else np.nan)
    return average_precision(iou_m, iou_s, int(rec.num_gt)), pose


def evaluate(
    results: list[ImageResult],
    iou_mode: str = "legacy",
    thresholds: Thresholds | None = None,
    progress: bool = False,
    pose_ap_when_unmatched: str | None = None,
    categories: Categories = NOCS,
) -> NocsMetrics:
    """Run the NOCS protocol on per-image results.

    ``iou_mode``: 'legacy' (the published protocol's IoU) or 'exact' (true oriented-box IoU).
    A class without ground truth has AP nan and is left out of the mean.
    ``pose_ap_when_unmatched``: the pose APs of a class whose ground truth no prediction matched
    at IoU 0.1: 'nan' (the reference code's: the class leaves the pose mean) or 'zero' (it
    counts as a miss). Default: 'nan' in legacy mode, 'zero' in exact mode.
    ``categories``: the class list the ids refer to (a model's; NOCS's by default).
    """
    if iou_mode not in IOU_MODES:
        raise ValueError(f"iou_mode must be one of {IOU_MODES}, got {iou_mode!r}")
    unmatched = pose_ap_when_unmatched or ("nan" if iou_mode == "legacy" else "zero")
    if unmatched not in UNMATCHED_RULES:
        raise ValueError(f"pose_ap_when_unmatched must be one of {UNMATCHED_RULES}, got {unmatched!r}")
    t = thresholds or Thresholds()
    cells = _cells(results, categories)
    n = len(categories)
    _fill_ious(cells, iou_mode)
    records = {cls: _ClassRecord() for cls in range(1, n + 1)}
    for cell in tqdm(cells, desc=f"NOCS matching ({iou_mode})", disable=not progress, unit="cell"):
        _accumulate(cell, records[cell.cls], t, legacy=iou_mode == "legacy")
    iou_aps = np.zeros((n + 1, len(t.iou)))
    pose_aps = np.zeros((n + 1, len(t.deg), len(t.cm)))
    for cls, rec in records.items():
        iou_aps[cls - 1], pose_aps[cls - 1] = _class_aps(rec, t, unmatched)
    with warnings.catch_warnings():  # no class with ground truth: the mean is nan, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        iou_aps[-1] = np.nanmean(iou_aps[:-1], axis=0)
        pose_aps[-1] = np.nanmean(pose_aps[:-1], axis=0)
    num_gt = np.array([records[c].num_gt for c in range(1, n + 1)])
    return NocsMetrics(iou_mode, t, iou_aps, pose_aps, num_gt, len(results), categories.names[1:])
