"""SeqPose losses (eq. 10): set losses on every decoder layer plus the dense auxiliary losses.

Focal loss for classes, L1 for translation and size, a symmetry-aware L1 on rotation
matrices (weight 10), smooth L1 for depth and normals on valid pixels, cross-entropy
for the semantic mask. Set losses are normalized by the number of objects; each decoder
layer is matched and supervised on its own (DETR's auxiliary losses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqpose_core.model.matcher import HungarianMatcher, rotation_distance, symmetric_mask

DEFAULT_WEIGHTS = {
    "class": 1.0,
    "translation": 1.0,
    "rotation": 10.0,
    "size": 1.0,
    "depth": 1.0,
    "normal": 1.0,
    "seg": 1.0,
}


def sigmoid_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Elementwise focal loss (Lin et al. 2017): logits and 0/1 targets of one shape."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    return (alpha * target + (1 - alpha) * (1 - target)) * (1 - p_t) ** gamma * ce


class SetCriterion(nn.Module):
    def __init__(
        self,
        num_classes: int,
        weights: dict[str, float] | None = None,
        matcher: HungarianMatcher | None = None,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        self.matcher = matcher or HungarianMatcher(w_rotation=self.weights["rotation"])

    def forward(self, out: dict, target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """out: the model's outputs; target: a collated batch. Returns each weighted term and 'total'."""
        num = max(float(target["valid"].sum()), 1.0)
        losses: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(out["layers"]):
            matches = self.matcher(layer, target)
            suffix = "" if i == len(out["layers"]) - 1 else f"_{i}"
            for name, value in self.set_losses(layer, target, matches, num).items():
                losses[name + suffix] = self.weights[name] * value
        if "aux" in out:
            for name, value in self.dense_losses(out["aux"], target).items():
                losses[name] = self.weights[name] * value
        losses["total"] = sum(losses.values())
        return losses

    def set_losses(self, p: dict, t: dict, matches: list[tuple], num: float) -> dict[str, torch.Tensor]:
        b_idx = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(matches)])
        q_idx = torch.cat([q for q, _ in matches])
        gt_idx = torch.cat([torch.nonzero(t["valid"][b])[:, 0][g] for b, (_, g) in enumerate(matches)])
        return {
            "class": self.loss_class(p["logits"], t["class_ids"][b_idx, gt_idx], b_idx, q_idx, num),
            "translation": self.loss_l1(
                p["translation"][b_idx, q_idx], t["translations"][b_idx, gt_idx], num
            ),
            "rotation": self.loss_rotation(p["rotation"][b_idx, q_idx], t, b_idx, gt_idx, num),
            "size": self.loss_l1(p["size"][b_idx, q_idx], t["sizes"][b_idx, gt_idx], num),
        }

    def loss_class(
        self,
        logits: torch.Tensor,
        classes: torch.Tensor,
        b_idx: torch.Tensor,
        q_idx: torch.Tensor,
        num: float,
    ) -> torch.Tensor:
        onehot = torch.zeros_like(logits)
        onehot[b_idx, q_idx, classes - 1] = 1.0
        return sigmoid_focal_loss(logits, onehot).sum() / num

    def loss_l1(self, pred: torch.Tensor, gt: torch.Tensor, num: float) -> torch.Tensor:
        return F.l1_loss(pred, gt, reduction="sum") / num

    def loss_rotation(
        self, rot: torch.Tensor, t: dict, b_idx: torch.Tensor, gt_idx: torch.Tensor, num: float
    ) -> torch.Tensor:
        sym = symmetric_mask(t["class_ids"][b_idx, gt_idx], t["handle_visible"][b_idx, gt_idx])
        return rotation_distance(rot, t["rotations"][b_idx, gt_idx], sym).sum() / num

    def dense_losses(
        self, aux: dict[str, torch.Tensor], t: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        size = aux["depth"].shape[2:]
        depth = F.interpolate(t["depth"], size=size, mode="nearest")
        normals = F.interpolate(t["normals"], size=size, mode="nearest")
        mask = F.interpolate(t["class_mask"][:, None].float(), size=size, mode="nearest")[:, 0].long()
        valid_d = depth > 0
        valid_n = normals.abs().sum(1, keepdim=True) > 0
        return {
            "depth": self.loss_smooth_l1(aux["depth"], depth, valid_d),
            "normal": self.loss_smooth_l1(aux["normals"], normals, valid_n.expand_as(normals)),
            "seg": F.cross_entropy(aux["seg"], mask),
        }

    def loss_smooth_l1(self, pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if not valid.any():
            return pred.sum() * 0.0
        return F.smooth_l1_loss(pred[valid], gt[valid], beta=0.1)
