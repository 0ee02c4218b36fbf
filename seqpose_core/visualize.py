"""Drawing 9-DoF boxes and axes on images (reports, contact sheets, annotated replays, the
node's overlay image)."""

from __future__ import annotations

import cv2
import numpy as np

from seqpose_core.estimates import UNTRACKED, PoseEstimate
from seqpose_core.geometry import BOX_EDGES, box_corners, project_points, transform_points

GT_COLOUR = (40, 200, 40)  # RGB: ground truth green, predictions red, as in the paper's figure 4
PRED_COLOUR = (230, 40, 40)


def draw_box(
    rgb: np.ndarray,
    k: np.ndarray,
    rot: np.ndarray,
    t: np.ndarray,
    size: np.ndarray,
    colour: tuple[int, int, int],
    label: str = "",
    thickness: int = 2,
) -> np.ndarray:
    """Draw the projected 3D box (and its label) in place on an RGB uint8 image; returns it."""
    corners = transform_points(rot, t, box_corners(size))
    if np.any(corners[:, 2] <= 1e-3):
        return rgb  # behind the camera: nothing sensible to draw
    px = np.round(project_points(k, corners)).astype(np.int32)
    for a, b in BOX_EDGES:
        cv2.line(rgb, tuple(map(int, px[a])), tuple(map(int, px[b])), colour, thickness, cv2.LINE_AA)
    axes = transform_points(rot, t, np.vstack([np.zeros(3), np.diag(size) * 0.5]))
    ax_px = np.round(project_points(k, axes)).astype(np.int32)
    for end, c in zip(ax_px[1:], ((255, 0, 0), (0, 255, 0), (0, 0, 255)), strict=True):
        cv2.line(rgb, tuple(map(int, ax_px[0])), tuple(map(int, end)), c, 1, cv2.LINE_AA)
    if label:
        top = px[np.argmin(px[:, 1])]
        cv2.putText(
            rgb, label, (int(top[0]), int(top[1]) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA
        )
    return rgb


def estimate_label(e: PoseEstimate) -> str:
    """Class, track id (when tracked) and score, as drawn beside a box."""
    track = f" #{e.track_id}" if e.track_id != UNTRACKED else ""
    return f"{e.class_name}{track} {e.score:.2f}"


def draw_estimates(rgb: np.ndarray, k: np.ndarray, estimates: list[PoseEstimate]) -> np.ndarray:
    """Boxes, axes and labels of the estimates drawn in place on an RGB uint8 image; returns it."""
    for e in estimates:
        draw_box(rgb, k, e.rotation, e.translation, e.size, PRED_COLOUR, estimate_label(e))
    return rgb


def tile(images: list[np.ndarray], columns: int) -> np.ndarray:
    """Grid of equally sized images (missing cells black)."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return sheet
