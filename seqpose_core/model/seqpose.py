"""SeqPose (figure 2): features (a), the STSQ decoder (b) and the pose head (c), plus auxiliary heads.

One set of weights serves both modes: single-frame (``memory=None``) and multi-frame (a
``TemporalMemory`` carried from frame to frame and updated by ``remember``).
"""

from __future__ import annotations

import torch
from torch import nn

from seqpose_core.model.aux_heads import AuxHeads
from seqpose_core.model.backbone import build_features
from seqpose_core.model.config import ModelConfig
from seqpose_core.model.decoder import STSQDecoder
from seqpose_core.model.memory import MemoryFrame, TemporalMemory
from seqpose_core.model.query_init import anchors_at, dense_anchors, peak_indices


class SeqPose(nn.Module):
    """Image, intrinsics and (in multi-frame mode) the temporal memory -> 9-DoF set predictions."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.features = build_features(cfg)
        self.aux = AuxHeads(cfg.d_model, cfg.encoder_spec["features"], cfg.num_classes)
        self.decoder = STSQDecoder(cfg)

    def new_memory(self) -> TemporalMemory:
        return TemporalMemory(self.cfg.memory_frames, self.cfg.memory_topk)

    def forward(
        self,
        image: torch.Tensor,
        k: torch.Tensor,
        memory: TemporalMemory | None = None,
        stamp: torch.Tensor | None = None,
        with_aux: bool = True,
        targets: dict[str, torch.Tensor] | None = None,
        features_grad: bool = True,
    ) -> dict:
        """image (B, 3, H, W) in [0, 1] at cfg.input_size; k (B, 3, 3) for that image; stamp (B,) s;
        targets: the collated batch, for the denoising queries (training only); features_grad
        False: the encoder and DPT run without gradient (training: only the heads and the
        decoder learn from this frame).

        Returns the decoder's outputs (see ``STSQDecoder.forward``) and, with_aux, ``aux``:
        depth (B, 1, h, w), normals (B, 3, h, w), seg (B, C + 1, h, w) at a quarter-patch stride.
        Without with_aux, dense query selection computes the segmentation map and the depth at
        the selected pixels only.
        """
        mem = memory.gather() if memory is not None else None
        prev = memory.latest if memory is not None else None
        return self.frame(image, k, mem, prev, stamp, with_aux, targets, features_grad)

    def frame(
        self,
        image: torch.Tensor,
        k: torch.Tensor,
        memory: MemoryFrame | None,
        previous: MemoryFrame | None,
        stamp: torch.Tensor | None = None,
        with_aux: bool = True,
        targets: dict[str, torch.Tensor] | None = None,
        features_grad: bool = True,
    ) -> dict:
        """``forward`` with the memory as tensors: its gathered entries and its latest frame
        (both None in single-frame mode), as the exported network takes them."""
        hw = (image.shape[2], image.shape[3])
        with torch.set_grad_enabled(torch.is_grad_enabled() and features_grad):
            feats = self.features(image)
        aux = self.aux(feats["z"][0], feats["g0"]) if with_aux else None
        dense = self._dense_anchors(feats, aux)
        out = self.decoder(
            feats["z"], k, hw, memory=memory, previous=previous, stamp=stamp, dense=dense, targets=targets
        )
        if with_aux:
            out["aux"] = aux
        return out

    def _dense_anchors(self, feats: dict, aux: dict | None) -> torch.Tensor | None:
        """Anchors (B, dense_queries, 3) from the dense heads' peaks, or None without dense queries.
        Without the auxiliary outputs (inference) only the segmentation map is computed whole,
        and the depth head at the selected pixels."""
        n, depth_range = self.cfg.dense_queries, self.cfg.depth_range
        if not n:
            return None
        if aux is not None:
            return dense_anchors(aux["seg"], aux["depth"], n, depth_range)
        with torch.no_grad():  # the selected anchors carry no gradient
            x = self.aux.inputs(feats["z"][0], feats["g0"])
            idx = peak_indices(self.aux.seg(x), n)
            return anchors_at(idx, self.aux.depth_at(x, idx), x.shape[2:], depth_range)

    @staticmethod
    def scores(out: dict) -> torch.Tensor:
        """Confidence per query (B, Q): the best class probability of the last layer."""
        return out["layers"][-1]["logits"].sigmoid().amax(-1)

    def remember(self, memory: TemporalMemory, out: dict, stamp: torch.Tensor) -> None:
        """Push this frame's top-K queries into the memory (assigning ids to fresh ones in ``out``)."""
        memory.push(out["embed"], out["anchors"], self.scores(out).detach(), out["track_ids"], stamp)


def build_model(cfg: ModelConfig) -> SeqPose:
    """The network with the configured pretrained weights loaded (random where none are given)."""
    from seqpose_core.model.weights import load_pretrained

    model = SeqPose(cfg)
    load_pretrained(model, cfg)
    return model
