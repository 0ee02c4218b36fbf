"""Query anchors selected from the dense heads (the mixed query selection of Deformable DETR / DINO).

The segmentation head's most confident foreground pixels, at the depth the depth head
predicts there, become anchors; their content embeddings stay learned. A local-maximum
filter first keeps one pixel per peak so that the selection spreads over objects instead of
piling onto the largest one. The selected anchors carry no gradient: the dense heads learn
from their own losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_anchors(
    seg_logits: torch.Tensor, depth: torch.Tensor, count: int, depth_range: tuple[float, float]
) -> torch.Tensor:
    """seg_logits (B, C + 1, h, w) (class 0 background), depth (B, 1, h, w) metres -> anchor
    logits (B, count, 3) of (u, v, depth) fractions at the ``count`` strongest foreground peaks."""
    h, w = seg_logits.shape[2:]
    with torch.no_grad():
        fg = 1 - seg_logits.softmax(1)[:, 0]  # (B, h, w)
        peaks = fg == F.max_pool2d(fg[:, None], 3, stride=1, padding=1)[:, 0]
        score = torch.where(peaks, fg, fg - 1).flatten(1)  # non-peaks rank after every peak
        idx = score.topk(min(count, h * w), dim=1).indices  # (B, count)
        ys, xs = idx // w, idx % w
        u = (xs.to(depth.dtype) + 0.5) / w
        v = (ys.to(depth.dtype) + 0.5) / h
        d = depth.flatten(1).gather(1, idx)
        frac_d = (d - depth_range[0]) / (depth_range[1] - depth_range[0])
        frac = torch.stack([u, v, frac_d], -1).clamp(1e-4, 1 - 1e-4)
        return torch.logit(frac)
