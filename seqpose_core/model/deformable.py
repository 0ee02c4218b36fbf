"""Geometry-aware deformable cross-attention (eq. 8), in pure PyTorch.

Each query learns a few 3D offsets (metres) around its anchor point per head and level;
the points are projected with the camera intrinsics onto every level of the feature
pyramid and bilinearly sampled (grid_sample), then mixed with learned weights.
Points behind the camera get no weight.

The fused maps z are sampled directly, each head reading its own group of channels
(Sparse4D's choice): z already comes out of a learned 1x1 convolution (eq. 3), so a value
projection of every pyramid token in every layer would add most of the decoder's cost and
nothing it cannot learn. The cost follows queries x points, not pyramid tokens; the
samples are weighted with one batched matmul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqpose_core.model.anchors import project_to_grid


class GeometryDeformableAttention(nn.Module):
    """Queries (B, Q, D) with 3D anchor points -> features sampled around them (B, Q, D)."""

    def __init__(
        self, d_model: int, num_heads: int, num_levels: int, num_points: int, offset_scale: float = 0.25
    ):
        super().__init__()
        self.h, self.l, self.p = num_heads, num_levels, num_points
        self.offset_scale = offset_scale
        self.offsets = nn.Linear(d_model, num_heads * num_levels * num_points * 3)
        self.weights = nn.Linear(d_model, num_heads * num_levels * num_points)
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
        h, dh = self.h, d // self.h
        offsets = torch.tanh(self.offsets(query)).view(b, q, h, self.l, self.p, 3) * self.offset_scale
        points = anchors[:, :, None, None, None, :] + offsets
        _, grid, in_front = project_to_grid(points, k, hw)  # (B, Q, H, L, P, 2), (B, Q, H, L, P)
        weights = self.weights(query).view(b, q, h, self.l * self.p).softmax(-1)
        weights = weights * in_front.view(b, q, h, self.l * self.p).to(weights.dtype)
        grid = grid.permute(0, 2, 3, 1, 4, 5)  # (B, H, L, Q, P, 2)
        samples = [
            F.grid_sample(
                feat.reshape(b * h, dh, *feat.shape[2:]),  # head i reads channels [i*dh, (i+1)*dh)
                grid[:, :, lvl].reshape(b * h, q, self.p, 2),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )
            for lvl, feat in enumerate(features)
        ]  # L x (B*H, dh, Q, P)
        s = torch.cat(samples, -1).permute(0, 2, 1, 3)  # (B*H, Q, dh, L*P)
        w = weights.permute(0, 2, 1, 3).reshape(b * h, q, self.l * self.p, 1)
        out = torch.matmul(s, w).view(b, h, q, dh).permute(0, 2, 1, 3).reshape(b, q, d)
        return self.out(out)
