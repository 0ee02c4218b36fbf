"""A model taught a new class, against the model it was fine-tuned from, on tabletop scenes where
the new object stands among the known classes (#38).

Per checkpoint and mode (single-frame, multi-frame): the new class's exact-IoU APs (IoU25, 10cm,
10deg10cm), the share of the published boxes near a new object (score >= the node's default
threshold, centre within 10 cm) that carry its name, and the same figures for the known
classes: their mean APs and the share of their boxes named right. The known classes are the
base model's; the new ones are those the fine-tuned model adds. The new class's heading is
scored in the labels' own canonical frame, as the label scoring does (selflabel/evaluate.py):
the found boxes' rotations (a box of the new class within 10 cm of one, at the node's
threshold) against the truth after the one global rotation that most of them agree on; the
median error, its quartiles and the share within 20 degrees, with the global rotation's
angle; and the up axis's median error alone: when it is small and the rotation's large, the
turn about up (what the spout and handle fix) is what is not learnt.

Several scene sets (``--data A B C``, at least three for a claim): a table per set, then the
mean and the worst over the sets (the lowest of every share and AP).

Usage: python benchmarks/bench_new_class.py --data data/synth_kettle_val41 ... --checkpoint CKPT
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
from seqpose_core.evaluation.results import ImageResult
from seqpose_core.evaluation.tracking import TrackFrame, class_accuracy
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, Predictor
from seqpose_core.selflabel.evaluate import global_rotation, rotation_errors

METRICS = ("IoU25", "10cm", "10deg10cm")
AP_THRESHOLD = 0.05  # as the trainer's validation: low-score boxes still count towards AP


def _rotation(rt: np.ndarray) -> np.ndarray:
    """The rotation (3, 3) of a NOCS RT (4, 4) whose columns carry the scale."""
    u, _, vt = np.linalg.svd(rt[:3, :3])
    return u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt


def found_rotations(
    results: list[ImageResult], cls: int, reach: float = 0.10
) -> tuple[np.ndarray, np.ndarray]:
    """Per object of class cls with a published box of its class within ``reach`` (metres), the
    nearest such box's rotation and the truth: (V, 3, 3) each, object -> camera."""
    found, truth = [], []
    for r in results:
        mine = np.flatnonzero(r.pred_class_ids == cls)
        for g in np.flatnonzero(r.gt_class_ids == cls):
            if not len(mine):
                break
            d = np.linalg.norm(r.pred_RTs[mine, :3, 3] - r.gt_RTs[g, :3, 3], axis=1)
            if d.min() <= reach:
                found.append(_rotation(r.pred_RTs[mine[d.argmin()]]))
                truth.append(_rotation(r.gt_RTs[g]))
    return np.array(found).reshape(-1, 3, 3), np.array(truth).reshape(-1, 3, 3)


def heading(results: list[ImageResult], cls: int) -> dict[str, float]:
    """The found boxes' rotation errors in the labels' own frame (see the module docstring)."""
    found, truth = found_rotations(results, cls)
    if len(found) < 2:
        return {"found": float(len(found))}
    world_to_found = found.transpose(0, 2, 1)  # the camera stands for the label scoring's world
    errors = rotation_errors(world_to_found, truth, symmetric=False)
    g = global_rotation(world_to_found, truth, symmetric=False)
    up = rotation_errors(world_to_found, truth, symmetric=True)  # the up axis alone
    return {
        "found": float(len(found)),
        "heading median deg": float(np.median(errors)),
        "heading p25 deg": float(np.percentile(errors, 25)),
        "heading p75 deg": float(np.percentile(errors, 75)),
        "up axis median deg": float(np.median(up)),
        "within 20deg": 100 * float(np.mean(errors < 20)),
        "frame offset deg": float(np.degrees(np.arccos(np.clip((np.trace(g) - 1) / 2, -1, 1)))),
    }


def scores(checkpoint: Path, subset: NocsSubset, known: Categories, multi_frame: bool) -> dict:
    """APs (%) and named shares (%) of one checkpoint in one mode, split known / new classes."""
    model = load_model(checkpoint)
    classes = model.cfg.classes
    predictor = Predictor(model, "cpu", multi_frame, AP_THRESHOLD)
    summary = evaluate(predict_subset(predictor, subset), iou_mode="exact", categories=classes).summary()
    predictor.score_threshold = DEFAULT_SCORE_THRESHOLD
    log: list[TrackFrame] = []
    published = predict_subset(predictor, subset, track_log=log)
    old = list(range(1, len(known.names)))
    row = {f"known {m}": 100 * float(np.nanmean([summary[m][known.names[i]] for i in old])) for m in METRICS}
    row["known named"] = 100 * class_accuracy(log, 0.10, classes=old)
    for i, name in enumerate(classes.names[len(known.names) :], start=len(known.names)):
        row |= {f"{name} {m}": 100 * summary[m][name] for m in METRICS}
        row[f"{name} named"] = 100 * class_accuracy(log, 0.10, classes=[i])
        row |= {f"{name} {k}": v for k, v in heading(published, i).items()}
    return row


def table(rows: dict[str, dict]) -> str:
    columns = sorted({c for r in rows.values() for c in r}, key=lambda c: (c.startswith("known"), c))
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, r in rows.items():
        cells = [f"{r[c]:.1f}" if c in r else "" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(per_set: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Rows per model over the sets: the mean, and the worst (the lowest share or AP; the largest
    error in degrees)."""
    out: dict[str, dict] = {}
    models = next(iter(per_set.values())).keys()
    for model in models:
        rows = [rows[model] for rows in per_set.values()]
        columns = set.intersection(*(set(r) for r in rows))
        mean = {c: float(np.nanmean([r[c] for r in rows])) for c in columns}
        worst = {c: float((np.nanmax if " deg" in c else np.nanmin)([r[c] for r in rows])) for c in columns}
        out[f"{model}, mean"], out[f"{model}, worst"] = mean, worst
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data", required=True, nargs="+", help="NOCS-layout roots with the new class among the known"
    )
    p.add_argument("--subset", default="real_test")
    p.add_argument("--checkpoint", required=True, type=Path, help="the fine-tuned model")
    p.add_argument("--base", type=Path, help="the model it was fine-tuned from (known classes)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    known = load_model(args.base).cfg.classes if args.base else NOCS
    per_set: dict[str, dict[str, dict]] = {}
    for root in args.data:
        subset, rows = NocsSubset(root, args.subset), {}
        for path in [p for p in (args.base, args.checkpoint) if p is not None]:
            for multi_frame in (False, True):
                rows[f"{path.parent.name}/{path.name} {'MF' if multi_frame else 'SF'}"] = scores(
                    path, subset, known, multi_frame
                )
        per_set[root] = rows
        print(
            f"{root} ({args.subset}): exact-IoU APs and boxes named right (%)\n\n{table(rows)}\n", flush=True
        )
    if len(args.data) > 1:
        print(f"over the {len(args.data)} sets\n\n{table(summary(per_set))}")
    if args.json:
        args.json.write_text(json.dumps(per_set, indent=1))


if __name__ == "__main__":
    main()
