"""The spatial-temporal sparse query (STSQ) decoder and the 9-DoF prediction head.

Per frame: the 3D query anchors (learned, or some selected from the dense heads), preceded
by the top-K queries of the previous frame (eq. 6), pass through ``num_layers`` layers of
  temporal cross-attention to cat(current queries, memory queue) (eq. 7; self-attention
  when the memory is off, i.e. single-frame mode),
  geometry-aware deformable cross-attention to the feature pyramid (eq. 8),
  a feed-forward block,
and after every layer the head refines the anchors (the translation); the class logits,
6D rotation and metric size (eq. 9) are predicted after every layer in training (DETR's
auxiliary losses) and after the last one only at inference. At inference the queries can
be pruned after the first layer to the ``infer_queries`` it scores best (and those carried
from the previous frame): the later layers then cost a fraction of the first.

The first layer refines a differentiable anchor, so the learned anchors get gradient
from the pose losses; later layers start from a detached anchor (Deformable DETR).
In training, extra query groups (Group DETR) and denoising queries (DN-DETR) join the
matching queries behind an attention mask; only the matching queries enter the memory.
"""

from __future__ import annotations

import torch
from torch import nn

from seqpose_core.model.anchors import anchors_to_points
from seqpose_core.model.config import ModelConfig
from seqpose_core.model.deformable import GeometryDeformableAttention
from seqpose_core.model.denoising import DenoisingQueries, build_denoising, group_attention_mask
from seqpose_core.model.heading import apply_heading, decode_heading
from seqpose_core.model.memory import MemoryFrame
from seqpose_core.model.position import QueryPositionEncoding
from seqpose_core.model.rotation import ray_rotation, rot6d_to_matrix
from seqpose_core.model.sampling import Pyramid, build_pyramid
from seqpose_core.model.temporal import PoseAwareLayerNorm

SIZE_PRIOR = 0.15  # metres: the size head predicts log(size / SIZE_PRIOR)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(inplace=True), nn.Linear(d_hidden, d_out))


