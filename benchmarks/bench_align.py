"""Self-labelling on generated object-centric videos: alignment accuracy per category and method,
the labels' quality, and the time to align a category, on this machine.

Methods: no alignment (each video's first camera frame), geometric ICP (from the principal
axes, and with the up prior: turns about up), and the cyclic-distance alignment: geometry alone
without and with the up prior (the videos' world_up: objects stand upright), and with
appearance features at the paper's weight 0.2 (with the up prior): ImageNet EfficientNet-Lite0
and, with --seqpose, the embedded SeqPose encoder's. Seconds: building the clouds (depth, masks,
features) and aligning the category. Depth: the videos' own (--depth video; masks: the folder's
own, else found from depth and geometry) or the network's depth head and masks (--depth
network: RGB only). Acc@30 / Acc@10 in %, the paper's metric; the labels' median rotation
(degrees, after the global rotation), centre (cm) and largest relative size error (%), per
method (``seqpose_core.selflabel.evaluate``).

Usage: python benchmarks/bench_align.py --videos DIR [--truth DIR] [--depth video network]
       DIR: seqpose-synth --out DIR --object-centric 20 --frames 16 --width 160 --height 120 --seed S,
       or videos written by seqpose-video from seqpose-orbits bags (--truth: the bags' folder,
       with one sub-folder per category as in DIR)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from seqpose_core.selflabel.align import AlignConfig, Similarity, align_category
from seqpose_core.selflabel.cli import build_clouds, category_rule, shared_up, truths
from seqpose_core.selflabel.evaluate import (
    accuracy,
    first_camera_rotations,
    icp_baseline,
    label_errors,
    rotation_errors,
)
from seqpose_core.selflabel.labels import object_in_world
from seqpose_core.selflabel.videos import read_category

HEAD = "| method | Acc@30 % | Acc@10 % | median deg | label deg | label cm | label size % | seconds |"


def _row(name: str, errors: np.ndarray, seconds: float, labels: dict | None = None) -> str:
    cells = [f"{accuracy(errors, 30):.0f}", f"{accuracy(errors, 10):.0f}", f"{np.median(errors):.1f}"]
    if labels is None:
        cells += ["-", "-", "-"]
    else:
        cells += [
            f"{np.median(labels['label_rotation_deg']):.1f}",
            f"{100 * np.median(labels['label_centre_m']):.2f}",
        ]
        cells.append(f"{100 * np.median(labels['label_size_rel']):.1f}")
    return f"| {name} | {' | '.join(cells)} | {seconds:.0f} |"


class Category:
    """One category's videos, their truth and clouds, scored method by method."""

    def __init__(self, folder: Path, depth: str, truth_dir: Path | None):
        self.depth, self.masks = depth, "network" if depth == "network" else "auto"
        self.videos = read_category(folder, need_depth=depth == "video")
        self.truth = truths(self.videos, truth_dir)
        self.rotations = np.stack([t[0] for t in self.truth])
        self.sym = category_rule(self.videos[0].category, False).symmetric
        self.up = shared_up(self.videos)

    def clouds(self, features: str) -> tuple[list, float]:
        start = time.perf_counter()
        _, clouds, _ = build_clouds(self.videos, self.depth, self.masks, features)
        return clouds, time.perf_counter() - start

    def score(self, name: str, clouds: list, transforms: list[Similarity], seconds: float) -> str:
        found = np.stack([t.rot for t in transforms])
        labels = [object_in_world(c, t) for c, t in zip(clouds, transforms, strict=True)]
        quality = label_errors(labels, self.truth, self.sym)
        return _row(name, rotation_errors(found, self.rotations, self.sym), seconds, quality)

    def cyclic(self, name: str, clouds: list, cfg: AlignConfig, built: float) -> str:
        start = time.perf_counter()
        transforms = align_category(clouds, cfg).transforms
        return self.score(name, clouds, transforms, built + time.perf_counter() - start)

    def icp(self, name: str, clouds: list, up: np.ndarray | None, built: float) -> str:
        start = time.perf_counter()
        transforms = icp_baseline(clouds, up=up)
        return self.score(name, clouds, transforms, built + time.perf_counter() - start)


def category_rows(folder: Path, depth: str, truth_dir: Path | None, seqpose: bool) -> list[str]:
    cat = Category(folder, depth, truth_dir)
    first = first_camera_rotations([v.cam_to_world for v in cat.videos])
    rows = [_row("no alignment", rotation_errors(first, cat.rotations, cat.sym), 0)]
    clouds, built = cat.clouds("none")
    up = None if cat.up is None else np.asarray(cat.up)
    rows.append(cat.icp("ICP from principal axes", clouds, None, built))
    rows.append(cat.icp("ICP, up prior", clouds, up, built))
    geometry = AlignConfig(appearance_weight=0.0)
    rows.append(cat.cyclic("cyclic, geometry alone, no up prior", clouds, geometry, built))
    rows.append(
        cat.cyclic("cyclic, geometry alone", clouds, AlignConfig(appearance_weight=0.0, up=cat.up), built)
    )
    features = AlignConfig(appearance_weight=0.2, up=cat.up)
    for name in ("imagenet", "seqpose") if seqpose else ("imagenet",):
        clouds, built = cat.clouds(name)
        rows.append(cat.cyclic(f"cyclic, {name} features (w 0.2)", clouds, features, built))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench_align.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--videos", type=Path, required=True, help="seqpose-synth --object-centric output")
    p.add_argument("--depth", nargs="*", default=["video"], choices=("video", "network"))
    p.add_argument("--categories", nargs="*", help="default: every category folder")
    p.add_argument("--truth", type=Path, help="bags' folder: TRUTH/<category>/<video>.truth.json")
    p.add_argument("--seqpose", action="store_true", help="also the embedded SeqPose encoder's features")
    args = p.parse_args(argv)
    folders = sorted(d for d in args.videos.iterdir() if d.is_dir())
    if args.categories:
        folders = [f for f in folders if f.name in args.categories]
    for depth in args.depth:
        for folder in folders:
            count = sum(1 for _ in folder.glob("*/video.json"))
            print(f"\n{folder.name}: {count} videos, depth from {depth}\n")
            print(f"{HEAD}\n|---|---:|---:|---:|---:|---:|---:|---:|")
            truth = args.truth / folder.name if args.truth else None
            for row in category_rows(folder, depth, truth, args.seqpose):
                print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
