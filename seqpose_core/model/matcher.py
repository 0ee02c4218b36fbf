"""Hungarian matching of queries to ground-truth objects (scipy's linear_sum_assignment).

Cost = class (focal form, as Deformable DETR) + L1 position + rotation + L1 size. With
``normalized`` (the default) position is compared as (x/z, y/z, log z) and size as log
size, so that an error weighs the same at every distance and for every object size; the
metric form (metres) is the first recipe, kept for the ablation. The rotation cost compares
only the y axes for objects symmetric about y (bottle, bowl, can, and a mug whose handle is
not visible).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from seqpose_core.categories import NOCS, Categories
from seqpose_core.model.position import position_code

OBJECT_KEYS = ("class_ids", "translations", "rotations", "sizes", "handle_visible")


def rotation_distance(pred: torch.Tensor, gt: torch.Tensor, symmetric: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of rotation matrices, of their y columns where symmetric.

    pred (..., 3, 3), gt (..., 3, 3), symmetric (...,) -> (...,). Broadcasts.
    """
    full = (pred - gt).abs().mean((-2, -1))
    y_axis = (pred[..., :, 1] - gt[..., :, 1]).abs().mean(-1)
    return torch.where(symmetric, y_axis, full)


def position_and_size(
    translation: torch.Tensor, size: torch.Tensor, normalized: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spaces in which positions and sizes are compared: (x/z, y/z, log z) and log size, or metres."""
    if normalized:
        return position_code(translation), size.clamp_min(1e-4).log()
    return translation, size


class HungarianMatcher(nn.Module):
    """One-to-one assignment of queries to objects per image, minimising the weighted cost.

    The costs of every image, and of every prediction set passed to ``match_all`` (decoder
    layers, query groups), are computed batched in fp32 and reach the host in one copy: on a
    GPU a copy per image, layer and group stalls the stream each time.
    """

    def __init__(
        self,
        w_class: float = 1.0,
        w_translation: float = 10.0,
        w_rotation: float = 1.0,
        w_size: float = 1.0,
        alpha: float = 0.25,
        gamma: float = 2.0,
        normalized: bool = True,
        categories: Categories = NOCS,
    ):
        super().__init__()
        self.w = (w_class, w_translation, w_rotation, w_size)
        self.categories = categories  # whose symmetry rule the rotation cost follows
        self.alpha, self.gamma = alpha, gamma
        self.normalized = normalized

    @torch.no_grad()
    def forward(self, pred: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> list[tuple]:
        """pred: logits (B, Q, C), translation (B, Q, 3), rotation (B, Q, 3, 3), size (B, Q, 3);
        target: class_ids (B, N) 1..C, translations, rotations, sizes, handle_visible, valid (B, N),
        the valid objects first in each row (as ``collate_frames`` pads them).
        Returns per image (query indices, target indices), CPU LongTensors of equal length."""
        return [(torch.from_numpy(q), torch.from_numpy(g)) for q, g in self.match_all([pred], target)[0]]

    @torch.no_grad()
    def match_all(self, preds: list[dict[str, torch.Tensor]], target: dict[str, torch.Tensor]) -> list[list]:
        """Several prediction sets against one target batch: one cost over their queries
        concatenated, one device-to-host copy. Returns, per prediction set, what ``forward``
        returns as numpy int64 arrays (no tensor per image, layer and group)."""
        keys = ("logits", "translation", "rotation", "size")
        cost = self.cost({k: torch.cat([p[k] for p in preds], 1) for k in keys}, target)  # (B, sum Q_i, N)
        counts = target["valid"].sum(1).to(cost.dtype)  # (B,)
        host = torch.cat([cost.flatten(), counts]).cpu()
        counts_host = host[-len(counts) :].long().tolist()
        blocks = host[: cost.numel()].view(cost.shape).numpy()
        out, start = [], 0
        for q in (p["logits"].shape[1] for p in preds):
            out.append([_assign(blocks[b, start : start + q, :n]) for b, n in enumerate(counts_host)])
            start += q
        return out

    def cost(self, p: dict[str, torch.Tensor], t: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batched (B, Q, N) cost matrix, in fp32 whatever the predictions' dtype."""
        p = {k: p[k].float() for k in ("logits", "translation", "rotation", "size")}
        q = p["logits"].shape[1]
        cls = (t["class_ids"] - 1).clamp_min(0)[:, None].expand(-1, q, -1)  # (B, Q, N)
        prob = p["logits"].sigmoid().gather(2, cls)
        neg = (1 - self.alpha) * prob**self.gamma * -(1 - prob + 1e-8).log()
        pos = self.alpha * (1 - prob) ** self.gamma * -(prob + 1e-8).log()
        sym = self.categories.symmetric_about_y(t["class_ids"], t["handle_visible"])  # (B, N)
        rot = rotation_distance(p["rotation"][:, :, None], t["rotations"][:, None].float(), sym[:, None])
        wc, wt, wr, ws = self.w
        p_pos, p_size = position_and_size(p["translation"], p["size"], self.normalized)
        t_pos, t_size = position_and_size(t["translations"].float(), t["sizes"].float(), self.normalized)
        return (
            wc * (pos - neg)
            + wt * torch.cdist(p_pos, t_pos, p=1)
            + wr * rot
            + ws * torch.cdist(p_size, t_size, p=1)
        )


def _assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's (Q, n) cost -> (query indices, target indices), int64."""
    if cost.shape[1] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    rows, cols = linear_sum_assignment(cost)
    return rows.astype(np.int64), cols.astype(np.int64)
