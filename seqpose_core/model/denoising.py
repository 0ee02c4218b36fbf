"""Denoising queries (DN-DETR, DINO) and the attention mask that keeps query groups apart.

In training, each ground-truth object enters the decoder ``groups`` more times as a query
whose anchor is its true position shifted by up to ``noise`` times its size per axis and
whose content is the embedding of its class, replaced by a random class with probability
``label_noise``. Each such query must reconstruct its object (class, translation,
rotation, size): a fixed assignment that needs no matching and so gives every layer a
stable training signal from the first step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqpose_core.model.anchors import points_to_anchors


@dataclass
class DenoisingQueries:
    """content (B, G*N, D); anchors (B, G*N, 3) logits; valid (B, G*N) bool; query g*N + n
    reconstructs object n of its image."""

    content: torch.Tensor
    anchors: torch.Tensor
    valid: torch.Tensor
    groups: int

    @property
    def object_index(self) -> torch.Tensor:
        """(G*N,) long: the object slot each denoising query reconstructs."""
        n = self.content.shape[1] // self.groups
        return torch.arange(n, device=self.content.device).repeat(self.groups)


def build_denoising(
    targets: dict[str, torch.Tensor],
    label_embed: nn.Embedding,
    groups: int,
    noise: float,
    label_noise: float,
    k: torch.Tensor,
    hw: tuple[int, int],
    depth_range: tuple[float, float],
) -> DenoisingQueries:
    """targets: class_ids (B, N) 1..C, translations (B, N, 3), sizes (B, N, 3), valid (B, N)."""
    cls = targets["class_ids"].repeat(1, groups)  # (B, G*N)
    flip = torch.rand(cls.shape, device=cls.device) < label_noise
    random_cls = torch.randint_like(cls, 1, label_embed.num_embeddings)
    cls = torch.where(flip, random_cls, cls)
    t = targets["translations"].repeat(1, groups, 1)
    size = targets["sizes"].repeat(1, groups, 1)
    shift = (torch.rand_like(t) * 2 - 1) * noise * size
    anchors = points_to_anchors(t + shift, k, hw, depth_range).detach()
    return DenoisingQueries(label_embed(cls), anchors, targets["valid"].repeat(1, groups), groups)


def group_attention_mask(sizes: list[int], sees_first: list[bool], device: torch.device) -> torch.Tensor:
    """Self-attention mask (L, L) bool, True = blocked, for consecutive query groups of ``sizes``.

    Every group sees itself; a group whose ``sees_first`` is True also sees group 0 (the
    matching queries), never the reverse, and no group sees another one.
    """
    total = sum(sizes)
    mask = torch.ones(total, total, dtype=torch.bool, device=device)
    start = 0
    for size, first in zip(sizes, sees_first, strict=True):
        mask[start : start + size, start : start + size] = False
        if first:
            mask[start : start + size, : sizes[0]] = False
        start += size
    return mask
