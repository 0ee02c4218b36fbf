"""Dense auxiliary heads on (z_0, g_0) (eq. 4): metric depth, surface normals, semantic mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _head(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1))


class AuxHeads(nn.Module):
    """Predictions at the resolution of z_0 (4x the patch grid)."""

    def __init__(self, d_model: int, geo_width: int, num_classes: int, max_depth: float = 10.0):
        super().__init__()
        cin = d_model + geo_width
        self.depth = _head(cin, 1)
        self.normal = _head(cin, 3)
        self.seg = _head(cin, num_classes + 1)  # class 0 is background
        self.max_depth = max_depth

    def forward(self, z0: torch.Tensor, g0: torch.Tensor) -> dict[str, torch.Tensor]:
        """z0 (B, D, h, w), g0 (B, F, h', w') -> depth (B, 1, h, w) metres, normals (B, 3, h, w) unit,
        seg logits (B, C + 1, h, w)."""
        x = torch.cat([z0, F.interpolate(g0, size=z0.shape[2:], mode="bilinear", align_corners=False)], 1)
        return {
            "depth": self.max_depth * torch.sigmoid(self.depth(x)),
            "normals": F.normalize(self.normal(x), dim=1),
            "seg": self.seg(x),
        }
