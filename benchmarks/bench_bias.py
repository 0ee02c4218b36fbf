"""Depth and size bias of a model per class: the median ratio of predicted to true depth (z) and
size (the cube root of the box volumes' ratio), over the published estimates that answer an
object.

An estimate answers the object of its class whose centre it sees in the same direction: the
viewing rays of the two centres within ``--angle`` degrees, the best-scoring such estimate per
object. Matching by direction, not by 3D distance, keeps the depth free to be wrong, which is
what this measures. A ratio above 1: too far, or too large. A second table splits the same
ratios by the objects' true depth: a model that pulls its depths towards the training scenes'
typical distance places near objects too far and far ones too near.

Usage: python benchmarks/bench_bias.py --data data/synth_val2 [--subset real_test]
       [--checkpoint CKPT] [--single-frame]
(validation scenes: seqpose-synth --out data/synth_val2 --train-scenes 0 --test-scenes 16
--frames 12 --width 320 --height 240 --seed 5)
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from seqpose_core.assets import load_or_random
from seqpose_core.categories import CLASS_NAMES
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.evaluation.predict import stream_subset
from seqpose_core.predictor import Predictor

DEPTH_BINS = (0.0, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, np.inf)  # metres


def ratios(
    predictor: Predictor, subset: NocsSubset, angle: float
) -> dict[str, list[tuple[float, float, float]]]:
    """Per class name: (depth ratio, size ratio, true depth) of every answered object in every frame."""
    out: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    cos_limit = np.cos(np.radians(angle))
    for frame, estimates in stream_subset(predictor, subset):
        o = frame.objects
        for i in range(len(o)):
            ray = o.translations[i] / np.linalg.norm(o.translations[i])
            same = [e for e in estimates if e.class_id == o.class_ids[i]]
            near = [e for e in same if ray @ e.translation / np.linalg.norm(e.translation) >= cos_limit]
            if not near:
                continue
            e = max(near, key=lambda e: e.score)
            size = np.cbrt(np.prod(e.size) / np.prod(o.sizes[i]))
            z = float(o.translations[i][2])
            out[CLASS_NAMES[o.class_ids[i]]].append((e.translation[2] / z, size, z))
    return out


def print_table(key: str, groups: dict[str, np.ndarray]) -> None:
    """Median depth and size ratios per group of (N, 3) rows (depth ratio, size ratio, true depth),
    and over all groups."""
    if not groups:
        print("no object answered")
        return
    print(f"| {key} | objects answered | depth pred/true median | size pred/true median |")
    print("|---|---:|---:|---:|")
    for name, rows in {**groups, "all": np.concatenate(list(groups.values()))}.items():
        print(f"| {name} | {len(rows)} | {np.median(rows[:, 0]):.3f} | {np.median(rows[:, 1]):.3f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench_bias.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, required=True, help="a NOCS-layout root")
    p.add_argument("--subset", default="real_test")
    p.add_argument("--checkpoint", help="default: the embedded model")
    p.add_argument("--single-frame", action="store_true")
    p.add_argument("--angle", type=float, default=3.0, help="degrees between the centres' viewing rays")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    model, path = load_or_random(args.checkpoint)
    predictor = Predictor(model, "cpu", multi_frame=not args.single_frame)
    found = ratios(predictor, NocsSubset(args.data, args.subset), args.angle)
    mode = "single-frame" if args.single_frame else "multi-frame"
    print(
        f"{path}, {args.data}/{args.subset}, {mode}, estimates within {args.angle} degrees of an object's ray"
    )
    print_table("class", {name: np.array(found[name]) for name in CLASS_NAMES[1:] if found.get(name)})
    every = np.array([r for rows in found.values() for r in rows]).reshape(-1, 3)
    bins = np.digitize(every[:, 2], DEPTH_BINS) - 1
    print("\nThe same by the objects' true depth:\n")
    edges = [f"{DEPTH_BINS[b]:.1f}-{DEPTH_BINS[b + 1]:.1f}" for b in range(len(DEPTH_BINS) - 1)]
    print_table("true depth, m", {edges[b]: every[bins == b] for b in np.unique(bins)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
