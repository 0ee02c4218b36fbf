"""``seqpose-align``: align the object-centric videos of one category into one canonical frame.

    seqpose-align VIDEOS_DIR [--depth video|network] [--masks auto|video|geometry|network]
                  [--features imagenet|seqpose|none] [--out FILE] [--labels DIR]

VIDEOS_DIR holds one folder per video (``seqpose_core.selflabel.videos``). Writes, per video,
its world -> canonical similarity (4x4; canonical: the reference's cloud centred with unit box
diagonal, y up when the videos know the fixed frame's up) and its alignment score, as JSON.

What each mode needs: ``--depth video`` the videos' depth (an RGB-D recording); ``--depth
network`` nothing but RGB (the network's depth head). ``--masks geometry`` finds the object
from depth and the camera poses (``seqpose_core.selflabel.segment``: support plane, the
cluster the orbit looks at); ``network`` takes the segmentation head's foreground; ``video``
the folder's own mask/ (generated videos); ``auto`` the folder's own, else geometry where
depth and up are known, else the network's. A SeqPose network (features, depth or masks)
comes from --checkpoint or the embedded model; random weights are refused unless
--allow-random-network.

With --evaluate, each video's truth (its truth.json, or TRUTH_DIR/<video>.truth.json beside
the bags) scores the alignment with the paper's rotation accuracy and the labels' rotation,
centre and size errors. With --labels, every frame is written as NOCS-layout training data
(``seqpose_core.selflabel.labels``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from seqpose_core.assets import load_or_random
from seqpose_core.categories import NOCS, Category
from seqpose_core.selflabel.align import AlignConfig, CategoryAlignment, align_category
from seqpose_core.selflabel.evaluate import accuracy, label_errors, rotation_errors
from seqpose_core.selflabel.labels import existing_scenes, label_classes, object_in_world, write_video_labels
from seqpose_core.selflabel.network import ImagenetFeatures, NetworkMaps
from seqpose_core.selflabel.reconstruct import Cloud, build_cloud
from seqpose_core.selflabel.refine import refine_poses
from seqpose_core.selflabel.segment import Plane, geometry_masks
from seqpose_core.selflabel.videos import ObjectVideo, VideoError, read_category, read_truth_file

MASK_MODES = ("auto", "video", "geometry", "network")


def network_maps(checkpoint: str | None, allow_random: bool) -> NetworkMaps:
    """The SeqPose network's maps; random weights only when allowed (they see nothing)."""
    model, path = load_or_random(checkpoint)
    if path is None and not allow_random:
        raise VideoError(
            "no SeqPose checkpoint (none given, none embedded): random weights give meaningless depth,"
            " masks and features; pass --checkpoint, use --features imagenet, or --allow-random-network"
        )
    return NetworkMaps(model, torch.device("cpu"))


def mask_mode(video: ObjectVideo, asked: str, depth: np.ndarray | None) -> str:
    """Which masks a video gets: the asked mode, or for auto its own, else geometry, else network."""
    if asked != "auto":
        return asked
    if video.mask is not None:
        return "video"
    return "geometry" if depth is not None and video.world_up is not None else "network"


def object_masks(
    video: ObjectVideo, mode: str, depth: np.ndarray | None, net_masks: np.ndarray | None
) -> tuple[np.ndarray, Plane | None]:
    """(F, H, W) bool masks of the video's object by the mode, and the plane it stands on when
    the mode finds one; errors name the video."""
    if mode == "video":
        if video.mask is None:
            raise VideoError(f"{video.path}: no mask/ folder (--masks video); use geometry or network")
        return video.mask, None
    if mode == "geometry":
        if depth is None or video.world_up is None:
            raise VideoError(f"{video.path}: --masks geometry needs depth and the fixed frame's up")
        return geometry_masks(video, depth, video.world_up)
    return net_masks, None


