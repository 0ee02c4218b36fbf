"""Simulated result sets in the NOCS format, for benchmarks, tests and tool demonstrations.

Ground truth is drawn like a tabletop scene (objects 0.4-1.2 m in front of the camera,
upright with random yaw, per-class metric sizes); predictions are the ground truth
disturbed by a chosen noise, some missed, plus false positives. No model is involved.
"""

from __future__ import annotations

import numpy as np

from seqpose_core.evaluation.results import ImageResult, image_result_from_poses
from seqpose_core.geometry import rotation_about_y

# Typical metric extents (x, y, z) in metres per class 1..6, y is up.
CLASS_SIZES = np.array(
    [
        [0.08, 0.22, 0.08],  # bottle
        [0.16, 0.07, 0.16],  # bowl
        [0.12, 0.09, 0.10],  # camera
        [0.07, 0.12, 0.07],  # can
        [0.33, 0.22, 0.25],  # laptop
        [0.12, 0.10, 0.09],  # mug
    ]
)


def _tilt(rng: np.random.Generator, n: int, max_rad: float) -> np.ndarray:
    """Small random rotations about random axes (Rodrigues): (n, 3, 3)."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.uniform(0, max_rad, n)
    k = np.zeros((n, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= np.swapaxes(k, 1, 2)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def _objects(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    cls = rng.integers(1, 7, n)
    # Camera looks down at the table: objects' y axis points up, i.e. towards -y_cam.
    look_down = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]]) @ rotation_about_y(0.0)
    rot = _tilt(rng, n, 0.5) @ look_down @ rotation_about_y(rng.uniform(0, 2 * np.pi, n))
    t = np.stack([rng.uniform(-0.3, 0.3, n), rng.uniform(-0.15, 0.2, n), rng.uniform(0.4, 1.2, n)], 1)
    size = CLASS_SIZES[cls - 1] * rng.uniform(0.75, 1.25, (n, 1)) * rng.uniform(0.9, 1.1, (n, 3))
    return cls, rot, t, size


def simulate_results(
    num_images: int,
    seed: int = 0,
    objects_per_image: tuple[int, int] = (1, 3),
    max_predictions: int = 50,
    noise_deg: float = 8.0,
    noise_m: float = 0.02,
    miss_rate: float = 0.1,
) -> list[ImageResult]:
    """Draw ``num_images`` results: GT objects plus noisy detections and false positives.

    Each image gets ``max_predictions`` predictions at most: one per found object (score
    0.5-1) and the rest low-scored false positives of random classes (score 0-0.6).
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num_images):
        n = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
        g = _objects(rng, n)
        found = rng.random(n) >= miss_rate
        m = int(found.sum())
        rot = _tilt(rng, m, np.radians(noise_deg)) @ g[1][found]
        t = g[2][found] + rng.normal(0, noise_m / np.sqrt(3), (m, 3))
        size = g[3][found] * rng.uniform(0.85, 1.15, (m, 3))
        n_fp = int(rng.integers(0, max_predictions - m + 1))
        fp = _objects(rng, n_fp)
        pred = tuple(np.concatenate([a, b]) for a, b in zip((g[0][found], rot, t, size), fp, strict=True))
        scores = np.concatenate([rng.uniform(0.5, 1.0, m), rng.uniform(0.0, 0.6, n_fp)])
        handles = rng.random(n) < 0.7
        out.append(image_result_from_poses(f"sim/{i:05d}", g, handles, pred, scores))
    return out


def main(argv: list[str] | None = None) -> None:
    """Write a simulated result set as seqpose JSON (``python -m seqpose_core.evaluation.simulate``)."""
    import argparse

    from seqpose_core.evaluation.results import save_results_json

    parser = argparse.ArgumentParser(description="Write simulated NOCS results (GT + noisy detections).")
    parser.add_argument("--images", type=int, default=2754)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    results = simulate_results(args.images, seed=args.seed, objects_per_image=(1, 2))
    save_results_json(results, args.out)
    print(f"wrote {len(results)} simulated images to {args.out}")


if __name__ == "__main__":
    main()
