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

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from seqpose_core.categories import NOCS, Categories
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
        categories: Categories = NOCS,
        weights: dict[str, float] | None = None,
        matcher: HungarianMatcher | None = None,
        normalized: bool = True,
    ):
        super().__init__()
        self.categories = categories  # the model's class list: its symmetry rule
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        self.matcher = matcher or HungarianMatcher(normalized=normalized, categories=categories)
        self.normalized = normalized

    def _symmetric(self, t: dict, b_idx: torch.Tensor, gt_idx: torch.Tensor) -> torch.Tensor:
        """(M,) bool: the matched objects symmetric about y, by the model's class list."""
        return self.categories.symmetric_about_y(
            t["class_ids"][b_idx, gt_idx], t["handle_visible"][b_idx, gt_idx]
        )

    def forward(
        self, out: dict, target: dict[str, torch.Tensor], dense_scale: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """out: the model's outputs; target: a collated batch; dense_scale multiplies the dense terms
        (a clip that supervises the dense heads on one frame in n weighs them n times there).
        Returns each weighted term and 'total', all on the device (nothing is read on the host
        but the matching's one copy).

        Terms: ``class``, ``translation``, ``rotation``, ``size`` of the last layer, the same
        with ``_i`` for layer i; ``group_*`` summed over the extra groups and layers, ``dn_*``
        over the denoising queries' layers; ``depth``, ``normal``, ``seg``. Every matched set
        (layer, group) is computed in one batch, and so is every denoising layer.
        """
        num = object_count(target["valid"])
        layers, groups = out["layers"], [layer for group in out.get("groups", []) for layer in group]
        sets = [*layers, *groups]
        names = [("", "" if i == len(layers) - 1 else f"_{i}") for i in range(len(layers))]
        names += [("group_", "")] * len(groups)
        terms = [(names, self.matched_terms(sets, target, self.matcher.match_all(sets, target), num))]
        if "dn" in out:
            dn = out["dn"]
            dn_terms = self.denoising_terms(dn["layers"], target, dn["queries"], num * dn["queries"].groups)
            terms.append(([("dn_", "")] * len(dn["layers"]), dn_terms))
        losses: dict[str, torch.Tensor] = {}
        for set_names, per_set in terms:
            for name, values in per_set.items():
                self._add(losses, set_names, name, self.weights[name] * values)
        if "aux" in out:
            for name, value in self.dense_losses(out["aux"], target).items():
                losses[name] = self.weights[name] * dense_scale * value
        losses["total"] = sum(losses.values())
        return losses

    @staticmethod
    def _add(losses: dict, names: list[tuple[str, str]], term: str, values: torch.Tensor) -> None:
        """values (S,): one term of S sets, named prefix + term + suffix; equal names add up."""
        for (prefix, suffix), value in zip(names, values.unbind(), strict=True):
            key = prefix + term + suffix
            losses[key] = losses[key] + value if key in losses else value

    def set_losses(
        self, p: dict, t: dict, matches: list[tuple], num: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One matched set's terms (0-d); see ``matched_terms``."""
        return {name: v[0] for name, v in self.matched_terms([p], t, [matches], num).items()}

    def denoising_losses(
        self, p: dict, t: dict, dn: DenoisingQueries, num: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One denoising layer's terms (0-d); see ``denoising_terms``."""
        return {name: v[0] for name, v in self.denoising_terms([p], t, dn, num).items()}

    def matched_terms(
        self, sets: list[dict], t: dict, matches: list[list[tuple]], num: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The terms (S,) of S prediction sets (decoder layers, query groups), each with its
        matching (per image: query and object indices, arrays or tensors, into the valid
        objects, which come first in the padded rows). The sets' queries are concatenated, so
        each loss runs once."""
        pred, sizes = _concat(sets)
        rows = [
            np.stack([np.full(len(q), s), np.full(len(q), b), np.asarray(q) + start, np.asarray(g)])
            for s, (per_image, start) in enumerate(zip(matches, np.cumsum([0, *sizes[:-1]]), strict=True))
            for b, (q, g) in enumerate(per_image)
        ]
        idx = torch.from_numpy(np.concatenate(rows, 1)).to(pred["logits"].device, non_blocking=True)
        query_set = torch.from_numpy(np.repeat(np.arange(len(sets)), sizes))  # built on the host: no read
        terms = self.pose_terms(pred, t, idx[0], idx[1], idx[2], idx[3], len(sets), num)
        terms["class"] = self.loss_class_all(pred["logits"], t, idx, query_set.to(idx.device), len(sets), num)
        return terms

    def denoising_terms(
        self, layers: list[dict], t: dict, dn: DenoisingQueries, num: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The terms (L,) of L denoising layers: query g*N + n reconstructs object n, no matching.
        Every slot is computed and padded ones (class 0: their one-hot lands on the last class)
        are weighted 0, so no shape depends on the data."""
        pred, sizes = _concat(layers)
        device, (b, slots) = dn.valid.device, dn.valid.shape
        s_idx = torch.arange(len(layers), device=device).repeat_interleave(b * slots)
        b_idx = torch.arange(b, device=device).repeat_interleave(slots).repeat(len(layers))
        q_idx = torch.arange(slots, device=device).repeat(b * len(layers)) + s_idx * sizes[0]
        gt_idx = dn.object_index.repeat(b * len(layers))
        keep = dn.valid.reshape(-1).repeat(len(layers)).float()
        terms = self.pose_terms(pred, t, s_idx, b_idx, q_idx, gt_idx, len(layers), num, keep)
        logits = pred["logits"][b_idx, q_idx].float()  # (M, C): the denoising queries alone
        onehot = torch.zeros_like(logits)  # one_hot would check the classes' range on the host
        onehot[torch.arange(len(b_idx), device=device), t["class_ids"][b_idx, gt_idx] - 1] = 1.0
        focal = sigmoid_focal_loss(logits, onehot).sum(-1) * keep
        terms["class"] = _per_set(focal, s_idx, len(layers)) / num
        return terms

    def pose_terms(
        self,
        p: dict,
        t: dict,
        s_idx: torch.Tensor,
        b_idx: torch.Tensor,
        q_idx: torch.Tensor,
        gt_idx: torch.Tensor,
        sets: int,
        num: torch.Tensor,
        keep: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Translation, rotation, size (and heading) terms (sets,) of the pairs: query (b_idx,
        q_idx) of set s_idx against object (b_idx, gt_idx), each (M,), weighted by keep (M,)
        (all 1 when None). Computed in fp32."""
        w = torch.ones_like(s_idx, dtype=torch.float32) if keep is None else keep
        p_pos, p_size = position_and_size(
            p["translation"][b_idx, q_idx].float(), p["size"][b_idx, q_idx].float(), self.normalized
        )
        t_pos, t_size = position_and_size(
            t["translations"][b_idx, gt_idx], t["sizes"][b_idx, gt_idx], self.normalized
        )
        sym = self._symmetric(t, b_idx, gt_idx)
        rot = rotation_distance(p["rotation"][b_idx, q_idx].float(), t["rotations"][b_idx, gt_idx], sym)
        per_pair = {
            "translation": (p_pos - t_pos).abs().sum(-1),
            "rotation": rot,
            "size": (p_size - t_size).abs().sum(-1),
        }
        if "heading_logits" in p:
            per_pair["heading"] = self.heading_error(
                p["heading_logits"][b_idx, q_idx].float(), t, b_idx, gt_idx
            )
        return {name: _per_set(err * w, s_idx, sets) / num for name, err in per_pair.items()}

    def loss_class_all(
        self,
        logits: torch.Tensor,
        t: dict,
        idx: torch.Tensor,
        query_set: torch.Tensor,
        sets: int,
        num: torch.Tensor,
    ) -> torch.Tensor:
        """Focal loss (sets,) of every query in logits (B, Q, C) (unmatched ones learn 'no
        object'); idx (4, M): set, image, query, object of the matched pairs; query_set (Q,)."""
        logits = logits.float()
        onehot = torch.zeros_like(logits)
        onehot[idx[1], idx[2], t["class_ids"][idx[1], idx[3]] - 1] = 1.0
        per_query = sigmoid_focal_loss(logits, onehot).sum((0, 2))  # (Q,)
        return _per_set(per_query, query_set, sets) / num

    def heading_error(
        self, logits: torch.Tensor, t: dict, b_idx: torch.Tensor, gt_idx: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy (M,) of heading logits (M, bins) of matched queries against the soft
        target; 0 for objects symmetric about y, which have no heading."""
        has = ~self._symmetric(t, b_idx, gt_idx)
        angle = heading_angle(t["rotations"][b_idx, gt_idx], t["translations"][b_idx, gt_idx])
        target = heading_targets(angle, logits.shape[-1])
        return -(target * logits.log_softmax(-1)).sum(-1) * has

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


def _concat(sets: list[dict]) -> tuple[dict[str, torch.Tensor], list[int]]:
    """Prediction sets -> their tensors concatenated along the query axis, and each set's size."""
    keys = [k for k in ("logits", "translation", "rotation", "size", "heading_logits") if k in sets[0]]
    return {k: torch.cat([p[k] for p in sets], 1) for k in keys}, [p["logits"].shape[1] for p in sets]


def _per_set(values: torch.Tensor, set_of: torch.Tensor, sets: int) -> torch.Tensor:
    """values (M,) summed per set: set_of (M,) -> (sets,)."""
    return values.new_zeros(sets).index_add(0, set_of, values)


def object_count(valid: torch.Tensor) -> torch.Tensor:
    """The number of objects that normalises the set losses, as a 0-d device tensor: averaged
    over DDP processes (DETR's rule) and at least 1; never read on the host."""
    num = valid.sum().float()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(num)
        num = num / dist.get_world_size()
    return num.clamp_min(1.0)
