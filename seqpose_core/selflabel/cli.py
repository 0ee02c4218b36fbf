"""``seqpose-align``: align the object-centric videos of one category into one canonical frame.

    seqpose-align VIDEOS_DIR [--depth video|network] [--features seqpose|none] [--out FILE]

VIDEOS_DIR holds one folder per video (``seqpose_core.selflabel.videos``). Writes, per video,
its world -> canonical similarity (4x4; canonical: the reference's cloud centred with unit box
diagonal) and its alignment score, as JSON. With --evaluate, videos that carry truth.json
(generated ones) are scored with the paper's rotation accuracy. With --labels, every frame is
written as NOCS-layout training data (``seqpose_core.selflabel.labels``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seqpose_core.assets import load_or_random
from seqpose_core.categories import SYMMETRIC_CLASS_IDS, class_id
from seqpose_core.selflabel.align import AlignConfig, CategoryAlignment, align_category
from seqpose_core.selflabel.evaluate import accuracy, rotation_errors
from seqpose_core.selflabel.labels import object_in_world, write_video_labels
from seqpose_core.selflabel.network import NetworkMaps
from seqpose_core.selflabel.reconstruct import Cloud, build_cloud
from seqpose_core.selflabel.videos import ObjectVideo, VideoError, read_category, read_truth


def build_clouds(videos: list[ObjectVideo], depth: str, features: str, checkpoint: str | None) -> list[Cloud]:
    """Clouds of every video; depth 'video' or 'network', features 'seqpose' or 'none'."""
    maps = None
    if depth == "network" or features == "seqpose":
        model, _ = load_or_random(checkpoint)
        maps = NetworkMaps(model, torch.device("cpu"))
    clouds = []
    for v in videos:
        d = m = None
        if depth == "network":
            pairs = [maps.depth_and_mask(rgb) for rgb in v.rgb]
            d = np.stack([p[0] for p in pairs])
            m = v.mask if v.mask is not None else np.stack([p[1] for p in pairs])
        clouds.append(build_cloud(v, maps if features == "seqpose" else None, d, m))
    return clouds


def shared_up(videos: list[ObjectVideo]) -> tuple[float, float, float] | None:
    """The up direction every video gives (within 1 degree), else None: no prior."""
    ups = [v.world_up for v in videos]
    if any(u is None for u in ups) or any(float(u @ ups[0]) < np.cos(np.radians(1)) for u in ups):
        return None
    return tuple(float(x) for x in ups[0])


def symmetric(category: str) -> bool:
    return class_id(category) in SYMMETRIC_CLASS_IDS


def evaluate_alignment(videos: list[ObjectVideo], result: CategoryAlignment) -> dict[str, float]:
    """Acc@30 and Acc@10 (%) of an alignment of generated videos."""
    found = np.stack([t.rot for t in result.transforms])
    truth = np.stack([read_truth(v.path) for v in videos])
    errors = rotation_errors(found, truth, symmetric(videos[0].category))
    return {
        "acc30": accuracy(errors, 30),
        "acc10": accuracy(errors, 10),
        "median_deg": float(np.median(errors)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqpose-align", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("videos", type=Path, help="folder of one category's video folders")
    p.add_argument("--depth", choices=("video", "network"), default="video")
    p.add_argument("--features", choices=("seqpose", "none"), default="seqpose")
    p.add_argument("--appearance-weight", type=float, default=0.2, help="0: geometry alone")
    p.add_argument("--checkpoint", help="SeqPose weights for features / depth (default: the embedded model)")
    p.add_argument("--out", type=Path, help="JSON output (default: VIDEOS/alignment.json)")
    p.add_argument(
        "--no-up-prior", action="store_true", help="ignore the videos' world_up (objects not upright)"
    )
    p.add_argument("--evaluate", action="store_true", help="score against truth.json (generated videos)")
    p.add_argument("--labels", type=Path, help="also write NOCS-layout training labels: LABELS/Real/train")
    p.add_argument("--first-scene", type=int, default=1, help="scene number of the first video's labels")
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        videos = read_category(args.videos, need_depth=args.depth == "video")
        clouds = build_clouds(videos, args.depth, args.features, args.checkpoint)
    except VideoError as exc:
        print(f"seqpose-align: error: {exc}", file=sys.stderr)
        return 2
    weight = args.appearance_weight if args.features != "none" else 0.0
    up = None if args.no_up_prior else shared_up(videos)
    result = align_category(clouds, AlignConfig(appearance_weight=weight, up=up))
    doc = {
        "category": videos[0].category,
        "reference": result.reference,
        "depth": args.depth,
        "features": args.features if weight > 0 else "none (geometry alone)",
        "up_prior": up,
        "videos": {
            n: {"world_to_canonical": t.matrix().tolist(), "score": s}
            for n, t, s in zip(result.names, result.transforms, result.scores, strict=True)
        },
    }
    out = args.out or args.videos / "alignment.json"
    out.write_text(json.dumps(doc, indent=1))
    seconds = time.perf_counter() - start
    print(f"aligned {len(videos)} {doc['category']} videos to {result.reference} in {seconds:.1f} s: {out}")
    if args.labels:
        frames = sum(
            write_video_labels(args.labels, args.first_scene + i, v, object_in_world(c, t))
            for i, (v, c, t) in enumerate(zip(videos, clouds, result.transforms, strict=True))
        )
        print(f"wrote {frames} labelled frames to {args.labels}/Real/train")
    if args.evaluate:
        print(json.dumps(evaluate_alignment(videos, result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
