"""Geometry-aware deformable cross-attention (eq. 8), in pure PyTorch.

Each query learns a few 3D offsets (metres) around its anchor point per head and level;
the points are projected with the camera intrinsics onto every level of the feature
pyramid and bilinearly sampled (grid_sample), then mixed with learned weights.
Points behind the camera get no weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqpose_core.model.anchors import project_to_grid


class GeometryDeformableAttention(nn.Module):
    def __init__(
        self, d_model: int, num_heads: int, num_levels: int, num_points: int, offset_scale: float = 0.25
    ):
        super().__init__()
        self.h, self.l, self.p = num_heads, num_levels, num_points
        self.offset_scale = offset_scale
        self.offsets = nn.Linear(d_model, num_heads * num_levels * num_points * 3)
        self.weights = nn.Linear(d_model, num_heads * num_levels * num_points)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        nn.init.zeros_(self.offsets.weight)
        with torch.no_grad():  # start from points spread on a small sphere around the anchor
            dirs = torch.randn(num_heads * num_levels * num_points, 3)
            self.offsets.bias.copy_((0.3 * dirs / dirs.norm(dim=1, keepdim=True)).flatten())

    def forward(
        self,
        query: torch.Tensor,
        anchors: torch.Tensor,
        features: list[torch.Tensor],
        k: torch.Tensor,
        hw: tuple[int, int],
    ) -> torch.Tensor:
        """query (B, Q, D); anchors (B, Q, 3) camera-frame points; features: L maps (B, D, h_l, w_l);
        k (B, 3, 3) for the image of size hw -> (B, Q, D)."""
        b, q, d = query.shape
        dh = d // self.h
        offsets = torch.tanh(self.offsets(query)).view(b, q, self.h, self.l, self.p, 3) * self.offset_scale
        points = anchors[:, :, None, None, None, :] + offsets
        _, grid, in_front = project_to_grid(points, k, hw)  # (B, Q, H, L, P, 2), (B, Q, H, L, P)
        weights = self.weights(query).view(b, q, self.h, self.l * self.p).softmax(-1)
        weights = weights.view(b, q, self.h, self.l, self.p) * in_front
        out = query.new_zeros(b * self.h, dh, q)
        for lvl, feat in enumerate(features):
            value = self.value(feat.flatten(2).transpose(1, 2))  # (B, h*w, D)
            value = value.transpose(1, 2).reshape(b * self.h, dh, *feat.shape[2:])
            g = grid[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(b * self.h, q, self.p, 2)
            sampled = F.grid_sample(value, g, mode="bilinear", padding_mode="zeros", align_corners=False)
            w = weights[:, :, :, lvl].permute(0, 2, 1, 3).reshape(b * self.h, 1, q, self.p)
            out = out + (sampled * w).sum(-1)
        return self.out(out.view(b, self.h * dh, q).transpose(1, 2))
