"""The replay report (ROS-free): per-frame records of a replay, their NOCS metrics, tracking
metrics, latency statistics and annotated frames (predictions red, ground truth green).
Offline replay (``seqpose_ros.bags.replay``) and live replay (``seqpose_ros.bags.live``) both write it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from seqpose_core.categories import NOCS, Categories
from seqpose_core.data.frame import Objects
from seqpose_core.estimates import PoseEstimate
from seqpose_core.evaluation.jitter import pose_jitter
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import result_from_estimates
from seqpose_core.evaluation.report import write_report
from seqpose_core.evaluation.results import ImageResult
from seqpose_core.evaluation.tracking import track_frame, tracking_metrics
from seqpose_core.visualize import GT_COLOUR, draw_box, draw_estimates, tile
from seqpose_ros.bags.bag import BagFrame, read_camera_bag


@dataclass
class FrameRecord:
    stamp: float
    estimates: list[PoseEstimate]
    gt: Objects | None
    latency: float  # seconds: Predictor step (offline) or image publish -> detections received (live)


@dataclass
class Replay:
    mode: str
    records: list[FrameRecord]
    frames_in_bag: int
    dropped: int = 0
    notes: list[str] = field(default_factory=list)


def to_results(records: list[FrameRecord], name: str) -> list[ImageResult]:
    return [
        result_from_estimates(r.gt, r.estimates, f"{name}/{i:05d}")
        for i, r in enumerate(records)
        if r.gt is not None
    ]


def annotate(frame: BagFrame, record: FrameRecord) -> np.ndarray:
    img = frame.rgb.copy()
    if frame.gt is not None:
        for i in range(len(frame.gt)):
            g = frame.gt
            draw_box(img, frame.k, g.rotations[i], g.translations[i], g.sizes[i], GT_COLOUR)
    return draw_estimates(img, frame.k, record.estimates)


def write_annotated(bag: Path, replay: Replay, out: Path, every: int = 1, sheet_columns: int = 4) -> Path:
    folder = out / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    by_stamp = {round(r.stamp, 6): r for r in replay.records}
    thumbs = []
    for i, f in enumerate(read_camera_bag(bag)):
        rec = by_stamp.get(round(f.stamp, 6))
        if rec is None or i % every:
            continue
        img = annotate(f, rec)
        cv2.imwrite(str(folder / f"{i:05d}.png"), img[..., ::-1])
        thumbs.append(cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA))
    sheet = out / "annotated_sheet.png"
    if thumbs:
        cv2.imwrite(str(sheet), tile(thumbs[:: max(1, len(thumbs) // 12)][:12], sheet_columns)[..., ::-1])
    return sheet


def latency_stats(records: list[FrameRecord]) -> dict[str, float]:
    lat = np.array([r.latency for r in records]) * 1000
    if not len(lat):
        return {}
    return {
        "mean_ms": float(lat.mean()),
        "median_ms": float(np.median(lat)),
        "p95_ms": float(np.percentile(lat, 95)),
        "max_ms": float(lat.max()),
    }


def write_replay_report(
    bag: Path, replay: Replay, out: Path, model_name: str, categories: Categories = NOCS
) -> dict:
    """The report of one replay; ``categories``: the model's class list, which the bag's ids follow."""
    out.mkdir(parents=True, exist_ok=True)
    results = to_results(replay.records, bag.name)
    summary: dict = {
        "bag": str(bag),
        "mode": replay.mode,
        "model": model_name,
        "frames_in_bag": replay.frames_in_bag,
        "frames_with_detections": len(replay.records),
        "frames_dropped": replay.dropped,
        "latency": latency_stats(replay.records),
        "notes": replay.notes,
    }
    if results:
        for mode in ("exact", "legacy"):
            metrics = evaluate(results, iou_mode=mode, categories=categories)
            write_report(metrics, out / f"metrics_{mode}", f"{bag.name}, {replay.mode} replay ({mode} IoU)")
            summary[f"mAP_{mode}"] = {k: v["mean"] for k, v in metrics.summary().items()}
        summary["jitter"] = pose_jitter(results)
        tracks = [track_frame(bag.name, r.gt, r.estimates) for r in replay.records if r.gt is not None]
        summary["tracking"] = tracking_metrics(tracks)
    else:
        summary["notes"].append("the bag carries no ground truth: no metrics")
    summary["annotated"] = str(write_annotated(bag, replay, out))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