class DecoderLayer(nn.Module):
    """One STSQ layer: temporal attention over this frame's queries and the memory's,
    geometry-aware deformable cross-attention to the image pyramid at the queries' projected
    3D points, then an FFN."""

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
        pyramid: Pyramid,
        k: torch.Tensor,
        hw: tuple[int, int],
        mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """q, pos (B, Q, D); memory (embed, pos) (B, M, D) or None; points (B, Q, 3); pyramid:
        the fused maps laid out for sampling; mask (Q, Q + M) bool, True = blocked, or None;
        key_mask (B, Q + M) bool, True = padding, or None -> (B, Q, D)."""
        q = self.attend(q, pos, memory, mask, key_mask)
        return self.look(q, pos, points, pyramid, k, hw)

    def attend(
        self,
        q: torch.Tensor,
        pos: torch.Tensor,
        memory: tuple[torch.Tensor, torch.Tensor] | None,
        mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The temporal cross-attention (self-attention without memory) and its norm."""
        key, value = q + pos, q
        if memory is not None:
            key, value = torch.cat([key, memory[0] + memory[1]], 1), torch.cat([value, memory[0]], 1)
        attn = self.temporal(
            q + pos, key, value, attn_mask=mask, key_padding_mask=key_mask, need_weights=False
        )[0]
        return self.norms[0](q + attn)

    def look(
        self,
        q: torch.Tensor,
        pos: torch.Tensor,
        points: torch.Tensor,
        pyramid: Pyramid,
        k: torch.Tensor,
        hw: tuple[int, int],
    ) -> torch.Tensor:
        """The deformable cross-attention to the image and the feed-forward block."""
        q = self.norms[1](q + self.geometric(q + pos, points, pyramid, k, hw))
        return self.norms[2](q + self.ffn(q))


class PoseHead(nn.Module):
    """Query -> anchor refinement (3); and class logits, 6D rotation, log size (eq. 9); with
    heading_bins, also heading logits over that many bins (``heading.py``)."""

    def __init__(self, d_model: int, num_classes: int, heading_bins: int = 0):
        super().__init__()
        self.cls = nn.Linear(d_model, num_classes)
        self.heading = nn.Linear(d_model, heading_bins) if heading_bins else None
        self.refine = _mlp(d_model, d_model, 3)
        self.pose = _mlp(d_model, d_model, 6 + 3)
        nn.init.constant_(self.cls.bias, -4.6)  # focal-loss prior: p = 0.01
        for mlp in (self.refine, self.pose):  # near-identity start, gradients flow from step 0
            nn.init.normal_(mlp[-1].weight, std=1e-3)
            nn.init.zeros_(mlp[-1].bias)
        with torch.no_grad():
            self.pose[-1].bias[:6].copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q (B, Q, D) -> logits (B, Q, C), rot6d (B, Q, 6), log size (B, Q, 3)."""
        out = self.pose(q)
        return self.cls(q), out[..., :6], out[..., 6:]

    def heading_logits(self, q: torch.Tensor) -> torch.Tensor | None:
        """q (B, Q, D) -> (B, Q, heading_bins), or None without a heading classifier."""
        return None if self.heading is None else self.heading(q)


def _key_mask(queries: torch.Tensor | None, memory: torch.Tensor | None, count: int) -> torch.Tensor | None:
    """Padding of the ``count`` queries (B, count) and of the memory (B, M), True = padded,
    either None when none is padded -> attention key mask (B, count + M), or None."""
    if queries is None and memory is None:
        return None
    if queries is None:
        queries = memory.new_zeros(memory.shape[0], count)
    return queries if memory is None else torch.cat([queries, memory], 1)


def _gap(dt: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Time gaps (B, M) s with padded entries' set to 0: a padding slot's stamp is arbitrary
    and a gap of an epoch's seconds would overflow the pose-aware norm in half precision."""
    return dt if valid is None else torch.where(valid, dt, torch.zeros_like(dt))


def _query_padding(previous: MemoryFrame | None, total: int) -> torch.Tensor | None:
    """(B, total) bool, True for the carried slots of a padded previous frame (fixed-size
    memory before its first frame), or None when no query is padding."""
    if previous is None or previous.valid is None:
        return None
    valid = previous.valid
    return torch.cat([~valid, valid.new_zeros(valid.shape[0], total - valid.shape[1])], 1)


def _split(pred: dict[str, torch.Tensor], sizes: list[int]) -> list[dict[str, torch.Tensor]]:
    """Per-query predictions (B, sum(sizes), ...) -> one dict per query group."""
    parts = {name: value.split(sizes, 1) for name, value in pred.items()}
    return [{name: parts[name][i] for name in pred} for i in range(len(sizes))]


class STSQDecoder(nn.Module):
    """Sparse 3D queries with a temporal memory -> per-layer 9-DoF set predictions."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.learned = cfg.num_queries - cfg.dense_queries
        self.content = nn.Embedding(cfg.num_queries * cfg.train_groups, d)
        self.anchors = nn.Embedding(max(1, self.learned * cfg.train_groups), 3)
        nn.init.uniform_(self.anchors.weight, -2.5, 2.5)  # logits: spread over the frustum
        self.label_embed = nn.Embedding(cfg.num_classes + 1, d) if cfg.dn_groups else None
        self.pos = QueryPositionEncoding(d, cfg.pos_encoding)
        self.pose_norm = PoseAwareLayerNorm(d)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.heads = nn.ModuleList(
            PoseHead(d, cfg.num_classes, cfg.heading_bins) for _ in range(cfg.num_layers)
        )
        self._first: tuple | None = None  # see _first_attention

    def _group(self, g: int, b: int, dense: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Content (B, Q, D) and anchors (B, Q, 3) of query group g: dense anchors first."""
        q = self.cfg.num_queries
        content = self.content.weight[g * q : (g + 1) * q][None].expand(b, -1, -1)
        anchors = self.anchors.weight[g * self.learned : (g + 1) * self.learned][None].expand(b, -1, -1)
        if dense is not None:
            anchors = torch.cat([dense, anchors], 1)
        return content, anchors

    def _queries(
        self,
        b: int,
        previous: MemoryFrame | None,
        stamp: torch.Tensor,
        dense: torch.Tensor | None,
        dn: DenoisingQueries | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
        """All queries: cat(top-K of t-1, group 0) (eq. 6), then the training-only groups and
        denoising queries. Returns content (B, L, D), anchors (B, L, 3), ids of group 0 (B, Q0)
        and the group sizes."""
        q, anchors = self._group(0, b, dense)
        ids = torch.zeros(b, q.shape[1], dtype=torch.long, device=q.device)
        if previous is not None:
            dt = (stamp[:, None] - previous.stamp[:, None]).expand(-1, previous.embed.shape[1])
            q = torch.cat([self.pose_norm(previous.embed, _gap(dt, previous.valid)), q], 1)
            anchors = torch.cat([previous.anchors, anchors], 1)
            ids = torch.cat([previous.track_ids, ids], 1)
        contents, anchor_list = [q], [anchors]
        for g in range(1, self.cfg.train_groups if self.training else 1):
            c, a = self._group(g, b, dense)
            contents.append(c)
            anchor_list.append(a)
        if dn is not None:
            contents.append(dn.content)
            anchor_list.append(dn.anchors)
        sizes = [c.shape[1] for c in contents]
        return torch.cat(contents, 1), torch.cat(anchor_list, 1), ids, sizes

    def _mask(self, sizes: list[int], dn: bool, memory_len: int, device: torch.device) -> torch.Tensor | None:
        if len(sizes) == 1:
            return None
        sees_first = [True] + [False] * (len(sizes) - 1 - dn) + [True] * dn
        mask = group_attention_mask(sizes, sees_first, device)
        return torch.cat([mask, mask.new_zeros(mask.shape[0], memory_len)], 1)  # memory: seen by all

    @staticmethod
    def _prune(
        head: PoseHead,
        q: torch.Tensor,
        anchors: torch.Tensor,
        ids: torch.Tensor,
        keep: int,
        carried: int,
        padding: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Inference: keep the ``keep`` queries (B, Q, .) the first layer scores best, and the
        ``carried`` first ones, those from the previous frame, in their order -> (B, keep', .).
        Padded queries (padding (B, Q) True) are kept last, so that a padded previous frame
        keeps the queries of a frame without one (padding comes back pruned alike)."""
        score = head.cls(q).amax(-1)
        score[:, :carried] = float("inf")
        if padding is not None:
            score = score.masked_fill(padding, float("-inf"))
        keep = max(keep, carried)
        idx = score.topk(keep, dim=1).indices.sort(dim=1).values  # (B, keep)
        take = lambda x: x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))  # noqa: E731
        kept = None if padding is None else padding.gather(1, idx)
        return take(q), take(anchors), ids.gather(1, idx), kept

    def _first_attention(
        self, layer: DecoderLayer, q: torch.Tensor, anchors: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference without memory and dense queries: the first layer's self-attention among
        the learned queries does not depend on the image, so it is computed once per weights
        (any in-place change of a weight, a copy or a device change recomputes it).
        q (B, Q, D) content, anchors (B, Q, 3) -> attended q and position encoding (B, Q, D)."""
        if torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export():
            pos = self.pos(torch.sigmoid(anchors))  # traced: no state kept
            return layer.attend(q, pos, None), pos
        params = [self.content.weight, self.anchors.weight, *self.pos.parameters()]
        params += [*layer.temporal.parameters(), *layer.norms[0].parameters()]
        key = (q.shape, q.device, q.dtype, torch.is_inference_mode_enabled())
        key += tuple((id(p), p._version) for p in params)
        if self._first is None or self._first[0] != key:
            pos = self.pos(torch.sigmoid(anchors))
            self._first = (key, layer.attend(q, pos, None), pos)
        return self._first[1], self._first[2]

    def _camera_rotation(self, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
        """rotation (B, Q, 3, 3) as read, translation (B, Q, 3) -> object -> camera rotation. With
        ``rotation_frame: ray`` the ray's turn is applied; the rotation loss does not move the centre."""
        if self.cfg.rotation_frame == "camera":
            return rotation
        return ray_rotation(translation.detach()) @ rotation

    def _predict(
        self, head: PoseHead, q: torch.Tensor, anchors: torch.Tensor, k: torch.Tensor, hw: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        """Inference with a heading classifier: the rotation takes the 6D rotation's up axis and
        the classified heading; training supervises both as they are."""
        logits, rot6d, log_size = (x.float() for x in head(q))  # fp32 under autocast: 6D -> R
        translation = anchors_to_points(anchors, k, hw, self.cfg.depth_range)
        pred = {
            "logits": logits,
            "translation": translation,
            "rot6d": rot6d,
            "rotation": self._camera_rotation(rot6d_to_matrix(rot6d), translation),
            "size": SIZE_PRIOR * torch.exp(log_size.clamp(-5, 3)),
        }
        heading = head.heading_logits(q)
        if heading is not None:
            pred["heading_logits"] = heading
            if not self.training:
                pred["rotation"] = apply_heading(pred["rotation"], translation, decode_heading(heading))
        return pred

    def forward(
        self,
        features: list[torch.Tensor],
        k: torch.Tensor,
        hw: tuple[int, int],
        memory: MemoryFrame | None = None,
        previous: MemoryFrame | None = None,
        stamp: torch.Tensor | None = None,
        dense: torch.Tensor | None = None,
        targets: dict[str, torch.Tensor] | None = None,
    ) -> dict:
        """features: 4 maps (B, D, h, w); k (B, 3, 3) of the input image hw; memory: the queue's
        entries (eq. 5) and previous: its latest frame, both None in single-frame mode; stamp (B,);
        dense: anchors (B, dense_queries, 3) selected from the dense heads, or None; targets: the
        batch (training with denoising queries only).

        Returns ``layers``: predictions of the matching queries {logits (B, Q, C), translation
        (B, Q, 3), rot6d (B, Q, 6), rotation (B, Q, 3, 3), size (B, Q, 3)}, one per layer in
        training, the last layer's only at inference; the final ``embed`` (B, Q, D), ``anchors``
        (B, Q, 3) logits and ``track_ids`` (B, Q) (0 for fresh queries); with a padded previous
        frame (``previous.valid``) also ``valid`` (B, Q) bool, False for padding. In training also
        ``groups`` (per extra group, its per-layer predictions) and ``dn`` (the denoising
        queries' per-layer predictions and their ``DenoisingQueries``).
        """
        b, cfg = k.shape[0], self.cfg
        stamp = stamp if stamp is not None else torch.zeros(b, dtype=k.dtype, device=k.device)
        dn = None
        if self.training and cfg.dn_groups and targets is not None:
            dn = build_denoising(
                targets, self.label_embed, cfg.dn_groups, cfg.dn_noise, cfg.dn_label_noise, k, hw,
                cfg.depth_range,
            )  # fmt: skip
        q, anchors, ids, sizes = self._queries(b, previous, stamp, dense, dn)
        mem, padding = None, None
        if memory is not None:
            mem_embed = self.pose_norm(memory.embed, _gap(stamp[:, None] - memory.stamp, memory.valid))
            mem = (mem_embed, self.pos(torch.sigmoid(memory.anchors)))
            padding = None if memory.valid is None else ~memory.valid
        mask = self._mask(sizes, dn is not None, 0 if mem is None else mem[0].shape[1], q.device)
        carried = 0 if previous is None else previous.embed.shape[1]
        pad = _query_padding(previous, q.shape[1])
        pyramid = build_pyramid(features, cfg.num_heads)  # once per frame, shared by the layers
        per_layer = []
        constant = previous is None and mem is None and dense is None and dn is None
        for i, (layer, head) in enumerate(zip(self.layers, self.heads, strict=True)):
            points = anchors_to_points(anchors, k, hw, cfg.depth_range)
            if i == 0 and constant and not self.training and not torch.is_grad_enabled():
                q, pos = self._first_attention(layer, q, anchors)
            else:
                pos = self.pos(torch.sigmoid(anchors))
                q = layer.attend(q, pos, mem, mask, _key_mask(pad, padding, q.shape[1]))
            q = layer.look(q, pos, points, pyramid, k, hw)
            ref = anchors if i == 0 and not cfg.detach_first_ref else anchors.detach()
            if i == 0 and not self.training and 0 < cfg.infer_queries < q.shape[1]:
                q, ref, ids, pad = self._prune(head, q, ref, ids, cfg.infer_queries, carried, pad)
                sizes = [q.shape[1]]  # the later layers refine fewer queries
            anchors = ref + head.refine(q)
            if self.training or i == len(self.layers) - 1:
                per_layer.append(_split(self._predict(head, q, anchors, k, hw), sizes))
        out = {
            "layers": [parts[0] for parts in per_layer],
            "embed": q[:, : sizes[0]],
            "anchors": anchors[:, : sizes[0]],
            "track_ids": ids,
        }
        if pad is not None:
            out["valid"] = ~pad[:, : sizes[0]]
        if self.training:
            extra = len(sizes) - 1 - (dn is not None)
            out["groups"] = [[parts[g] for parts in per_layer] for g in range(1, 1 + extra)]
            if dn is not None:
                out["dn"] = {"layers": [parts[-1] for parts in per_layer], "queries": dn}
        return out
