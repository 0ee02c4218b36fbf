"""Geometry-aware deformable cross-attention (eq. 8), in pure PyTorch.

Each query learns a few 3D offsets (metres) around its anchor point per head and level;
the points are projected with the camera intrinsics onto every level of the feature
pyramid and bilinearly sampled, then mixed with learned weights (``sampling.py``: rows
gathered and weighted in one pass).
Points behind the camera get no weight.

The fused maps z are sampled directly, each head reading its own group of channels
(Sparse4D's choice): z already comes out of a learned 1x1 convolution (eq. 3), so a value
projection of every pyramid token in every layer would add most of the decoder's cost and
nothing it cannot learn. The cost follows queries x points, not pyramid tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from seqpose_core.model.anchors import project_to_grid
from seqpose_core.model.sampling import Pyramid, sample_pyramid


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
        pyramid: Pyramid,
        k: torch.Tensor,
        hw: tuple[int, int],
    ) -> torch.Tensor:
        """query (B, Q, D); anchors (B, Q, 3) camera-frame points; pyramid: the fused maps split
        into num_heads channel groups (``build_pyramid``); k (B, 3, 3) for the image of size hw
        -> (B, Q, D)."""
        b, q, _ = query.shape
        offsets = torch.tanh(self.offsets(query)).view(b, q, self.h, self.l, self.p, 3) * self.offset_scale
        points = anchors[:, :, None, None, None, :] + offsets
        _, grid, in_front = project_to_grid(points, k, hw)  # (B, Q, H, L, P, 2), (B, Q, H, L, P)
        weights = self.weights(query).view(b, q, self.h, self.l * self.p).softmax(-1)
        weights = weights.view(b, q, self.h, self.l, self.p) * in_front.to(weights.dtype)
        return self.out(sample_pyramid(pyramid, grid, weights))
