"""Where a model's rotations go wrong, per class: the up axis or the heading about it, and whether
the error grows with the angle between the viewing ray and the optical axis (what a rotation read
in the camera's frame must learn to undo for an off-centre object).

For every annotated object, the nearest published box of its class (score >= the node's default
threshold, centre within 10 cm) is compared with it: the rotation error (about the up axis only
for objects symmetric about it: bottles, bowls, cans, mugs with a hidden handle), the up axis'
error, and the viewing ray's angle. Printed per class: objects found, median rotation error, the
share within 10 degrees, the median up-axis error and the correlation of the rotation error
with the ray's angle.

Usage: python benchmarks/bench_rotation.py --data data/synth_val2 --checkpoint CKPT [CKPT ...]
       [--multi-frame]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from seqpose_core.checkpoint import load_model
from seqpose_core.data.frame import Objects
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.estimates import PoseEstimate
from seqpose_core.evaluation.predict import stream_subset
from seqpose_core.geometry import rotation_error_deg
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, Predictor

MAX_CM = 10.0


def nearest(estimates: list[PoseEstimate], class_id: int, centre: np.ndarray) -> PoseEstimate | None:
    """The published box of ``class_id`` nearest ``centre`` within MAX_CM, or None."""
    same = [e for e in estimates if e.class_id == class_id]
    dist = [np.linalg.norm(np.asarray(e.translation) - centre) * 100 for e in same]
    return same[int(np.argmin(dist))] if same and min(dist) < MAX_CM else None


def pair_errors(e: PoseEstimate, o: Objects, g: int, symmetric: bool) -> tuple[float, float, float]:
    """Rotation error, up-axis error and the viewing ray's angle to the optical axis, degrees."""
    pred, gt = np.asarray(e.rotation)[None], o.rotations[g][None]
    rot = float(rotation_error_deg(pred, gt, np.array([symmetric]))[0, 0])
    up = float(rotation_error_deg(pred, gt, np.array([True]))[0, 0])
    t = o.translations[g]
    return rot, up, float(np.degrees(np.arccos(t[2] / np.linalg.norm(t))))


def collect(checkpoint: Path, subset: NocsSubset, multi_frame: bool) -> tuple[dict, dict]:
    """Errors per class label ('mug, handle seen' apart) and objects per label."""
    model = load_model(checkpoint)
    classes = model.cfg.classes
    predictor = Predictor(model, "cpu", multi_frame, DEFAULT_SCORE_THRESHOLD)
    errors, totals = defaultdict(list), defaultdict(int)
    for frame, estimates in stream_subset(predictor, subset):
        o = frame.objects
        for g, c in enumerate(o.class_ids):
            symmetric = classes.is_symmetric(int(c), bool(o.handle_visible[g]))
            label = classes.names[c] + ("" if symmetric or classes.names[c] != "mug" else ", handle seen")
            totals[label] += 1
            e = nearest(estimates, int(c), o.translations[g])
            if e is not None:
                errors[label].append(pair_errors(e, o, g, symmetric))
    return errors, totals


def table(errors: dict, totals: dict) -> str:
    rows = [
        "| class | found / objects | median deg | within 10 deg % | up axis median deg | corr(error, ray) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in sorted(totals):
        a = np.array(errors.get(label, []), float).reshape(-1, 3)
        if len(a) < 2:
            rows.append(f"| {label} | {len(a)} / {totals[label]} | | | | |")
            continue
        corr = np.corrcoef(a[:, 0], a[:, 2])[0, 1]
        rows.append(
            f"| {label} | {len(a)} / {totals[label]} | {np.median(a[:, 0]):.1f} | "
            f"{100 * np.mean(a[:, 0] < 10):.0f} | {np.median(a[:, 1]):.1f} | {corr:.2f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a NOCS-layout root with real_test scenes")
    p.add_argument("--checkpoint", type=Path, nargs="+", required=True)
    p.add_argument("--subset", default="real_test")
    p.add_argument("--multi-frame", action="store_true", help="with the temporal memory (the node's default)")
    args = p.parse_args(argv)
    subset = NocsSubset(args.data, args.subset)
    mode = "multi-frame" if args.multi_frame else "single-frame"
    for checkpoint in args.checkpoint:
        errors, totals = collect(checkpoint, subset, args.multi_frame)
        print(f"\n{checkpoint} on {args.data} ({mode}):\n\n{table(errors, totals)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
