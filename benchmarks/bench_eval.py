"""Time the NOCS evaluation on a simulated result set the size of REAL275.

REAL275: 2,754 test images, about 4,500 ground-truth objects; up to 50 predictions per
image. Prints seconds per IoU mode. Usage: python benchmarks/bench_eval.py [--images N]
"""

from __future__ import annotations

import argparse
import time

from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.simulate import simulate_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2754)
    parser.add_argument("--max-predictions", type=int, default=50)
    parser.add_argument("--modes", nargs="+", default=["legacy", "exact"])
    args = parser.parse_args()
    results = simulate_results(
        args.images, seed=0, objects_per_image=(1, 2), max_predictions=args.max_predictions
    )
    n_gt = sum(len(r.gt_class_ids) for r in results)
    n_pred = sum(len(r.pred_class_ids) for r in results)
    print(f"{len(results)} images, {n_gt} GT objects, {n_pred} predictions")
    for mode in args.modes:
        start = time.perf_counter()
        m = evaluate(results, iou_mode=mode)
        seconds = time.perf_counter() - start
        s = m.summary()
        iou50, pose55 = 100 * s["IoU50"]["mean"], 100 * s["5deg5cm"]["mean"]
        print(f"{mode:7s} {seconds:7.1f} s   mAP IoU50 {iou50:.1f}  5deg5cm {pose55:.1f}")


if __name__ == "__main__":
    main()
