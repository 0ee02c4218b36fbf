"""A model taught a new class, against the model it was fine-tuned from, on tabletop scenes where
the new object stands among the known classes (#38).

Per checkpoint and mode (single-frame, multi-frame): the new class's exact-IoU APs (IoU25, 10cm,
10deg10cm), the share of the published boxes near a new object (score >= the node's default
threshold, centre within 10 cm) that carry its name, and the same figures for the known
classes: their mean APs and the share of their boxes named right. The known classes are the
base model's; the new ones are those the fine-tuned model adds.

Usage: python benchmarks/bench_new_class.py --data data/synth_kettle_val --checkpoint CKPT
       [--base CKPT] [--subset real_test]
(validation scenes: seqpose-synth --out data/synth_kettle_val --train-scenes 0 --test-scenes 12
--frames 12 --width 320 --height 240 --seed 41 --categories bottle bowl camera can laptop mug
kettle)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seqpose_core.categories import NOCS, Categories
from seqpose_core.checkpoint import load_model
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import predict_subset
from seqpose_core.evaluation.tracking import TrackFrame, class_accuracy
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, Predictor

METRICS = ("IoU25", "10cm", "10deg10cm")
AP_THRESHOLD = 0.05  # as the trainer's validation: low-score boxes still count towards AP


def scores(checkpoint: Path, subset: NocsSubset, known: Categories, multi_frame: bool) -> dict:
    """APs (%) and named shares (%) of one checkpoint in one mode, split known / new classes."""
    model = load_model(checkpoint)
    classes = model.cfg.classes
    predictor = Predictor(model, "cpu", multi_frame, AP_THRESHOLD)
    summary = evaluate(predict_subset(predictor, subset), iou_mode="exact", categories=classes).summary()
    predictor.score_threshold = DEFAULT_SCORE_THRESHOLD
    log: list[TrackFrame] = []
    predict_subset(predictor, subset, track_log=log)
    old = list(range(1, len(known.names)))
    row = {f"known {m}": 100 * float(np.nanmean([summary[m][known.names[i]] for i in old])) for m in METRICS}
    row["known named"] = 100 * class_accuracy(log, 0.10, classes=old)
    for i, name in enumerate(classes.names[len(known.names) :], start=len(known.names)):
        row |= {f"{name} {m}": 100 * summary[m][name] for m in METRICS}
        row[f"{name} named"] = 100 * class_accuracy(log, 0.10, classes=[i])
    return row


def table(rows: dict[str, dict]) -> str:
    columns = sorted({c for r in rows.values() for c in r}, key=lambda c: (c.startswith("known"), c))
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, r in rows.items():
        cells = [f"{r[c]:.1f}" if c in r else "" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a NOCS-layout root with the new class among the known")
    p.add_argument("--subset", default="real_test")
    p.add_argument("--checkpoint", required=True, type=Path, help="the fine-tuned model")
    p.add_argument("--base", type=Path, help="the model it was fine-tuned from (known classes)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    subset = NocsSubset(args.data, args.subset)
    known = load_model(args.base).cfg.classes if args.base else NOCS
    rows = {}
    for path in [p for p in (args.base, args.checkpoint) if p is not None]:
        for multi_frame in (False, True):
            rows[f"{path.parent.name}/{path.name} {'MF' if multi_frame else 'SF'}"] = scores(
                path, subset, known, multi_frame
            )
    print(f"{args.data} ({args.subset}): exact-IoU APs and boxes named right (%)\n\n{table(rows)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
