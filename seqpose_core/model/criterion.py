"""SeqPose losses (eq. 10): set losses on every decoder layer plus the dense auxiliary losses.

Focal loss for classes, L1 for translation and size, a symmetry-aware L1 on rotation
matrices (weight 10), smooth L1 for depth and normals on valid pixels, cross-entropy
for the semantic mask; with a heading classifier, cross-entropy of the heading bins
against a soft target around the true heading (objects with a heading only). Set losses
are normalized by the number of objects; each decoder layer is matched and supervised on
its own (DETR's auxiliary losses), and so is each training-only query group (Group DETR);
denoising queries reconstruct their own object.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqpose_core.categories import symmetric_about_y
from seqpose_core.model.denoising import DenoisingQueries
from seqpose_core.model.heading import heading_angle, heading_targets
from seqpose_core.model.matcher import (
    HungarianMatcher,
    position_and_size,
    rotation_distance,
)

DEFAULT_WEIGHTS = {
    "class": 1.0,
    "translation": 1.0,
    "rotation": 10.0,
    "heading": 1.0,
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
    """The training loss: Hungarian-matched set losses per decoder layer, the losses of the
    training-only query groups and denoising queries, and the dense auxiliary losses.

    With ``normalized`` (the default) translation is compared as (x/z, y/z, log z) and size
    as log size, as in the matcher; otherwise in metres (the first recipe).
    """

    def __init__(
        self,
        num_classes: int,
        weights: dict[str, float] | None = None,
        matcher: HungarianMatcher | None = None,
        normalized: bool = True,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        self.matcher = matcher or HungarianMatcher(normalized=normalized)
        self.normalized = normalized

    def forward(self, out: dict, target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """out: the model's outputs; target: a collated batch. Returns each weighted term and 'total'.

        Terms: ``class``, ``translation``, ``rotation``, ``size`` of the last layer, the same
        with ``_i`` for layer i; ``group_*`` summed over the extra groups and layers, ``dn_*``
        over the denoising queries' layers; ``depth``, ``normal``, ``seg``.
        """
        num = max(float(target["valid"].sum()), 1.0)
        losses: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(out["layers"]):
            suffix = "" if i == len(out["layers"]) - 1 else f"_{i}"
            self._add(losses, "", suffix, self.set_losses(layer, target, self.matcher(layer, target), num))
        for group in out.get("groups", []):
            for layer in group:
                self._add(
                    losses, "group_", "", self.set_losses(layer, target, self.matcher(layer, target), num)
                )
        if "dn" in out:
            dn = out["dn"]["queries"]
            for layer in out["dn"]["layers"]:
                self._add(losses, "dn_", "", self.denoising_losses(layer, target, dn, num * dn.groups))
        if "aux" in out:
            for name, value in self.dense_losses(out["aux"], target).items():
                losses[name] = self.weights[name] * value
        losses["total"] = sum(losses.values())
        return losses

    def _add(self, losses: dict, prefix: str, suffix: str, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            key = prefix + name + suffix
            losses[key] = losses.get(key, 0.0) + self.weights[name] * value

    def set_losses(self, p: dict, t: dict, matches: list[tuple], num: float) -> dict[str, torch.Tensor]:
        b_idx = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(matches)])
        q_idx = torch.cat([q for q, _ in matches])
        gt_idx = torch.cat([torch.nonzero(t["valid"][b])[:, 0][g] for b, (_, g) in enumerate(matches)])
        return self.pose_losses(p, t, b_idx, q_idx, gt_idx, num, all_queries=True)

    def denoising_losses(self, p: dict, t: dict, dn: DenoisingQueries, num: float) -> dict[str, torch.Tensor]:
        """Denoising query g*N + n reconstructs object n: no matching; padded slots are skipped."""
        b_idx, q_idx = torch.nonzero(dn.valid, as_tuple=True)
        gt_idx = dn.object_index.to(q_idx.device)[q_idx]
        return self.pose_losses(p, t, b_idx, q_idx, gt_idx, num, all_queries=False)

    def pose_losses(
        self,
        p: dict,
        t: dict,
        b_idx: torch.Tensor,
        q_idx: torch.Tensor,
        gt_idx: torch.Tensor,
        num: float,
        all_queries: bool,
    ) -> dict[str, torch.Tensor]:
        """Losses of queries (b_idx, q_idx) against objects (b_idx, gt_idx). The class loss covers
        every query (unmatched ones learn 'no object') when all_queries, else only these."""
        classes = t["class_ids"][b_idx, gt_idx]
        logits = p["logits"] if all_queries else p["logits"][b_idx, q_idx][None]
        cls_b, cls_q = (b_idx, q_idx) if all_queries else (torch.zeros_like(b_idx), torch.arange(len(b_idx)))
        p_pos, p_size = position_and_size(
            p["translation"][b_idx, q_idx], p["size"][b_idx, q_idx], self.normalized
        )
        t_pos, t_size = position_and_size(
            t["translations"][b_idx, gt_idx], t["sizes"][b_idx, gt_idx], self.normalized
        )
        losses = {
            "class": self.loss_class(logits, classes, cls_b, cls_q, num),
            "translation": self.loss_l1(p_pos, t_pos, num),
            "rotation": self.loss_rotation(p["rotation"][b_idx, q_idx], t, b_idx, gt_idx, num),
            "size": self.loss_l1(p_size, t_size, num),
        }
        if "heading_logits" in p:
            losses["heading"] = self.loss_heading(p["heading_logits"][b_idx, q_idx], t, b_idx, gt_idx, num)
        return losses

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
        sym = symmetric_about_y(t["class_ids"][b_idx, gt_idx], t["handle_visible"][b_idx, gt_idx])
        return rotation_distance(rot, t["rotations"][b_idx, gt_idx], sym).sum() / num

    def loss_heading(
        self, logits: torch.Tensor, t: dict, b_idx: torch.Tensor, gt_idx: torch.Tensor, num: float
    ) -> torch.Tensor:
        """logits (M, bins) of matched queries; objects symmetric about y have no heading."""
        has = ~symmetric_about_y(t["class_ids"][b_idx, gt_idx], t["handle_visible"][b_idx, gt_idx])
        angle = heading_angle(t["rotations"][b_idx, gt_idx], t["translations"][b_idx, gt_idx])
        target = heading_targets(angle, logits.shape[-1])
        ce = -(target * logits.log_softmax(-1)).sum(-1)
        return (ce * has).sum() / num

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
