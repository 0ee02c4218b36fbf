"""The synthetic benchmark: a trained model on the held-out synthetic scenes, SF and MF,
against the same network untrained and a mean-size baseline.

    python -m training.synthetic_benchmark --data data/synth --model runs/synthetic/final.safetensors \\
        --run runs/synthetic --out reports/synthetic_benchmark

``--speedups bf16 int8 onnxruntime`` adds the trained model at those precisions or on ONNX
Runtime, and, as the yardstick for their changes, fp32 on images with noise under half a grey
level added (what the camera cannot tell apart): a table gives each row's largest mean-AP
change against fp32. Writes per method and mode a NOCS report folder (exact and legacy IoU),
``summary.md`` and ``summary.json`` (mean APs, frame-to-frame jitter, seconds per frame) and, given the run
folder, ``training_curves.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seqpose_core.categories import NOCS, Categories
from seqpose_core.checkpoint import load_model, read_config, read_meta
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.evaluation.baselines import MeanSizeBaseline
from seqpose_core.evaluation.jitter import pose_jitter
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import predict_subset
from seqpose_core.evaluation.report import write_report
from seqpose_core.evaluation.tracking import tracking_metrics
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.precision import PRECISIONS
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, Predictor
from seqpose_core.tracking.fusion import FUSION
from seqpose_core.tracking.tracker import TrackerConfig
from training.curves import plot_run

COLUMNS = ("IoU25", "IoU50", "10cm", "10deg", "10deg10cm", "10deg5cm", "5deg5cm")
# Fusion in the fixed frame (#46), given the scenes' camera poses: after the network's memory
# (MF) and without it (SF: the network sees each frame alone; the tracker and fusion run).
FUSED = (("SF + fusion", False, False, True), ("MF + fusion", True, False, True))
FUSION_ALONE = ("SF + fusion",)


class InputNoisePredictor(Predictor):
    """fp32 with uniform noise in [-1/2, 1/2) grey levels added to every network input: the
    metrics' sensitivity to a change no camera could tell apart (seeded, reproducible)."""

    def __init__(self, *args: object, seed: int = 0, **kwargs: object):
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(seed)

    def prepare(self, rgb: np.ndarray, k: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        image, k_in = super().prepare(rgb, k)
        noise = torch.rand(image.shape, generator=self.generator) - 0.5
        return image + noise.to(image) / 255.0, k_in


def published(predictor: object, test: NocsSubset, motion: bool) -> dict:
    """Tracking metrics of what the predictor publishes at the default threshold."""
    if not isinstance(predictor, Predictor):
        return {}
    ap_threshold, predictor.score_threshold = predictor.score_threshold, DEFAULT_SCORE_THRESHOLD
    log: list = []
    predict_subset(predictor, test, track_log=log, camera_motion=motion)
    predictor.score_threshold = ap_threshold
    return tracking_metrics(log)


def run_method(
    name: str,
    predictor: object,
    test: NocsSubset,
    out: Path,
    motion: bool = False,
    categories: Categories = NOCS,
) -> dict:
    """One method over the test scenes; ``motion``: the Predictor is told the camera's motion;
    ``categories``: the class list the ids follow (the trained model's)."""
    start = time.perf_counter()
    results = predict_subset(predictor, test, progress=True, camera_motion=motion)
    seconds = (time.perf_counter() - start) / max(1, len(results))
    row = {"method": name, "seconds_per_frame": seconds, "jitter": pose_jitter(results)}
    row["published"] = published(predictor, test, motion)
    for mode in ("exact", "legacy"):
        metrics = evaluate(results, iou_mode=mode, categories=categories)
        write_report(metrics, out / name.replace(" ", "_").replace(",", "") / mode, f"{name} ({mode} IoU)")
        row[mode] = {k: v["mean"] for k, v in metrics.summary().items()}
    return row


def describe(meta: dict) -> str:
    """'N steps, M min of training' from a checkpoint's meta, as far as it says."""
    parts = [f"{meta['step']} steps"] if "step" in meta else []
    if "train_seconds" in meta:
        parts.append(f"{float(meta['train_seconds']) / 60:.1f} min of training")
    return ", ".join(parts) or "no training record"


def table(rows: list[dict], mode: str) -> str:
    head = "| method | " + " | ".join(COLUMNS) + " | jitter cm | jitter deg | s/frame |"
    lines = [head, "|---" * (len(COLUMNS) + 4) + "|"]
    for r in rows:
        cells = [f"{100 * r[mode][c]:.1f}" for c in COLUMNS]
        j = r["jitter"]
        cells += [f"{j['translation_cm']:.2f}", f"{j['rotation_deg']:.2f}", f"{r['seconds_per_frame']:.3f}"]
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TRACKING = (
    ("boxes/object", "boxes_per_object", "{:.2f}"),
    ("class right %", "class_accuracy", "{:.1%}"),
    ("ids/object", "ids_per_object", "{:.2f}"),
    ("MOTA", "mota", "{:.3f}"),
    ("IDF1", "idf1", "{:.3f}"),
    ("ID switches /100", "id_switches_per_100", "{:.2f}"),
    ("fragmentations", "fragmentations", "{:d}"),
)


def change_table(rows: list[dict]) -> str:
    """Per row of the trained model at another precision, backend or input: the largest change
    of an exact-IoU mean AP against fp32 of the same mode, in points."""
    fp32 = {r["method"].split(", ")[1]: r for r in rows if r["method"] in ("trained, SF", "trained, MF")}
    lines = ["| method | largest mean-AP change against fp32, points |", "|---|---|"]
    for r in rows:
        parts = r["method"].split(", ")
        if len(parts) == 3 and parts[0] == "trained" and parts[1] in fp32:
            base = fp32[parts[1]]["exact"]
            change = max(100 * abs(r["exact"][c] - base[c]) for c in COLUMNS)
            lines.append(f"| {r['method']} | {change:.1f} |")
    return "\n".join(lines)


def tracking_table(rows: list[dict]) -> str:
    lines = ["| method | " + " | ".join(t[0] for t in TRACKING) + " |", "|---" * (len(TRACKING) + 1) + "|"]
    for r in rows:
        if r.get("published"):
            cells = [
                fmt.format(r["published"][key]) if key in r["published"] else "-" for _, key, fmt in TRACKING
            ]
            lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.synthetic_benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=Path("data/synth"))
    p.add_argument("--model", type=Path, required=True, help="trained checkpoint (.safetensors)")
    p.add_argument("--out", type=Path, default=Path("reports/synthetic_benchmark"))
    p.add_argument("--run", type=Path, help="the model's run folder: also plot its training curves")
    p.add_argument("--device", default="cpu")
    p.add_argument("--score-threshold", type=float, default=0.05)
    p.add_argument(
        "--speedups",
        nargs="*",
        default=[],
        choices=[*PRECISIONS[1:], "onnxruntime"],
        help="also the trained model SF and MF at these precisions or on ONNX Runtime",
    )
    args = p.parse_args(argv)
    test, train = NocsSubset(args.data, "real_test"), NocsSubset(args.data, "real_train")
    trained = load_model(args.model)
    classes = trained.cfg.classes
    torch.manual_seed(0)
    untrained = SeqPose(read_config(args.model))
    rows = []
    variants = [
        ("SF", False, False, False),
        ("MF", True, False, False),
        ("MF + pose filter", True, True, False),
    ]
    if test.frames[0].file("camera_pose.txt").is_file():  # scenes that know their camera poses
        variants += [("MF + camera motion", True, False, True), *FUSED]
    for label, model in (("trained", trained), ("untrained", untrained)):
        for mode, mf, smooth, motion in variants if label == "trained" else variants[:2]:
            predictor = Predictor(
                model,
                args.device,
                mf or mode in FUSION_ALONE,
                args.score_threshold,
                tracker=TrackerConfig(smooth=smooth),
                fusion=FUSION if mode in dict.fromkeys(m for m, *_ in FUSED) else None,
                network_memory=mode not in FUSION_ALONE,
            )
            rows.append(run_method(f"{label}, {mode}", predictor, test, args.out, motion, classes))
    for speedup in args.speedups:
        kw = {"backend": speedup} if speedup == "onnxruntime" else {"precision": speedup}
        for mode, mf, _, _ in variants[:2]:
            predictor = Predictor(trained, args.device, mf, args.score_threshold, **kw)
            rows.append(run_method(f"trained, {mode}, {speedup}", predictor, test, args.out, False, classes))
    for mode, mf, _, _ in variants[:2] if args.speedups else []:
        predictor = InputNoisePredictor(trained, args.device, mf, args.score_threshold)
        rows.append(
            run_method(
                f"trained, {mode}, fp32 + half-grey-level input noise",
                predictor,
                test,
                args.out,
                False,
                classes,
            )
        )
    rows.append(run_method("mean-size baseline", MeanSizeBaseline.fit(train), test, args.out, False, classes))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    scenes = f"{len(test.frames)} frames of {len(test.scenes)} held-out scenes ({args.data})"
    changes = f"Reduced precision and backends against fp32:\n\n{change_table(rows)}\n\n"
    changes = changes if args.speedups else ""
    text = (
        f"Synthetic benchmark: {scenes}.\nModel: {args.model} ({describe(read_meta(args.model))})."
        " Mean AP in %;"
        " jitter = mean frame-to-frame change of the pose error.\n\n"
        f"Exact 3D IoU:\n\n{table(rows, 'exact')}\n\n"
        f"Legacy 3D IoU (published protocol):\n\n{table(rows, 'legacy')}\n\n"
        f"{changes}Published boxes at the default threshold {DEFAULT_SCORE_THRESHOLD}:\n\n"
        f"{tracking_table(rows)}\n"
    )
    (args.out / "summary.md").write_text(text)
    if args.run is not None:
        plot_run(args.run, args.out / "training_curves.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
