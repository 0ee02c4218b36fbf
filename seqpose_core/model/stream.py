"""The per-frame network with static shapes: one graph for every frame of a stream.

In multi-frame mode the temporal memory (eq. 5-6) lives in fixed-size buffers: the N x K
entries of the last N frames, oldest first, with a validity mask; the previous frame's
top-K (eq. 6) are the last K entries. Before the first frame every entry is padding, and
the network then gives the estimates of a frame without memory: padded queries and
entries are kept out of attention and pruning. The frame's own top-K are pushed inside the
graph (the buffers shift by K), so a whole step is one function of tensors, which is what
``torch.compile``, CUDA graphs and the ONNX export take: no shape between the image and
the final scores depends on the data, and nothing is read back to the host. Thresholds
apply after the network, on the host (``Predictor``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from seqpose_core.model.config import ModelConfig
from seqpose_core.model.memory import MemoryFrame, assign_ids, move_anchors
from seqpose_core.model.seqpose import SeqPose

# A step's outputs: the last layer's predictions per query, then (multi-frame) the new state.
PREDICTIONS = ("logits", "translation", "rotation", "size", "track_ids", "valid")
STATE = ("mem_embed", "mem_anchors", "mem_stamp", "mem_ids", "mem_valid", "next_id")


@dataclass
class MemoryBuffers:
    """embed (B, N*K, D), anchors (B, N*K, 3) logits, stamp (B, N*K) float64 s, track_ids
    (B, N*K) long, valid (B, N*K) bool, oldest frame first; next_id () long: the next free
    track id."""

    embed: torch.Tensor
    anchors: torch.Tensor
    stamp: torch.Tensor
    track_ids: torch.Tensor
    valid: torch.Tensor
    next_id: torch.Tensor

    @classmethod
    def empty(cls, cfg: ModelConfig, batch: int, device: torch.device | str) -> MemoryBuffers:
        m = cfg.memory_frames * cfg.memory_topk
        return cls(
            embed=torch.zeros(batch, m, cfg.d_model, device=device),
            anchors=torch.zeros(batch, m, 3, device=device),
            stamp=torch.zeros(batch, m, dtype=torch.float64, device=device),
            track_ids=torch.zeros(batch, m, dtype=torch.long, device=device),
            valid=torch.zeros(batch, m, dtype=torch.bool, device=device),
            next_id=torch.ones((), dtype=torch.long, device=device),
        )

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """In the order of ``STATE`` (not dataclasses.astuple, which copies them)."""
        return (self.embed, self.anchors, self.stamp, self.track_ids, self.valid, self.next_id)

    def entries(self) -> MemoryFrame:
        return MemoryFrame(self.embed, self.anchors, self.stamp, self.track_ids, self.valid)

    def latest(self, topk: int) -> MemoryFrame:
        """The previous frame's top-K: the last K entries, stamp (B,)."""
        return MemoryFrame(
            self.embed[:, -topk:],
            self.anchors[:, -topk:],
            self.stamp[:, -1],
            self.track_ids[:, -topk:],
            self.valid[:, -topk:],
        )


def push(
    buffers: MemoryBuffers, out: dict, scores: torch.Tensor, stamp: torch.Tensor, topk: int
) -> tuple[MemoryBuffers, torch.Tensor]:
    """The decoder's output ``out`` and its scores (B, Q) (padding scored below every query)
    -> the buffers shifted by this frame's top-K, and the queries' track ids (B, Q) with the
    ids given to fresh queries that entered the memory."""
    top = scores.topk(topk, dim=1).indices  # (B, K)
    ids, next_id = assign_ids(out["track_ids"].gather(1, top), buffers.next_id)
    track_ids = out["track_ids"].scatter(1, top, ids)
    take = lambda x: x.gather(1, top[..., None].expand(-1, -1, x.shape[-1]))  # noqa: E731
    valid = scores.gather(1, top) >= 0
    new = (take(out["embed"]), take(out["anchors"]), stamp[:, None].expand(-1, topk), ids, valid)
    shifted = [
        torch.cat([old[:, topk:], x.to(old.dtype)], 1)
        for old, x in zip(buffers.tensors()[:5], new, strict=True)
    ]
    return MemoryBuffers(*shifted, next_id), track_ids


