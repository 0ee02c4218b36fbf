"""``make demo``: the main job end to end on the embedded default model.

Generates a held-out synthetic scene (a seed never used for training), records it as a
ROS 2 bag, plays the bag into the seqpose node at half its recorded rate, and writes the
report (NOCS metrics and curves, latency, dropped frames, jitter, annotated frames).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from math import nan
from pathlib import Path

from seqpose_core.assets import default_checkpoint
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD
from seqpose_core.synth.writer import SynthConfig, generate
from seqpose_ros.bag import write_nocs_bag
from seqpose_ros.graph_env import private_graph
from seqpose_ros.live import replay_live
from seqpose_ros.report import write_replay_report

DEMO_SEED = 90210  # not a training seed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seqpose_ros.demo", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("reports/demo"))
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--rate", type=float, default=0.5)
    args = p.parse_args(argv)
    # A private ROS graph for the demo's node and player.
    private_graph()
    ckpt = default_checkpoint()
    if ckpt is None:
        print(
            "demo: NO TRAINED MODEL SHIPS in this checkout: the node runs a RANDOM-WEIGHT model, "
            "so the metrics below measure nothing but the pipeline."
        )
    else:
        print(f"demo: embedded model {ckpt} (trained on synthetic objects only; see MODEL_CARD.md beside it)")
    start = time.perf_counter()
    shutil.rmtree(args.out, ignore_errors=True)
    data, bag = args.out / "data", args.out / "scene_1.bag"
    generate(data, SynthConfig(train_scenes=0, test_scenes=1, frames=args.frames, seed=DEMO_SEED))
    write_nocs_bag(data, "real_test", "scene_1", bag)
    print(f"demo: recorded {args.frames} frames of a new synthetic scene in {bag}")
    replay = replay_live(
        bag,
        str(ckpt) if ckpt else None,
        multi_frame=True,
        score_threshold=DEFAULT_SCORE_THRESHOLD,
        rate=args.rate,
        record=args.out / "recording",
    )
    summary = write_replay_report(bag, replay, args.out / "report", str(ckpt or "random weights"))
    keys = ("IoU25", "IoU50", "10cm", "10deg", "10deg10cm", "5deg5cm")
    if "mAP_exact" in summary:
        print(
            "demo: mean AP (exact IoU): "
            + ", ".join(f"{k} {100 * summary['mAP_exact'][k]:.1f}" for k in keys)
        )
    if "tracking" in summary:
        t = {
            "ids_per_object": nan,
            "mota": nan,
            "idf1": nan,
            "id_switches_per_100": nan,
            **summary["tracking"],
        }
        print(
            f"demo: published boxes per visible object {t['boxes_per_object']:.2f}, class right"
            f" {100 * t['class_accuracy']:.0f} %, track ids per object {t['ids_per_object']:.2f},"
            f" MOTA {t['mota']:.3f}, IDF1 {t['idf1']:.3f},"
            f" ID switches per 100 object-frames {t['id_switches_per_100']:.1f}"
        )
    print(
        f"demo: {summary['frames_with_detections']} of {summary['frames_in_bag']} frames answered, "
        f"{summary['frames_dropped']} dropped, latency {json.dumps(summary['latency'])}"
    )
    print(
        f"demo: finished in {time.perf_counter() - start:.0f} s; report in {args.out / 'report'} "
        "(summary.json, metrics_exact/, metrics_legacy/, annotated_sheet.png, frames/)"
    )
    mcap = next((args.out / "recording").glob("*.mcap"), None)
    print(f"demo: input, detections, markers, overlay and TF for Foxglove: {mcap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
