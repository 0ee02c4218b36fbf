"""``seqpose-synth``: synthetic NOCS-layout videos, and a contact sheet of what was generated; with
--object-centric, videos of one object each filmed on an orbit (the self-labelling's input)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2

from seqpose_core.data.nocs_dataset import SUBSETS, NocsSubset
from seqpose_core.synth.orbit import generate_videos
from seqpose_core.synth.shapes import GENERATOR_CLASSES
from seqpose_core.synth.writer import LOOKS, SynthConfig, generate
from seqpose_core.visualize import GT_COLOUR, draw_box, tile


def contact_sheet(root: str | Path, out: str | Path, per_scene: int = 3, columns: int = 4) -> Path:
    """Frames of every scene with their GT boxes drawn from the label files, tiled into one PNG."""
    images = []
    for subset in ("real_train", "real_test"):
        if not (Path(root) / SUBSETS[subset].images).is_dir():
            continue  # e.g. --test-scenes 0
        data = NocsSubset(root, subset)
        for scene in data.scenes:
            for ref in scene[:: max(1, len(scene) // per_scene)][:per_scene]:
                frame = data.load(ref)
                img = frame.rgb.copy()
                o = frame.objects
                for i in range(len(o)):
                    name = GENERATOR_CLASSES.names[o.class_ids[i]]
                    draw_box(img, frame.k, o.rotations[i], o.translations[i], o.sizes[i], GT_COLOUR, name)
                cv2.putText(
                    img,
                    f"{subset}/{frame.scene}/{frame.index:04d}",
                    (6, 16),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.45,
                    (255, 255, 255),
                    1,
                    cv2.LINE_AA,
                )
                images.append(img)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), tile(images, columns)[..., ::-1])
    return out


def _object_centric(args: argparse.Namespace, ids: list[int]) -> int:
    if args.out.exists() and any(args.out.iterdir()):
        print(f"seqpose-synth: error: {args.out} is not empty; choose a new folder", file=sys.stderr)
        return 2
    start = time.perf_counter()
    count = generate_videos(
        args.out, ids, args.object_centric, args.frames, (args.height, args.width), args.seed
    )
    print(f"wrote {count} object-centric videos to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="seqpose-synth", description=__doc__)
    p.add_argument("--out", required=True, type=Path, help="dataset root to create (NOCS layout)")
    p.add_argument("--train-scenes", type=int, default=6)
    p.add_argument("--test-scenes", type=int, default=2, help="held-out scenes: the synthetic benchmark")
    p.add_argument("--frames", type=int, default=30, help="frames per scene video")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--look",
        choices=LOOKS,
        default="randomized",
        help="randomized (default): photo and pattern textures, varied distractors, random light and"
        " camera effects, some scenes with no class; plain: the look the models up to #45 trained on",
    )
    p.add_argument("--contact-sheet", type=Path, help="also write a PNG of frames with GT boxes here")
    p.add_argument(
        "--object-centric",
        type=int,
        metavar="N",
        help="instead: N object-centric videos per category (OUT/<category>/video_i, for seqpose-align)",
    )
    p.add_argument(
        "--categories",
        nargs="+",
        default=list(GENERATOR_CLASSES.names[1:7]),
        help="the categories to generate (default: the six NOCS classes; kettle is a seventh family that"
        " no default data uses); scenes leave the others out",
    )
    args = p.parse_args(argv)
    try:
        ids = [GENERATOR_CLASSES.id(c) for c in args.categories]
    except ValueError as exc:
        print(f"seqpose-synth: error: --categories: {exc}", file=sys.stderr)
        return 2
    if args.object_centric:
        return _object_centric(args, ids)
    if (args.out / "Real").exists():
        print(f"seqpose-synth: error: {args.out}/Real exists; choose a new folder", file=sys.stderr)
        return 2
    cfg = SynthConfig(
        args.train_scenes,
        args.test_scenes,
        args.frames,
        args.height,
        args.width,
        args.seed,
        tuple(ids),
        args.look,
    )
    start = time.perf_counter()
    counts = generate(args.out, cfg, progress=lambda line: print(f"seqpose-synth: {line}", flush=True))
    seconds = time.perf_counter() - start
    total = sum(counts.values())
    print(
        f"wrote {counts['train']} train and {counts['test']} held-out test frames to {args.out} "
        f"in {seconds:.1f} s ({total / seconds:.2f} frames/s)"
    )
    if args.contact_sheet:
        print(f"contact sheet: {contact_sheet(args.out, args.contact_sheet)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
