"""Tracking metrics of published boxes against ground-truth objects, with py-motmetrics.

Per scene, each frame's published boxes are matched to the visible objects by centre
distance (at most ``max_distance``; motmetrics' Hungarian matching keeps earlier matches),
and motmetrics counts MOTA, IDF1, ID switches and fragmentations. Added here: published
boxes per visible object, and distinct track ids per ground-truth object per scene (1 is
ideal). Untracked estimates (single-frame mode) give only the boxes per object.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import motmetrics as mm
import numpy as np

from seqpose_core.data.frame import Objects
from seqpose_core.estimates import UNTRACKED, PoseEstimate

MOT_METRICS = ("mota", "idf1", "num_switches", "num_fragmentations", "num_objects")


@dataclass
class TrackFrame:
    """One frame: ground-truth instance ids, classes (N,) and centres (N, 3); published track
    ids, classes (M,) and centres (M, 3)."""

    scene: str
    gt_ids: np.ndarray
    gt_classes: np.ndarray
    gt_centres: np.ndarray
    track_ids: np.ndarray
    classes: np.ndarray
    centres: np.ndarray


def track_frame(scene: str, objects: Objects, estimates: list[PoseEstimate]) -> TrackFrame:
    centres = np.array([e.translation for e in estimates], dtype=np.float64).reshape(-1, 3)
    ids = np.array([e.track_id for e in estimates], dtype=np.int64)
    classes = np.array([e.class_id for e in estimates], dtype=np.int64)
    gt = (np.asarray(objects.instance_ids), np.asarray(objects.class_ids), np.asarray(objects.translations))
    return TrackFrame(scene, *gt, ids, classes, centres)


def class_accuracy(frames: list[TrackFrame], max_distance: float, classes: list[int] | None = None) -> float:
    """Of the published boxes within max_distance of an object, the share that carry the class
    of the nearest one; ``classes``: only boxes whose nearest object is of these class ids."""
    right = near = 0
    for f in frames:
        if not len(f.gt_ids) or not len(f.track_ids):
            continue
        d = np.linalg.norm(f.centres[:, None] - f.gt_centres[None], axis=-1)  # (M, N)
        nearest = d.argmin(1)
        close = d[np.arange(len(nearest)), nearest] <= max_distance
        if classes is not None:
            close &= np.isin(f.gt_classes[nearest], classes)
        near += int(close.sum())
        right += int((f.classes[close] == f.gt_classes[nearest[close]]).sum())
    return right / near if near else float("nan")


def _distances(f: TrackFrame, max_distance: float) -> np.ndarray:
    d = np.linalg.norm(f.gt_centres[:, None] - f.centres[None], axis=-1)
    return np.where(d <= max_distance, d, np.nan)


def tracking_metrics(frames: list[TrackFrame], max_distance: float = 0.10) -> dict[str, float]:
    """Frames in time order, scene by scene -> boxes_per_object, class_accuracy and, when every
    estimate is tracked: mota, idf1, id_switches, fragmentations, id_switches_per_100 (per 100 ground-truth
    object-frames), ids_per_object."""
    objects = sum(len(f.gt_ids) for f in frames)
    out = {
        "boxes_per_object": sum(len(f.track_ids) for f in frames) / max(objects, 1),
        "class_accuracy": class_accuracy(frames, max_distance),
        "gt_frames": objects,
    }
    if not frames or any((f.track_ids == UNTRACKED).any() for f in frames):
        return out
    accs: dict[str, mm.MOTAccumulator] = {}
    for f in frames:
        acc = accs.setdefault(f.scene, mm.MOTAccumulator(auto_id=True))
        acc.update(f.gt_ids.tolist(), f.track_ids.tolist(), _distances(f, max_distance))
    summary = mm.metrics.create().compute_many(
        list(accs.values()), metrics=list(MOT_METRICS), names=list(accs), generate_overall=True
    )
    overall = summary.loc["OVERALL"]
    switches = int(overall["num_switches"])
    out.update(
        mota=float(overall["mota"]),
        idf1=float(overall["idf1"]),
        id_switches=switches,
        fragmentations=int(overall["num_fragmentations"]),
        id_switches_per_100=100.0 * switches / max(int(overall["num_objects"]), 1),
        ids_per_object=_ids_per_object(accs),
    )
    return out


def _ids_per_object(accs: dict[str, mm.MOTAccumulator]) -> float:
    """Mean over (scene, object) matched at least once of the distinct track ids it was matched to."""
    ids: dict[tuple[str, object], set] = defaultdict(set)
    for scene, acc in accs.items():
        events = acc.mot_events
        matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
        for oid, hid in zip(matched["OId"], matched["HId"], strict=True):
            ids[(scene, oid)].add(hid)
    return float(np.mean([len(v) for v in ids.values()])) if ids else float("nan")
