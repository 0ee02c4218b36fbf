"""The spatial-temporal sparse query (STSQ) decoder and the 9-DoF prediction head.

Per frame: the learnable 3D query anchors, preceded by the top-K queries of the previous
frame (eq. 6), pass through ``num_layers`` layers of
  temporal cross-attention to cat(current queries, memory queue) (eq. 7; self-attention
  when the memory is off, i.e. single-frame mode),
  geometry-aware deformable cross-attention to the feature pyramid (eq. 8),
  a feed-forward block,
and after every layer the head predicts class logits, an anchor refinement (the
translation), a 6D rotation and the metric size (eq. 9).
"""

from __future__ import annotations

import torch
from torch import nn

from seqpose_core.model.anchors import anchors_to_points
from seqpose_core.model.config import ModelConfig
from seqpose_core.model.deformable import GeometryDeformableAttention
from seqpose_core.model.memory import MemoryFrame
from seqpose_core.model.rotation import rot6d_to_matrix
from seqpose_core.model.temporal import PoseAwareLayerNorm

SIZE_PRIOR = 0.15  # metres: the size head predicts log(size / SIZE_PRIOR)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(inplace=True), nn.Linear(d_hidden, d_out))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.temporal = nn.MultiheadAttention(d, cfg.num_heads, dropout=cfg.dropout, batch_first=True)
        self.geometric = GeometryDeformableAttention(d, cfg.num_heads, 4, cfg.num_points)
        self.ffn = _mlp(d, cfg.ffn_dim, d)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))

    def forward(
        self,
        q: torch.Tensor,
        pos: torch.Tensor,
        memory: tuple[torch.Tensor, torch.Tensor] | None,
        points: torch.Tensor,
        features: list[torch.Tensor],
        k: torch.Tensor,
        hw: tuple[int, int],
    ) -> torch.Tensor:
        """q, pos (B, Q, D); memory (embed, pos) (B, M, D) or None; points (B, Q, 3) -> (B, Q, D)."""
        key, value = q + pos, q
        if memory is not None:
            key, value = torch.cat([key, memory[0] + memory[1]], 1), torch.cat([value, memory[0]], 1)
        q = self.norms[0](q + self.temporal(q + pos, key, value, need_weights=False)[0])
        q = self.norms[1](q + self.geometric(q + pos, points, features, k, hw))
        return self.norms[2](q + self.ffn(q))


class PoseHead(nn.Module):
    """Query -> class logits, anchor refinement (3), 6D rotation, log size (eq. 9)."""

    def __init__(self, d_model: int, num_classes: int):
        super().__init__()
        self.cls = nn.Linear(d_model, num_classes)
        self.box = _mlp(d_model, d_model, 3 + 6 + 3)
        nn.init.constant_(self.cls.bias, -4.6)  # focal-loss prior: p = 0.01
        nn.init.normal_(self.box[-1].weight, std=1e-3)  # near-identity start, gradients flow from step 0
        with torch.no_grad():
            self.box[-1].bias.copy_(torch.tensor([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0.0]))

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.box(q)
        return self.cls(q), out[..., :3], out[..., 3:9], out[..., 9:]


class STSQDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.content = nn.Embedding(cfg.num_queries, d)
        self.anchors = nn.Embedding(cfg.num_queries, 3)
        nn.init.uniform_(self.anchors.weight, -2.5, 2.5)  # logits: spread over the frustum
        self.pos = _mlp(3, d, d)
        self.pose_norm = PoseAwareLayerNorm(d)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.heads = nn.ModuleList(PoseHead(d, cfg.num_classes) for _ in range(cfg.num_layers))

    def _queries(self, b: int, previous: MemoryFrame | None, stamp: torch.Tensor):
        """Current queries: cat(top-K of t-1, learnable anchors) (eq. 6)."""
        q = self.content.weight[None].expand(b, -1, -1)
        anchors = self.anchors.weight[None].expand(b, -1, -1)
        ids = torch.zeros(b, q.shape[1], dtype=torch.long, device=q.device)
        if previous is not None:
            dt = (stamp[:, None] - previous.stamp[:, None]).expand(-1, previous.embed.shape[1])
            q = torch.cat([self.pose_norm(previous.embed, dt), q], 1)
            anchors = torch.cat([previous.anchors, anchors], 1)
            ids = torch.cat([previous.track_ids, ids], 1)
        return q, anchors, ids

    def forward(
        self,
        features: list[torch.Tensor],
        k: torch.Tensor,
        hw: tuple[int, int],
        memory: MemoryFrame | None = None,
        previous: MemoryFrame | None = None,
        stamp: torch.Tensor | None = None,
    ) -> dict:
        """features: 4 maps (B, D, h, w); k (B, 3, 3) of the input image hw; memory: the queue's
        entries (eq. 5) and previous: its latest frame, both None in single-frame mode; stamp (B,).

        Returns per-layer predictions ``layers`` [{logits (B, Q, C), translation (B, Q, 3),
        rot6d (B, Q, 6), rotation (B, Q, 3, 3), size (B, Q, 3)}], the final ``embed`` (B, Q, D),
        ``anchors`` (B, Q, 3) logits and ``track_ids`` (B, Q) (0 for fresh queries).
        """
        b = k.shape[0]
        stamp = stamp if stamp is not None else torch.zeros(b, dtype=k.dtype, device=k.device)
        q, anchors, ids = self._queries(b, previous, stamp)
        mem = None
        if memory is not None:
            mem_embed = self.pose_norm(memory.embed, stamp[:, None] - memory.stamp)
            mem = (mem_embed, self.pos(torch.sigmoid(memory.anchors)))
        layers = []
        for layer, head in zip(self.layers, self.heads, strict=True):
            points = anchors_to_points(anchors, k, hw, self.cfg.depth_range)
            q = layer(q, self.pos(torch.sigmoid(anchors)), mem, points, features, k, hw)
            logits, delta, rot6d, log_size = head(q)
            anchors = anchors.detach() + delta  # iterative refinement, as in Deformable DETR
            layers.append(
                {
                    "logits": logits,
                    "translation": anchors_to_points(anchors, k, hw, self.cfg.depth_range),
                    "rot6d": rot6d,
                    "rotation": rot6d_to_matrix(rot6d),
                    "size": SIZE_PRIOR * torch.exp(log_size.clamp(-5, 3)),
                }
            )
        return {"layers": layers, "embed": q, "anchors": anchors, "track_ids": ids}
