"""What fusing each object's views in a fixed frame adds (#46), on scenes that know their camera poses.

Rows, one model: single-frame; multi-frame (the network's memory, no camera motion); multi-frame
given the camera's motion (the memory and tracks moved, nothing fused); single-frame + fusion (the
network sees each frame alone, the tracker and fusion run); multi-frame + fusion (the default of
a Predictor given camera motion). Exact-IoU mean APs (%), frame-to-frame jitter of the pose error
(a static object's jitter in the fixed frame), track ids per object at the node's threshold, and
the fusion's own cost per frame (``Fusion.update`` alone, timed around each call, on the estimates
at the node's threshold; run it on a quiet machine).

Usage: python benchmarks/bench_fusion.py --data data/synth_fusion12 [--data data/synth_fusion30]
    [--checkpoint FILE]  (scenes: seqpose-synth --look plain --train-scenes 0 --test-scenes 10 ...)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from seqpose_core.assets import load_or_random
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.evaluation.jitter import pose_jitter
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import predict_subset
from seqpose_core.predictor import Predictor
from seqpose_core.tracking.fusion import FUSION, Fusion
from training.synthetic_benchmark import published

METRICS = ("IoU25", "IoU50", "10deg10cm", "5deg5cm")
ROWS = (  # name, multi-frame predictor, network memory, camera motion, fusion
    ("SF", False, True, False, False),
    ("MF", True, True, False, False),
    ("MF + camera motion", True, True, True, False),
    ("SF + fusion", True, False, True, True),
    ("MF + fusion", True, True, True, True),
)


class TimedFusion(Fusion):
    """Fusion that adds up the time of its updates."""

    seconds, calls = 0.0, 0

    def update(self, *args: object, **kw: object) -> list:
        start = time.perf_counter()
        out = super().update(*args, **kw)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def row(model: object, subset: NocsSubset, spec: tuple, threshold: float) -> dict:
    name, mf, memory, motion, fused = spec
    predictor = Predictor(
        model, "cpu", mf, threshold, fusion=FUSION if fused else None, network_memory=memory
    )
    if fused:
        predictor.fusion = TimedFusion(model.cfg.classes, FUSION)
    results = predict_subset(predictor, subset, camera_motion=motion)
    summary = evaluate(results, iou_mode="exact", categories=model.cfg.classes).summary()
    out = {m: 100 * summary[m]["mean"] for m in METRICS}
    out["jitter"] = pose_jitter(results)
    if fused:  # the cost is timed on what the node publishes: estimates at its threshold
        predictor.fusion.seconds, predictor.fusion.calls = 0.0, 0
    out["published"] = published(predictor, subset, motion) if mf else {}
    out["fusion_ms"] = 1e3 * predictor.fusion.seconds / max(1, predictor.fusion.calls) if fused else None
    return {"name": name, **out}


def format_rows(rows: list[dict]) -> str:
    head = "| mode | " + " | ".join(METRICS) + " | jitter cm | jitter deg | ids/object | fusion ms/frame |"
    lines = [head, "|---" * (len(METRICS) + 5) + "|"]
    for r in rows:
        ids = r["published"].get("ids_per_object")
        cells = [f"{r[m]:.1f}" for m in METRICS]
        cells += [f"{r['jitter']['translation_cm']:.2f}", f"{r['jitter']['rotation_deg']:.2f}"]
        cells += [
            "-" if ids is None else f"{ids:.2f}",
            "-" if r["fusion_ms"] is None else f"{r['fusion_ms']:.3f}",
        ]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_fusion.py", description=__doc__)
    p.add_argument(
        "--data", type=Path, nargs="+", required=True, help="dataset roots (their real_test scenes)"
    )
    p.add_argument("--checkpoint", help="default: the embedded model")
    p.add_argument("--score-threshold", type=float, default=0.05, help="for the APs (as the benchmark's)")
    p.add_argument("--rows", nargs="*", default=[r[0] for r in ROWS], help="only these rows")
    args = p.parse_args(argv)
    model, path = load_or_random(args.checkpoint)
    print(f"model: {path or 'random weights'}")
    for root in args.data:
        subset = NocsSubset(root, "real_test")
        frames = len(subset.frames) // max(1, len(subset.scenes))
        rows = [row(model, subset, spec, args.score_threshold) for spec in ROWS if spec[0] in args.rows]
        print(f"\n{root}: {len(subset.scenes)} scenes of {frames} frames, exact IoU, mean AP %\n")
        print(format_rows(rows), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
