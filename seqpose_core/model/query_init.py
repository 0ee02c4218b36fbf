"""Query anchors selected from the dense heads (the mixed query selection of Deformable DETR / DINO).

The segmentation head's most confident foreground pixels, at the depth the depth head
predicts there, become anchors; their content embeddings stay learned. A local-maximum
filter first keeps one pixel per peak so that the selection spreads over objects instead of
piling onto the largest one. The selected anchors carry no gradient: the dense heads learn
from their own losses. At inference only the segmentation map is computed whole; the depth
head runs at the selected pixels alone (``AuxHeads.depth_at``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def peak_indices(seg_logits: torch.Tensor, count: int) -> torch.Tensor:
    """seg_logits (B, C + 1, h, w) (class 0 background) -> row-major pixel indices (B, count) of
    the ``count`` strongest foreground peaks (then the strongest other pixels)."""
    h, w = seg_logits.shape[2:]
    with torch.no_grad():
        fg = 1 - seg_logits.float().softmax(1)[:, 0]  # (B, h, w)
        peaks = fg == F.max_pool2d(fg[:, None], 3, stride=1, padding=1)[:, 0]
        score = torch.where(peaks, fg, fg - 1).flatten(1)  # non-peaks rank after every peak
        return score.topk(min(count, h * w), dim=1).indices


def anchors_at(
    idx: torch.Tensor, depth: torch.Tensor, hw: tuple[int, int], depth_range: tuple[float, float]
) -> torch.Tensor:
    """Pixels idx (B, K) of an (h, w) map and their depths (B, K) metres -> anchor logits (B, K, 3)
    of (u, v, depth) fractions."""
    h, w = hw
    with torch.no_grad():
        depth = depth.detach().float()
        u = ((idx % w).to(depth.dtype) + 0.5) / w
        v = ((idx // w).to(depth.dtype) + 0.5) / h
        frac_d = (depth - depth_range[0]) / (depth_range[1] - depth_range[0])
        frac = torch.stack([u, v, frac_d], -1).clamp(1e-4, 1 - 1e-4)
        return torch.logit(frac)


def dense_anchors(
    seg_logits: torch.Tensor, depth: torch.Tensor, count: int, depth_range: tuple[float, float]
) -> torch.Tensor:
    """seg_logits (B, C + 1, h, w), depth (B, 1, h, w) metres -> anchor logits (B, count, 3) at the
    ``count`` strongest foreground peaks."""
    idx = peak_indices(seg_logits, count)
    return anchors_at(idx, depth.flatten(1).gather(1, idx), seg_logits.shape[2:], depth_range)
