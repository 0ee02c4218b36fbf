"""Dense auxiliary heads on (z_0, g_0) (eq. 4): metric depth, surface normals, semantic mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _head(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1))


def _head_at(head: nn.Sequential, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``head(x)`` read at the pixels idx (B, K) (row-major indices into (h, w)) without computing
    the whole map: each pixel's 3x3 neighbourhood is gathered from the zero-padded input and
    passed through the head's weights. x (B, C, h, w) -> (B, K, cout)."""
    b, c, _, w = x.shape
    conv, _, out = head
    padded = F.pad(x, (1, 1, 1, 1)).flatten(2)  # (B, C, (h + 2) * (w + 2))
    ys, xs = idx // w, idx % w
    dy, dx = torch.meshgrid(torch.arange(3, device=x.device), torch.arange(3, device=x.device), indexing="ij")
    cells = (ys[..., None] + dy.reshape(-1)) * (w + 2) + xs[..., None] + dx.reshape(-1)  # (B, K, 9)
    patch = padded.gather(2, cells.reshape(b, 1, -1).expand(-1, c, -1)).view(b, c, -1, 9)  # (B, C, K, 9)
    hidden = torch.einsum("bckn,ocn->bko", patch, conv.weight.flatten(2)) + conv.bias
    return F.linear(hidden.relu(), out.weight.flatten(1), out.bias)


class AuxHeads(nn.Module):
    """Predictions at the resolution of z_0 (4x the patch grid)."""

    def __init__(self, d_model: int, geo_width: int, num_classes: int, max_depth: float = 10.0):
        super().__init__()
        cin = d_model + geo_width
        self.depth = _head(cin, 1)
        self.normal = _head(cin, 3)
        self.seg = _head(cin, num_classes + 1)  # class 0 is background
        self.max_depth = max_depth

    @staticmethod
    def inputs(z0: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
        """z0 (B, D, h, w), g0 (B, F, h', w') -> the heads' input (B, D + F, h, w)."""
        return torch.cat([z0, F.interpolate(g0, size=z0.shape[2:], mode="bilinear", align_corners=False)], 1)

    def forward(self, z0: torch.Tensor, g0: torch.Tensor) -> dict[str, torch.Tensor]:
        """z0 (B, D, h, w), g0 (B, F, h', w') -> depth (B, 1, h, w) metres, normals (B, 3, h, w) unit,
        seg logits (B, C + 1, h, w)."""
        x = self.inputs(z0, g0)
        return {
            "depth": self.max_depth * torch.sigmoid(self.depth(x)),
            "normals": F.normalize(self.normal(x), dim=1),
            "seg": self.seg(x),
        }

    def depth_at(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The depth head at the pixels idx (B, K) of its input x (``inputs``) -> (B, K) metres,
        equal to ``forward``'s depth map read there."""
        return self.max_depth * torch.sigmoid(_head_at(self.depth, x, idx)[..., 0])
