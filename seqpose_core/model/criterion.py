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
import torch.distributed as dist
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

    def forward(
        self, out: dict, target: dict[str, torch.Tensor], dense_scale: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """out: the model's outputs; target: a collated batch; dense_scale multiplies the dense terms
        (a clip that supervises the dense heads on one frame in n weighs them n times there).
        Returns each weighted term and 'total', all on the device (nothing is read on the host
        but the matching's one copy).

        Terms: ``class``, ``translation``, ``rotation``, ``size`` of the last layer, the same
        with ``_i`` for layer i; ``group_*`` summed over the extra groups and layers, ``dn_*``
        over the denoising queries' layers; ``depth``, ``normal``, ``seg``.
        """
        num = object_count(target["valid"])
        layers, groups = out["layers"], [layer for group in out.get("groups", []) for layer in group]
        matches = self.matcher.match_all([*layers, *groups], target)
        losses: dict[str, torch.Tensor] = {}
        for i, (layer, match) in enumerate(zip(layers, matches, strict=False)):
            suffix = "" if i == len(layers) - 1 else f"_{i}"
            self._add(losses, "", suffix, self.set_losses(layer, target, match, num))
        for layer, match in zip(groups, matches[len(layers) :], strict=True):
            self._add(losses, "group_", "", self.set_losses(layer, target, match, num))
        if "dn" in out:
            dn = out["dn"]["queries"]
            for layer in out["dn"]["layers"]:
                self._add(losses, "dn_", "", self.denoising_losses(layer, target, dn, num * dn.groups))
        if "aux" in out:
            for name, value in self.dense_losses(out["aux"], target).items():
                losses[name] = self.weights[name] * dense_scale * value
        losses["total"] = sum(losses.values())
        return losses

    def _add(self, losses: dict, prefix: str, suffix: str, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            key = prefix + name + suffix
            losses[key] = losses.get(key, 0.0) + self.weights[name] * value

    def set_losses(
        self, p: dict, t: dict, matches: list[tuple], num: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Matched queries' losses; matches hold indices into each image's valid objects, which
        come first in the padded rows, so they index the padded rows as they are."""
        device = p["logits"].device
        idx = torch.cat(
            [torch.stack([torch.full_like(q, b), q, g]) for b, (q, g) in enumerate(matches)], 1
        ).to(device, non_blocking=True)  # (3, M): image, query, object
        return self.pose_losses(p, t, idx[0], idx[1], idx[2], num, all_queries=True)

    def denoising_losses(
        self, p: dict, t: dict, dn: DenoisingQueries, num: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Denoising query g*N + n reconstructs object n: no matching. Every slot is computed and
        padded ones (class 0: their one-hot lands on the last class) are weighted 0, so no shape
        depends on the data."""
        b, slots = dn.valid.shape
        b_idx = torch.arange(b, device=dn.valid.device)[:, None].expand(b, slots).reshape(-1)
        q_idx = torch.arange(slots, device=dn.valid.device).repeat(b)
        gt_idx = dn.object_index.repeat(b)
        return self.pose_losses(p, t, b_idx, q_idx, gt_idx, num, all_queries=False, keep=dn.valid.reshape(-1))

    def pose_losses(
        self,
        p: dict,
        t: dict,
        b_idx: torch.Tensor,
        q_idx: torch.Tensor,
        gt_idx: torch.Tensor,
        num: torch.Tensor,
        all_queries: bool,
        keep: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Losses of queries (b_idx, q_idx) against objects (b_idx, gt_idx), each pair weighted by
        keep (M,) bool (all when None). The class loss covers every query (unmatched ones learn
        'no object') when all_queries, else only these. Computed in fp32."""
        w = None if keep is None else keep.float()
        classes = t["class_ids"][b_idx, gt_idx]
        logits = p["logits"].float() if all_queries else p["logits"][b_idx, q_idx][None].float()
        rows = torch.arange(len(b_idx), device=b_idx.device)
        cls_b, cls_q = (b_idx, q_idx) if all_queries else (torch.zeros_like(b_idx), rows)
        p_pos, p_size = position_and_size(
            p["translation"][b_idx, q_idx].float(), p["size"][b_idx, q_idx].float(), self.normalized
        )
        t_pos, t_size = position_and_size(
            t["translations"][b_idx, gt_idx], t["sizes"][b_idx, gt_idx], self.normalized
        )
        rot = p["rotation"][b_idx, q_idx].float()
        losses = {
            "class": self.loss_class(logits, classes, cls_b, cls_q, num, w),
            "translation": self.loss_l1(p_pos, t_pos, num, w),
            "rotation": self.loss_rotation(rot, t, b_idx, gt_idx, num, w),
            "size": self.loss_l1(p_size, t_size, num, w),
        }
        if "heading_logits" in p:
            heading = p["heading_logits"][b_idx, q_idx].float()
            losses["heading"] = self.loss_heading(heading, t, b_idx, gt_idx, num, w)
        return losses

    def loss_class(
        self,
        logits: torch.Tensor,
        classes: torch.Tensor,
        b_idx: torch.Tensor,
        q_idx: torch.Tensor,
        num: torch.Tensor,
        w: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Focal loss of every query in logits (B', Q', C); w weighs the rows (b_idx, q_idx) of a
        query subset (its logits passed as (1, M, C)), None: all count."""
        onehot = torch.zeros_like(logits)
        onehot[b_idx, q_idx, classes - 1] = 1.0
        focal = sigmoid_focal_loss(logits, onehot)
        if w is not None:
            focal = focal * w[None, :, None]
        return focal.sum() / num

    def loss_l1(
        self, pred: torch.Tensor, gt: torch.Tensor, num: torch.Tensor, w: torch.Tensor | None = None
    ) -> torch.Tensor:
        err = (pred - gt).abs().sum(-1)
        return _weighted_sum(err, w) / num

    def loss_rotation(
        self,
        rot: torch.Tensor,
        t: dict,
        b_idx: torch.Tensor,
        gt_idx: torch.Tensor,
        num: torch.Tensor,
        w: torch.Tensor | None = None,
    ) -> torch.Tensor:
        sym = symmetric_about_y(t["class_ids"][b_idx, gt_idx], t["handle_visible"][b_idx, gt_idx])
        return _weighted_sum(rotation_distance(rot, t["rotations"][b_idx, gt_idx], sym), w) / num

    def loss_heading(
        self,
        logits: torch.Tensor,
        t: dict,
        b_idx: torch.Tensor,
        gt_idx: torch.Tensor,
        num: torch.Tensor,
        w: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """logits (M, bins) of matched queries; objects symmetric about y have no heading."""
        has = ~symmetric_about_y(t["class_ids"][b_idx, gt_idx], t["handle_visible"][b_idx, gt_idx])
        angle = heading_angle(t["rotations"][b_idx, gt_idx], t["translations"][b_idx, gt_idx])
        target = heading_targets(angle, logits.shape[-1])
        ce = -(target * logits.log_softmax(-1)).sum(-1)
        return _weighted_sum(ce * has, w) / num

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
            "seg": F.cross_entropy(aux["seg"].float(), mask),
        }

    def loss_smooth_l1(self, pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Mean smooth L1 over the valid pixels (0 when there are none), by masking, not indexing."""
        err = F.smooth_l1_loss(pred.float(), gt, beta=0.1, reduction="none")
        return (err * valid).sum() / valid.sum().clamp_min(1)


def _weighted_sum(x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    return x.sum() if w is None else (x * w).sum()


def object_count(valid: torch.Tensor) -> torch.Tensor:
    """The number of objects that normalises the set losses, as a 0-d device tensor: averaged
    over DDP processes (DETR's rule) and at least 1; never read on the host."""
    num = valid.sum().float()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(num)
        num = num / dist.get_world_size()
    return num.clamp_min(1.0)
