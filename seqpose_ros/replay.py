"""Replay evaluation of a bag: offline (Predictor, no DDS) or live (the node, through the graph).

Both produce the NOCS report (metrics, curves), tracking metrics of the published boxes
(MOTA, IDF1, ID switches, boxes and ids per object), per-frame latency statistics, the
count of dropped frames and annotated frames (predictions red, ground truth green).

    seqpose-replay BAG --out DIR [--mode offline|live] [--checkpoint CKPT] [--rate 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from seqpose_core.assets import default_checkpoint
from seqpose_core.checkpoint import load_model
from seqpose_core.data.frame import Objects
from seqpose_core.evaluation.jitter import pose_jitter
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import result_from_estimates
from seqpose_core.evaluation.report import write_report
from seqpose_core.evaluation.results import ImageResult
from seqpose_core.evaluation.tracking import track_frame, tracking_metrics
from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, PoseEstimate, Predictor
from seqpose_core.visualize import GT_COLOUR, draw_box, draw_estimates, tile
from seqpose_ros.bag import BagError, BagFrame, read_camera_bag


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


def load_predictor_model(checkpoint: str | None) -> tuple[SeqPose, str]:
    """The given checkpoint, else the embedded default, else a random-weight model (said plainly)."""
    path = checkpoint or (str(default_checkpoint()) if default_checkpoint() else "")
    if path:
        return load_model(Path(path)), path
    return SeqPose(tiny_config()), "RANDOM WEIGHTS (no trained model ships in this checkout)"


def replay_offline(bag: Path, model: SeqPose, multi_frame: bool, score_threshold: float) -> Replay:
    predictor = Predictor(model, "cpu", multi_frame=multi_frame, score_threshold=score_threshold)
    records = []
    for f in read_camera_bag(bag):
        start = time.perf_counter()
        estimates = predictor.step(f.rgb, f.k, f.stamp)
        records.append(FrameRecord(f.stamp, estimates, f.gt, time.perf_counter() - start))
    return Replay("offline", records, len(records))


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


def write_replay_report(bag: Path, replay: Replay, out: Path, model_name: str) -> dict:
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
            metrics = evaluate(results, iou_mode=mode)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqpose-replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("bag", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mode", choices=("offline", "live"), default="offline")
    p.add_argument("--checkpoint", default=None, help="model (.safetensors); default: the embedded model")
    p.add_argument("--single-frame", action="store_true", help="disable the temporal memory")
    p.add_argument("--score-threshold", type=float, default=DEFAULT_SCORE_THRESHOLD)
    p.add_argument("--rate", type=float, default=1.0, help="live: playback rate (0: as fast as possible)")
    args = p.parse_args(argv)
    try:
        model, name = load_predictor_model(args.checkpoint)
        if args.mode == "offline":
            replay = replay_offline(args.bag, model, not args.single_frame, args.score_threshold)
        else:
            from seqpose_ros.live import replay_live

            replay = replay_live(
                args.bag, args.checkpoint, not args.single_frame, args.score_threshold, args.rate
            )
    except BagError as exc:
        print(f"seqpose-replay: error: {exc}", file=sys.stderr)
        return 2
    summary = write_replay_report(args.bag, replay, args.out, name)
    print(json.dumps({k: v for k, v in summary.items() if k != "notes"}, indent=1))
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
