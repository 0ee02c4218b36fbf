"""Checks of the Predictor's inputs, numpy only (the ROS converters use them too).

Every check raises InputError (a ValueError) naming the input and what is wrong: bad input,
as opposed to an error of the program, which callers must not confuse with it. Images whose shape would
make the resize to the network input cost memory out of proportion to their bytes (a
2 x 16000 sliver) are refused rather than processed.
"""

from __future__ import annotations

import math

import numpy as np


class InputError(ValueError):
    """An input the Predictor cannot use; the message names it and says what is wrong."""


MIN_SIDE = 16  # pixels: a shorter side carries nothing to detect
MAX_ASPECT = 8.0  # long side / short side: covering the input from a sliver costs memory linear in its length


def check_inputs(rgb: np.ndarray, k: np.ndarray, stamp: float) -> None:
    """Raise InputError naming the input that is malformed or would cost unbounded work."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise InputError(
            f"rgb must be a uint8 H x W x 3 array, got {getattr(rgb, 'dtype', type(rgb))} {shape}"
        )
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_ASPECT * min(h, w):
        raise InputError(
            f"rgb of {w} x {h} pixels is outside the accepted shapes: sides of at least {MIN_SIDE}"
            f" pixels and an aspect ratio of at most {MAX_ASPECT:g}"
        )
    check_intrinsics(np.asarray(k, dtype=np.float64), w, h)
    if not math.isfinite(stamp):
        raise InputError(f"stamp must be a finite time in seconds, got {stamp}")


def check_camera_motion(transform: np.ndarray, name: str = "camera_motion") -> None:
    """A camera motion (p_current = T @ p_previous) or pose must be a finite 4 x 4 transform."""
    if transform.shape != (4, 4) or not np.all(np.isfinite(transform)):
        raise InputError(f"{name} must be a finite 4 x 4 transform, got {transform.tolist()}")


def check_intrinsics(k: np.ndarray, width: int, height: int) -> None:
    """K must be a pinhole matrix plausible for a width x height image: last row (0, 0, 1),
    focal lengths between 0.05 and 50 image widths, principal point within one image size of
    the image."""
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise InputError(f"K must be a finite 3 x 3 intrinsics matrix, got {k.tolist()}")
    if not np.array_equal(k[2], [0.0, 0.0, 1.0]):
        raise InputError(f"K's last row must be (0, 0, 1), got {k[2].tolist()}")
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if not (0.05 * width <= fx <= 50 * width and 0.05 * width <= fy <= 50 * width):
        raise InputError(
            f"K has fx = {fx:g}, fy = {fy:g}: implausible for an image {width} pixels wide"
            " (expected 0.05 to 50 widths)"
        )
    if not (-width <= cx <= 2 * width and -height <= cy <= 2 * height):
        raise InputError(
            f"K's principal point ({cx:g}, {cy:g}) lies far outside the {width} x {height} image"
        )
