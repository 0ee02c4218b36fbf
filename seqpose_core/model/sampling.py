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

    Levels and points share one axis (L * P) and x and y one last axis, with the level sizes
    spelled out along them, and the 4 corners come from one broadcast against their (0/1, 0/1)
    offsets: these small tensors' time is all in the count of elementwise operations."""
    b, q, h, lv, p = grid.shape[:5]
    size = pyramid.sizes.flip(1)[:, None].expand(lv, p, 2).reshape(lv * p, 2)  # (L*P, 2): w, h
    xy = ((grid.reshape(b, q, h, lv * p, 2) + 1) * size - 1) / 2  # grid_sample's align_corners=False
    xy0 = xy.floor()
    frac = xy - xy0  # (..., 2)
    i = torch.arange(4, device=grid.device)  # made on the device: no host copy per call
    step = torch.stack([i % 2, i // 2], -1).to(grid.dtype)  # (4, 2): the corners' (dx, dy)
    cell = (xy0[..., None, :] + 1 + step).clamp_min(0).minimum(size[:, None] + 1)  # padded map, (..., 4, 2)
    first = pyramid.first.expand(b, 1, h, lv, p).reshape(b, 1, h, lv * p, 1)
    rows = first + (cell[..., 1] * (size[:, None, 0] + 2) + cell[..., 0]).long()  # (B, Q, H, L*P, 4)
    per_axis = step * frac[..., None, :] + (1 - step) * (1 - frac[..., None, :])  # (..., 4, 2)
    bilinear = per_axis[..., 0] * per_axis[..., 1]  # not prod(): its backward reads the host
    wts = bilinear * weights.reshape(b, q, h, lv * p, 1)
    n = lv * p * 4
    return rows.reshape(b * q * h, n), wts.reshape(b * q * h, n)


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
