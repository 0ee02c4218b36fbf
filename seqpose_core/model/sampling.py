"""Bilinear sampling of the feature pyramid by gathering rows, weighted in the same pass.

``grid_sample`` reads a (C, h, w) map channel by channel, which on CPU costs far more than
its FLOPs: it was half of the query decoder's time. Here each head's channel group of every
level is laid out once per frame as rows of a table (channels last), so that one sample is
a contiguous row; the four bilinear corners of every point on every level, each weighted by
its bilinear weight times the point's attention weight, are summed by one
``embedding_bag``. The result equals ``grid_sample`` (bilinear, zero padding,
align_corners=False) followed by the attention-weighted sum, in value and in gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Pyramid:
    """The fused maps, each padded by one zero pixel on every side, as one table: row
    (first[b, 0, h, l, 0] + (y + 1) * (w_l + 2) + x + 1) holds head h's channel group at (y, x)
    of level l of image b, for -1 <= y <= h_l and -1 <= x <= w_l. table (rows, D / heads);
    sizes (L, 2) float (h_l, w_l) unpadded; first (B, 1, heads, L, 1) long: the first row of
    each image, head and level, shaped to broadcast over (B, Q, H, L, P)."""

    table: torch.Tensor
    sizes: torch.Tensor
    first: torch.Tensor


def build_pyramid(features: list[torch.Tensor], heads: int) -> Pyramid:
    """features: L maps (B, D, h_l, w_l), head i reading channels [i * D / heads, ...) -> Pyramid."""
    b, d = features[0].shape[:2]
    dh = d // heads
    counts = [(f.shape[2] + 2) * (f.shape[3] + 2) for f in features]  # padded by one zero pixel
    table = features[0].new_zeros(b, heads, sum(counts), dh)  # (B, H, rows per image and head, dh)
    starts = [sum(counts[:i]) for i in range(len(counts))]
    for f, start, n in zip(features, starts, counts, strict=True):
        h, w = f.shape[2:]
        cells = table[:, :, start : start + n].view(b, heads, h + 2, w + 2, dh)[:, :, 1:-1, 1:-1]
        cells.copy_(f.reshape(b, heads, dh, h, w).permute(0, 1, 3, 4, 2))  # one pass, no cat
    sizes = torch.tensor([f.shape[2:] for f in features], dtype=features[0].dtype, device=table.device)
    first = torch.arange(b * heads, device=table.device).view(b, 1, heads, 1, 1) * sum(counts)
    return Pyramid(table.reshape(-1, dh), sizes, first + torch.tensor(starts, device=table.device)[:, None])


def _corners(
    pyramid: Pyramid, grid: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """grid (B, Q, H, L, P, 2) in [-1, 1], weights (B, Q, H, L, P) -> row indices and weights of
    the 4 bilinear corners, both (B * Q * H, L * P * 4). A corner outside a map is clamped onto
    its padding, whose rows are zero, as grid_sample's zero padding.

    Levels and points share one last axis (L * P) and the level sizes are spelled out along it:
    an elementwise operation broadcasting (L, 1) over a last axis of P took twice as long on
    CPU, and these small tensors' time is all in such operations."""
    b, q, h, lv, p = grid.shape[:5]
    size_h, size_w = (s[:, None].expand(lv, p).reshape(-1) for s in pyramid.sizes.unbind(1))  # (L*P,)
    grid, weights = grid.reshape(b, q, h, lv * p, 2), weights.reshape(b, q, h, lv * p)
    x = ((grid[..., 0] + 1) * size_w - 1) / 2  # grid_sample's align_corners=False
    y = ((grid[..., 1] + 1) * size_h - 1) / 2
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    xs = [(x0 + i).clamp_min(0).minimum(size_w + 1) for i in (1, 2)]  # columns of the padded map
    ys = [(y0 + i).clamp_min(0).minimum(size_h + 1) for i in (1, 2)]
    first = pyramid.first.expand(b, 1, h, lv, p).reshape(b, 1, h, lv * p)
    rows = [first + (yi * (size_w + 2) + xi).long() for yi in ys for xi in xs]
    wy, wx = [(1 - fy) * weights, fy * weights], [1 - fx, fx]
    wts = [wyi * wxi for wyi in wy for wxi in wx]
    n = lv * p * 4
    return torch.stack(rows, -1).reshape(b * q * h, n), torch.stack(wts, -1).reshape(b * q * h, n)


def sample_pyramid(pyramid: Pyramid, grid: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """grid (B, Q, H, L, P, 2) in grid_sample's [-1, 1] convention per head, level and point;
    weights (B, Q, H, L, P) -> sum over levels and points of weight x bilinear sample,
    (B, Q, D), head h in channels [h * D / H, ...)."""
    b, q = grid.shape[:2]
    rows, wts = _corners(pyramid, grid, weights)
    wts = wts.to(pyramid.table.dtype)  # under autocast the table and the weights can differ
    if torch.onnx.is_in_onnx_export():  # embedding_bag has no ONNX form: gather + matmul
        out = torch.matmul(wts[:, None], pyramid.table[rows])[:, 0]
    else:
        out = F.embedding_bag(rows, pyramid.table, per_sample_weights=wts, mode="sum")
    return out.view(b, q, -1)
