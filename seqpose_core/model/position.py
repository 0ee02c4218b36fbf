"""Positions of queries: the sinusoidal 3D query encoding and the normalised position code.

The query position encoding (StreamPETR's pos2posemb3d followed by an MLP) turns an anchor's
(u, v, depth) fractions into Fourier features; an MLP on raw coordinates cannot resolve
positions finer than its first layer's few linear pieces.

The position code (x/z, y/z, log z) puts a camera-frame translation where an error means the
same at every distance: an image-plane offset and a relative depth error. Matching costs and
translation losses use it so that position, not class or rotation, leads which query
answers an object.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sine_encoding(frac: torch.Tensor, num_feats: int, temperature: float = 10000.0) -> torch.Tensor:
    """frac (..., 3) in [0, 1] -> (..., 3 * num_feats): sin/cos at geometric frequencies per axis."""
    dim_t = torch.arange(num_feats // 2, dtype=frac.dtype, device=frac.device)
    freqs = temperature ** (2 * dim_t / num_feats)  # (F/2,)
    x = frac[..., None] * (2 * math.pi) / freqs  # (..., 3, F/2)
    return torch.cat([x.sin(), x.cos()], -1).flatten(-2)


class QueryPositionEncoding(nn.Module):
    """Anchor fractions (..., 3) -> position embeddings (..., D).

    kind "sine": Fourier features then a 2-layer MLP (the default); "mlp": an MLP on the raw
    fractions (the first recipe, kept for the ablation).
    """

    def __init__(self, d_model: int, kind: str = "sine"):
        super().__init__()
        if kind not in ("sine", "mlp"):
            raise ValueError(f"position encoding must be 'sine' or 'mlp', got {kind!r}")
        self.kind = kind
        self.num_feats = 2 * math.ceil(d_model / 6)  # even, 3 axes x num_feats >= d_model
        d_in = 3 * self.num_feats if kind == "sine" else 3
        self.mlp = nn.Sequential(nn.Linear(d_in, d_model), nn.ReLU(inplace=True), nn.Linear(d_model, d_model))

    def forward(self, frac: torch.Tensor) -> torch.Tensor:
        x = sine_encoding(frac, self.num_feats) if self.kind == "sine" else frac
        return self.mlp(x)


def position_code(t: torch.Tensor) -> torch.Tensor:
    """Camera-frame translations (..., 3) metres -> (x/z, y/z, log z) (..., 3)."""
    z = t[..., 2:3].clamp_min(1e-3)
    return torch.cat([t[..., :2] / z, z.log()], -1)
