"""Pose-aware LayerNorm for propagated and memory queries (StreamPETR's motion-aware LN, adapted).

The camera's motion is unknown from images alone, so the norm is conditioned on how long
ago the memory entry was seen: LN(x) * (1 + gamma(dt)) + beta(dt). It starts close to a
plain LayerNorm (gamma, beta near 0).
"""

from __future__ import annotations

import torch
from torch import nn

FREQS = (1.0, 3.0, 10.0, 30.0)


def encode_time_gap(dt: torch.Tensor) -> torch.Tensor:
    """dt (...,) seconds -> (..., 1 + 2 * len(FREQS)) features."""
    x = dt[..., None] * torch.tensor(FREQS, dtype=dt.dtype, device=dt.device)
    return torch.cat([dt[..., None], torch.sin(x), torch.cos(x)], -1)


class PoseAwareLayerNorm(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, elementwise_affine=False)
        self.cond = nn.Sequential(
            nn.Linear(1 + 2 * len(FREQS), d_model), nn.ReLU(), nn.Linear(d_model, 2 * d_model)
        )
        nn.init.normal_(self.cond[-1].weight, std=1e-3)  # near-plain LayerNorm at the start
        nn.init.zeros_(self.cond[-1].bias)

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """x (B, M, D), dt (B, M) seconds since the entry's frame -> (B, M, D)."""
        gamma, beta = self.cond(encode_time_gap(dt.to(x.dtype))).chunk(2, -1)
        return self.norm(x) * (1 + gamma) + beta
