"""Self-labelling on generated object-centric videos: alignment accuracy per category and method,
and the time to align a category, on this machine.

Methods: no alignment (each video's first camera frame), geometric ICP from the principal axes,
and the cyclic-distance alignment: geometry alone without and with the up prior (the videos'
world_up: objects stand upright), and with the SeqPose encoder's features at the paper's
appearance weight 0.2 (with the up prior). Seconds: building the clouds (depth, features) and
aligning the category. Depth sources: the videos' own depth, and the network's
depth head (--depth network). Acc@30 / Acc@10 in %, the paper's metric
(``seqpose_core.selflabel.evaluate``).

Usage: python benchmarks/bench_align.py --videos DIR [--depth video network]
       (DIR from: seqpose-synth --out DIR --object-centric 20 --frames 16 --width 160 --height 120 --seed S)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from seqpose_core.selflabel.align import AlignConfig, align_category
from seqpose_core.selflabel.cli import build_clouds, shared_up, symmetric
from seqpose_core.selflabel.evaluate import (
    accuracy,
    first_camera_rotations,
    icp_baseline,
    rotation_errors,
)
from seqpose_core.selflabel.videos import read_category, read_truth


def _row(name: str, errors: np.ndarray, seconds: float) -> str:
    cells = [f"{accuracy(errors, 30):.0f}", f"{accuracy(errors, 10):.0f}", f"{np.median(errors):.1f}"]
    return f"| {name} | {' | '.join(cells)} | {seconds:.0f} |"


def _cyclic(clouds: list, truth: np.ndarray, sym: bool, cfg: AlignConfig, built: float) -> np.ndarray:
    start = time.perf_counter()
    found = np.stack([t.rot for t in align_category(clouds, cfg).transforms])
    return rotation_errors(found, truth, sym), built + time.perf_counter() - start


def category_rows(folder: Path, depth: str) -> list[str]:
    videos = read_category(folder, need_depth=depth == "video")
    truth = np.stack([read_truth(v.path) for v in videos])
    sym, up = symmetric(videos[0].category), shared_up(videos)
    first = first_camera_rotations([v.cam_to_world for v in videos])
    rows = [_row("no alignment", rotation_errors(first, truth, sym), 0)]
    start = time.perf_counter()
    clouds = build_clouds(videos, depth, "none", None)
    built = time.perf_counter() - start
    found = np.stack([t.rot for t in icp_baseline(clouds)])
    rows.append(
        _row("ICP from principal axes", rotation_errors(found, truth, sym), time.perf_counter() - start)
    )
    geometry = AlignConfig(appearance_weight=0.0)
    rows.append(_row("cyclic, geometry alone, no up prior", *_cyclic(clouds, truth, sym, geometry, built)))
    geometry_up = AlignConfig(appearance_weight=0.0, up=up)
    rows.append(_row("cyclic, geometry alone", *_cyclic(clouds, truth, sym, geometry_up, built)))
    start = time.perf_counter()
    clouds = build_clouds(videos, depth, "seqpose", None)
    built = time.perf_counter() - start
    features = AlignConfig(appearance_weight=0.2, up=up)
    rows.append(_row("cyclic, SeqPose features (w 0.2)", *_cyclic(clouds, truth, sym, features, built)))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench_align.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--videos", type=Path, required=True, help="seqpose-synth --object-centric output")
    p.add_argument("--depth", nargs="*", default=["video"], choices=("video", "network"))
    p.add_argument("--categories", nargs="*", help="default: every category folder")
    args = p.parse_args(argv)
    folders = sorted(d for d in args.videos.iterdir() if d.is_dir())
    if args.categories:
        folders = [f for f in folders if f.name in args.categories]
    for depth in args.depth:
        for folder in folders:
            count = sum(1 for _ in folder.glob("*/video.json"))
            print(f"\n{folder.name}: {count} videos, depth from {depth}\n")
            print("| method | Acc@30 % | Acc@10 % | median deg | seconds |\n|---|---:|---:|---:|---:|")
            for row in category_rows(folder, depth):
                print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
