"""3D query anchors: points in the camera frustum, stored as logits of (u, v, depth).

u, v are fractions of the image width and height, depth a fraction of ``depth_range``;
with the intrinsics they give a 3D point in the optical frame (x right, y down, z forward).
"""

from __future__ import annotations

import torch


def anchors_to_points(
    logits: torch.Tensor, k: torch.Tensor, hw: tuple[int, int], depth_range: tuple[float, float]
) -> torch.Tensor:
    """logits (B, Q, 3), k (B, 3, 3), hw = image (H, W) -> camera-frame points (B, Q, 3) in metres."""
    frac = torch.sigmoid(logits)
    u = frac[..., 0] * hw[1] - 0.5  # pixel centres at integers
    v = frac[..., 1] * hw[0] - 0.5
    d = depth_range[0] + frac[..., 2] * (depth_range[1] - depth_range[0])
    fx, fy = k[:, 0, 0, None], k[:, 1, 1, None]
    cx, cy = k[:, 0, 2, None], k[:, 1, 2, None]
    return torch.stack([(u - cx) / fx * d, (v - cy) / fy * d, d], dim=-1)


def points_to_anchors(
    points: torch.Tensor, k: torch.Tensor, hw: tuple[int, int], depth_range: tuple[float, float]
) -> torch.Tensor:
    """Inverse of ``anchors_to_points``: (B, Q, 3) metres -> logits (B, Q, 3)."""
    z = points[..., 2].clamp_min(1e-6)
    u = k[:, 0, 0, None] * points[..., 0] / z + k[:, 0, 2, None]
    v = k[:, 1, 1, None] * points[..., 1] / z + k[:, 1, 2, None]
    frac = torch.stack(
        [(u + 0.5) / hw[1], (v + 0.5) / hw[0], (z - depth_range[0]) / (depth_range[1] - depth_range[0])],
        dim=-1,
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
    z = p[..., 2]
    in_front = z > 1e-3
    zs = torch.where(in_front, z, torch.ones_like(z))
    u = k[:, 0, 0, None] * p[..., 0] / zs + k[:, 0, 2, None]
    v = k[:, 1, 1, None] * p[..., 1] / zs + k[:, 1, 2, None]
    pixels = torch.stack([u, v], -1)
    grid = torch.stack([(u + 0.5) / hw[1] * 2 - 1, (v + 0.5) / hw[0] * 2 - 1], -1)
    return pixels.reshape(*shape[:-1], 2), grid.reshape(*shape[:-1], 2), in_front.reshape(shape[:-1])
