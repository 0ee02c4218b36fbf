"""A model on real photographs it was never trained on: scikit-image's photos (shipped in its wheel),
with a plausible K (fx = fy = 0.9 x width, the principal point at the centre), single-frame.

Prints every estimate above the threshold (class, score, distance, size) per photo and writes
one sheet with the boxes drawn.

Usage: python benchmarks/real_photos.py [--checkpoint FILE] [--out docs/real_photos.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from seqpose_core.assets import load_or_random
from seqpose_core.predictor import Predictor
from seqpose_core.visualize import draw_estimates, tile

PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


def plausible_k(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.array([[0.9 * w, 0.0, w / 2], [0.0, 0.9 * w, h / 2], [0.0, 0.0, 1.0]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="real_photos.py", description=__doc__)
    p.add_argument("--checkpoint", help="default: the embedded model")
    p.add_argument("--threshold", type=float, default=0.2, help="the node's default")
    p.add_argument("--out", type=Path, default=Path("reports/real_photos.png"))
    args = p.parse_args(argv)
    model, path = load_or_random(args.checkpoint)
    print(f"model: {path or 'random weights'}")
    sheets = []
    for name in PHOTOS:
        rgb = getattr(data, name)()
        predictor = Predictor(model, "cpu", multi_frame=False, score_threshold=args.threshold)
        estimates = predictor.step(rgb, plausible_k(rgb), 0.0).estimates
        print(f"{name} ({rgb.shape[1]}x{rgb.shape[0]}): {len(estimates)} estimates")
        for e in estimates:
            size = ", ".join(f"{100 * s:.0f}" for s in e.size)
            print(f"  {e.class_name} {e.score:.2f} at {e.translation[2]:.2f} m, size {size} cm")
        sheets.append(cv2.resize(draw_estimates(rgb, plausible_k(rgb), estimates), (400, 300)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), tile(sheets, 2)[..., ::-1])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