def build_clouds(
    videos: list[ObjectVideo],
    depth: str = "video",
    masks: str = "auto",
    features: str = "none",
    checkpoint: str | None = None,
    allow_random: bool = False,
    refine: bool = True,
) -> tuple[list[ObjectVideo], list[Cloud], list[str]]:
    """Every video with its object masks, its cloud, and the mask mode it got. depth: 'video' or
    'network'; masks: one of MASK_MODES; features: 'imagenet', 'seqpose' or 'none'; refine: the
    camera poses of videos with depth refined against their own depth (``refine_poses``)."""
    modes = [mask_mode(v, masks, v.depth if depth == "video" else None) for v in videos]
    needs_net = depth == "network" or "network" in modes or features == "seqpose"
    maps = network_maps(checkpoint, allow_random) if needs_net else None
    feature_fn = (
        maps
        if features == "seqpose"
        else ImagenetFeatures(torch.device("cpu"))
        if features == "imagenet"
        else None
    )
    out, clouds = [], []
    start = time.perf_counter()
    for i, (v, mode) in enumerate(zip(videos, modes, strict=True)):
        print(
            f"{v.name}: video {i + 1} of {len(videos)}, {len(v.rgb)} frames, {mode} masks"
            f" ({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        if refine and depth == "video" and v.depth is not None:
            v = refine_poses(v, v.depth)
        # the network runs once per frame for both its depth and its masks
        net = [maps.depth_and_mask(rgb) for rgb in v.rgb] if depth == "network" or mode == "network" else []
        d = v.depth if depth == "video" else np.stack([p[0] for p in net])
        masks, plane = object_masks(v, mode, d, np.stack([p[1] for p in net]) if net else None)
        v = replace(v, mask=masks)
        out.append(v)
        clouds.append(build_cloud(v, feature_fn, d, v.mask, plane))
    return out, clouds, modes


def shared_up(videos: list[ObjectVideo]) -> tuple[float, float, float] | None:
    """The up direction every video gives (within 1 degree), else None: no prior."""
    ups = [v.world_up for v in videos]
    if any(u is None for u in ups) or any(float(u @ ups[0]) < np.cos(np.radians(1)) for u in ups):
        return None
    return tuple(float(x) for x in ups[0])


def category_rule(name: str, symmetric: bool) -> Category:
    """A NOCS class with its own rule, or a new category (symmetric about up or not)."""
    if name not in NOCS.names[1:]:
        return Category(name, symmetric=symmetric)
    if symmetric:
        raise VideoError(f"--symmetric is for new categories; {name!r} keeps the NOCS rule")
    return NOCS.items[NOCS.id(name) - 1]


def truths(videos: list[ObjectVideo], truth_dir: Path | None) -> list[tuple[np.ndarray, ...]]:
    """Each video's true object -> world rotation, centre and size (evaluation only)."""
    files = [truth_dir / f"{v.name}.truth.json" if truth_dir else v.path / "truth.json" for v in videos]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise VideoError(f"no truth for --evaluate: {missing[:3]}")
    return [read_truth_file(f) for f in files]


def evaluate_alignment(
    videos: list[ObjectVideo],
    clouds: list[Cloud],
    result: CategoryAlignment,
    truth_dir: Path | None,
    sym: bool,
) -> dict[str, float]:
    """Acc@30 and Acc@10 (%) of the alignment, and the labels' median errors against the truth."""
    truth = truths(videos, truth_dir)
    found = np.stack([t.rot for t in result.transforms])
    errors = rotation_errors(found, np.stack([t[0] for t in truth]), sym)
    labels = [object_in_world(c, t) for c, t in zip(clouds, result.transforms, strict=True)]
    quality = label_errors(labels, truth, sym)
    return {
        "acc30": accuracy(errors, 30),
        "acc10": accuracy(errors, 10),
        "median_deg": float(np.median(errors)),
        **{k: float(np.median(v)) for k, v in quality.items()},
    }


def write_labels(
    root: Path,
    first_scene: int,
    category: Category,
    videos: list[ObjectVideo],
    clouds: list[Cloud],
    result: CategoryAlignment,
) -> None:
    """Every video's labels as scenes first_scene.. of root, with the folder's class list."""
    cls = label_classes(root, category).id(category.name)
    frames = sum(
        write_video_labels(root, first_scene + i, v, object_in_world(c, t), cls)
        for i, (v, c, t) in enumerate(zip(videos, clouds, result.transforms, strict=True))
    )
    print(f"wrote {frames} labelled {category.name} frames (class id {cls}) to {root}/Real/train")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="seqpose-align", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("videos", type=Path, help="folder of one category's video folders")
    p.add_argument("--depth", choices=("video", "network"), default="video")
    p.add_argument("--masks", choices=MASK_MODES, default="auto")
    p.add_argument(
        "--features",
        choices=("imagenet", "seqpose", "none"),
        default="imagenet",
        help="appearance: ImageNet EfficientNet-Lite0, the SeqPose network's z_0, or geometry alone",
    )
    p.add_argument("--appearance-weight", type=float, default=0.2, help="0: geometry alone")
    p.add_argument("--checkpoint", help="SeqPose weights for depth, masks or features (default: embedded)")
    p.add_argument("--allow-random-network", action="store_true", help="accept a random-weight network")
    p.add_argument("--out", type=Path, help="JSON output (default: VIDEOS/alignment.json)")
    p.add_argument(
        "--no-refine",
        action="store_true",
        help="keep TF's camera poses (default: refined against each video's own depth, which a"
        " hand-eye calibration error would otherwise smear)",
    )
    p.add_argument(
        "--no-up-prior", action="store_true", help="ignore the videos' world_up (objects not upright)"
    )
    p.add_argument("--evaluate", action="store_true", help="score against the truth (generated videos)")
    p.add_argument("--truth", type=Path, help="folder of <video>.truth.json (generated bags' truth)")
    p.add_argument("--labels", type=Path, help="also write NOCS-layout training labels: LABELS/Real/train")
    p.add_argument(
        "--append",
        action="store_true",
        help="--labels into a folder that has scenes: add these after them (numbering continues)",
    )
    p.add_argument(
        "--symmetric",
        action="store_true",
        help="a new category (not a NOCS class) that is symmetric about its up axis (a bottle-like body)",
    )
    args = p.parse_args(argv)
    if args.truth is not None and not args.evaluate:
        p.error("--truth is read by --evaluate alone: add --evaluate, or drop --truth")
    return args


def first_label_scene(args: argparse.Namespace, category: Category) -> int:
    """Checks of --labels and --checkpoint before any long work -> the first scene number to write.
    A folder with scenes is refused unless --append; a class list that gives the category another
    rule is refused; a missing checkpoint is named."""
    if args.checkpoint and not Path(args.checkpoint).is_file():
        raise VideoError(f"--checkpoint {args.checkpoint}: no such file")
    if not args.labels:
        return 1
    scenes = existing_scenes(args.labels)
    if scenes and not args.append:
        raise VideoError(
            f"--labels {args.labels} already holds {len(scenes)} scenes (up to scene_{scenes[-1]}):"
            " add --append to continue after them, or choose a new folder"
        )
    label_classes(args.labels, category, write=False)
    return scenes[-1] + 1 if scenes else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        videos = read_category(args.videos, need_depth=args.depth == "video")
        category = category_rule(videos[0].category, args.symmetric)
        first_scene = first_label_scene(args, category)
        if args.evaluate:
            truths(videos, args.truth)  # missing truth files are named now, not after the alignment
        videos, clouds, modes = build_clouds(
            videos,
            args.depth,
            args.masks,
            args.features,
            args.checkpoint,
            args.allow_random_network,
            not args.no_refine,
        )
    except (VideoError, ValueError) as exc:  # ValueError: a category name no model can carry
        print(f"seqpose-align: error: {exc}", file=sys.stderr)
        return 2
    weight = args.appearance_weight if args.features != "none" else 0.0
    up = None if args.no_up_prior else shared_up(videos)
    result = align_category(clouds, AlignConfig(appearance_weight=weight, up=up))
    doc = {
        "category": videos[0].category,
        "reference": result.reference,
        "depth": args.depth,
        "masks": dict(zip(result.names, modes, strict=True)),
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
        write_labels(args.labels, first_scene, category, videos, clouds, result)
    if args.evaluate:
        try:
            print(json.dumps(evaluate_alignment(videos, clouds, result, args.truth, category.symmetric)))
        except VideoError as exc:
            print(f"seqpose-align: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
