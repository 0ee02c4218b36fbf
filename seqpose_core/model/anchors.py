"""3D query anchors: points in the camera frustum, stored as logits of (u, v, depth).

u, v are fractions of the image width and height, depth a fraction of ``depth_range``;
with the intrinsics they give a 3D point in the optical frame (x right, y down, z forward).
"""

from __future__ import annotations

import torch


def _scale_xy(xy: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    """(..., 2) -> (x * sx, y * sy) with Python scalars: a tensor of (sx, sy) would be a
    host-to-device copy on every call on a GPU."""
    return torch.cat([xy[..., :1] * sx, xy[..., 1:] * sy], -1)


def focal_and_centre(k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """k (B, 3, 3) -> focal lengths (fx, fy) and principal point (cx, cy), each (B, 1, 2)."""
    return k.diagonal(dim1=1, dim2=2)[:, None, :2], k[:, None, :2, 2]


def anchors_to_points(
    logits: torch.Tensor, k: torch.Tensor, hw: tuple[int, int], depth_range: tuple[float, float]
) -> torch.Tensor:
    """logits (B, Q, 3), k (B, 3, 3), hw = image (H, W) -> camera-frame points (B, Q, 3) in metres."""
    frac = torch.sigmoid(logits)
    f, c = focal_and_centre(k)
    pixels = _scale_xy(frac[..., :2], hw[1], hw[0]) - 0.5  # pixel centres at integers
    d = depth_range[0] + frac[..., 2:] * (depth_range[1] - depth_range[0])
    return torch.cat([(pixels - c) / f * d, d], -1)


def points_to_anchors(
    points: torch.Tensor, k: torch.Tensor, hw: tuple[int, int], depth_range: tuple[float, float]
) -> torch.Tensor:
    """Inverse of ``anchors_to_points``: (B, Q, 3) metres -> logits (B, Q, 3)."""
    f, c = focal_and_centre(k)
    z = points[..., 2:].clamp_min(1e-6)
    pixels = f * points[..., :2] / z + c
    frac = torch.cat(
        [
            _scale_xy(pixels + 0.5, 1 / hw[1], 1 / hw[0]),
            (z - depth_range[0]) / (depth_range[1] - depth_range[0]),
        ],
        -1,
    )
    return torch.logit(frac.clamp(1e-4, 1 - 1e-4))


def project_to_grid(
    points: torch.Tensor, k: torch.Tensor, hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project camera-frame points with the intrinsics.

    points (B, ..., 3), k (B, 3, 3) -> pixels (B, ..., 2), grid (B, ..., 2) in grid_sample's
    [-1, 1] convention (align_corners=False), in_front (B, ...) bool.
    """
    shape = points.shape
    p = points.reshape(shape[0], -1, 3)
    f, c = focal_and_centre(k)
    z = p[..., 2:]
    in_front = z > 1e-3
    pixels = f * p[..., :2] / torch.where(in_front, z, torch.ones_like(z)) + c
    grid = _scale_xy(pixels + 0.5, 2 / hw[1], 2 / hw[0]) - 1
    return pixels.reshape(*shape[:-1], 2), grid.reshape(*shape[:-1], 2), in_front.reshape(shape[:-1])