class StreamFrame(nn.Module):
    """SeqPose for one frame of a stream with its memory as tensors: what the Predictor runs,
    compiles and exports. autocast: run the whole network under autocast in that dtype
    (half precision; predictions come out fp32), or None for the model's own precision."""

    def __init__(self, model: SeqPose, autocast: torch.dtype | None = None):
        super().__init__()
        self.model = model
        self.autocast = autocast

    def forward(
        self, image: torch.Tensor, k: torch.Tensor, stamp: torch.Tensor, *state: torch.Tensor
    ) -> tuple:
        """image (B, 3, H, W) in [0, 1] at cfg.input_size, k (B, 3, 3), stamp (B,) float64 s, and
        the state (``STATE``; none in single-frame mode) -> ``PREDICTIONS``: logits (B, Q, C),
        translation (B, Q, 3), rotation (B, Q, 3, 3), size (B, Q, 3), track_ids (B, Q) long,
        valid (B, Q) bool; then (multi-frame) the state after this frame."""
        topk = self.model.cfg.memory_topk
        buffers = MemoryBuffers(*state) if state else None
        with self._precision(image.device):
            memory = None if buffers is None else buffers.entries()
            previous = None if buffers is None else buffers.latest(topk)
            out = self.model.frame(image, k, memory, previous, stamp, with_aux=False)
        last = out["layers"][-1]
        preds = tuple(last[name].float() for name in PREDICTIONS[:4])
        valid = out.get("valid", torch.ones_like(out["track_ids"], dtype=torch.bool))
        if buffers is None:
            return (*preds, out["track_ids"], valid)
        scores = torch.where(valid, preds[0].sigmoid().amax(-1), -1.0)
        buffers, track_ids = push(buffers, out, scores, stamp, topk)
        return (*preds, track_ids, valid, *buffers.tensors())

    def _precision(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast)


class StreamMemory:
    """One stream's memory buffers between frames, as the Predictor holds them."""

    def __init__(self, cfg: ModelConfig, device: torch.device | str):
        self.cfg, self.device = cfg, device
        self.reset()

    @torch.inference_mode()  # as the steps' outputs: a compiled step guards on the difference
    def reset(self) -> None:
        self.buffers = MemoryBuffers.empty(self.cfg, 1, self.device)
        self.frames = 0

    def __len__(self) -> int:
        """Frames held (at most N)."""
        return min(self.frames, self.cfg.memory_frames)

    def update(self, state: tuple[torch.Tensor, ...]) -> None:
        """Take the state a step returned (``STATE``)."""
        self.buffers = MemoryBuffers(*state)
        self.frames += 1

    @property
    def latest(self) -> MemoryFrame | None:
        return self.buffers.latest(self.cfg.memory_topk) if self.frames else None

    def gather(self) -> MemoryFrame | None:
        """The entries held, oldest first (B, len * K, ...), padding left out."""
        if not self.frames:
            return None
        held = len(self) * self.cfg.memory_topk
        e = self.buffers.entries()
        return MemoryFrame(
            e.embed[:, -held:], e.anchors[:, -held:], e.stamp[:, -held:], e.track_ids[:, -held:]
        )

    def move(self, transform: torch.Tensor, k: torch.Tensor) -> None:
        """Camera motion (4, 4), p_current = transform @ p_previous: move every entry's anchor
        into the current camera frame; k (B, 3, 3): the network input's intrinsics."""
        b = self.buffers
        b.anchors = move_anchors(b.anchors, transform, k, self.cfg.input_size, self.cfg.depth_range)
