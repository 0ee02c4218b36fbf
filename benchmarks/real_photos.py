"""Models on real photographs: how many objects they invent, and what they find where a class is.

The photos and their roles are named in one place, ``seqpose_core/data/photos.py``. With
``--photos evaluation`` (the default) this reports on the photos kept out of training:

- the negatives (none of the classes): boxes per photo at the node's threshold, and the share
  of photos with none;
- the positives: every box on them; the coffee cup should be one box, a mug, 8-14 cm across.

``--photos validation`` reports the same on the validation photos (all negatives, never trained
on): the photos a recipe is chosen on. ``--photos training`` reports on the training-side ones.
Every photo gets a plausible K (fx = fy = 0.9 x width, the principal point at the centre) and is
run single-frame, as a first frame on a robot would be.

Usage: python benchmarks/real_photos.py [--checkpoint FILE ...] [--photos evaluation|validation|training]
    [--sheet docs/real_photos_NAME.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from seqpose_core.assets import load_or_random
from seqpose_core.data.photos import (
    EVALUATION_NEGATIVES,
    EVALUATION_POSITIVES,
    TRAINING_PHOTOS,
    VALIDATION_NEGATIVES,
    load_photo,
)
from seqpose_core.estimates import PoseEstimate
from seqpose_core.predictor import Predictor
from seqpose_core.visualize import draw_estimates, tile

MUG_SIZE_M = (0.08, 0.14)  # the coffee cup's plausible largest extent


def plausible_k(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.array([[0.9 * w, 0.0, w / 2], [0.0, 0.9 * w, h / 2], [0.0, 0.0, 1.0]])


def describe(e: PoseEstimate) -> str:
    size = "x".join(f"{100 * s:.0f}" for s in e.size)
    return f"{e.class_name} {e.score:.2f} at {e.translation[2]:.2f} m, {size} cm"


def coffee_ok(estimates: list[PoseEstimate]) -> bool:
    """One box, a mug, of a plausible size."""
    if len(estimates) != 1 or estimates[0].class_name != "mug":
        return False
    return MUG_SIZE_M[0] <= float(np.max(estimates[0].size)) <= MUG_SIZE_M[1]


def run_photos(
    checkpoint: str | None, names: list[str], threshold: float
) -> tuple[dict[str, list[PoseEstimate]], list[np.ndarray]]:
    """Estimates per photo and the annotated photos (400x300)."""
    model, path = load_or_random(checkpoint)
    print(f"model: {path or 'random weights'}")
    found, sheets = {}, []
    for name in names:
        rgb = load_photo(name)
        predictor = Predictor(model, "cpu", multi_frame=False, score_threshold=threshold)
        found[name] = predictor.step(rgb, plausible_k(rgb), 0.0).estimates
        print(
            f"  {name} ({rgb.shape[1]}x{rgb.shape[0]}): " + ("; ".join(map(describe, found[name])) or "none")
        )
        drawn = draw_estimates(rgb.copy(), plausible_k(rgb), found[name])
        sheets.append(cv2.resize(drawn, (400, 300)))
    return found, sheets


def summary(found: dict[str, list[PoseEstimate]], negatives: list[str]) -> str:
    counts = [len(found[n]) for n in negatives]
    line = (
        f"negatives: {np.mean(counts):.2f} boxes per photo, {100 * np.mean(np.equal(counts, 0)):.0f} %"
        f" of {len(counts)} photos with none"
    )
    if "coffee" in found:
        line += f"; coffee cup one mug of 8-14 cm: {'yes' if coffee_ok(found['coffee']) else 'no'}"
    return line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="real_photos.py", description=__doc__)
    p.add_argument("--checkpoint", nargs="*", default=[None], help="default: the embedded model")
    p.add_argument("--photos", choices=("evaluation", "validation", "training"), default="evaluation")
    p.add_argument("--threshold", type=float, default=0.2, help="the node's default")
    p.add_argument("--sheet", type=Path, help="write the last checkpoint's annotated photos here")
    args = p.parse_args(argv)
    if args.photos != "evaluation":
        negatives = list(TRAINING_PHOTOS if args.photos == "training" else VALIDATION_NEGATIVES)
        names = negatives
    else:
        negatives, names = list(EVALUATION_NEGATIVES), [*EVALUATION_NEGATIVES, *EVALUATION_POSITIVES]
    lines = []
    for checkpoint in args.checkpoint:
        found, sheets = run_photos(checkpoint, names, args.threshold)
        lines.append(f"{checkpoint or 'embedded'}: {summary(found, negatives)}")
    print(f"\n{args.photos} photos, threshold {args.threshold}:")
    print("\n".join(lines))
    if args.sheet:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.sheet), tile(sheets, 4)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
