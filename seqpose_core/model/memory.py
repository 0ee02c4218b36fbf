"""The sparse query memory queue (eq. 5-6): top-K queries of each of the last N frames.

Entries keep their query embedding, their anchor (logits of u, v, depth), the frame's
stamp and a track id. Ids follow the query: a query propagated from the previous frame
keeps its id, a fresh query that enters the memory gets a new one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

from seqpose_core.model.anchors import anchors_to_points, points_to_anchors


@dataclass
class MemoryFrame:
    """One frame's top-K: embed (B, K, D), anchors (B, K, 3), stamp (B,), track_ids (B, K) long.
    Gathered entries: stamp (B, M) per entry; valid (B, M) bool or None (all valid) marks the
    real entries of a memory padded to a fixed length (the exported network's)."""

    embed: torch.Tensor
    anchors: torch.Tensor
    stamp: torch.Tensor
    track_ids: torch.Tensor
    valid: torch.Tensor | None = None


class TemporalMemory:
    """A queue of at most ``frames`` MemoryFrames, oldest first. Holds tensors without gradients."""

    def __init__(self, frames: int, topk: int):
        self.frames, self.topk = frames, topk
        self.queue: deque[MemoryFrame] = deque(maxlen=frames)
        self.next_id: torch.Tensor | int = 1  # a device tensor once queries were pushed

    def reset(self) -> None:
        self.queue.clear()

    def __len__(self) -> int:
        return len(self.queue)

    @property
    def latest(self) -> MemoryFrame | None:
        return self.queue[-1] if self.queue else None

    def gather(self) -> MemoryFrame | None:
        """All entries, ordered by frame (oldest first): (B, N*K, ...), stamps per entry (B, N*K)."""
        if not self.queue:
            return None
        return MemoryFrame(
            embed=torch.cat([f.embed for f in self.queue], 1),
            anchors=torch.cat([f.anchors for f in self.queue], 1),
            stamp=torch.cat([f.stamp[:, None].expand(-1, f.embed.shape[1]) for f in self.queue], 1),
            track_ids=torch.cat([f.track_ids for f in self.queue], 1),
        )

    def push(
        self,
        embed: torch.Tensor,
        anchors: torch.Tensor,
        scores: torch.Tensor,
        track_ids: torch.Tensor,
        stamp: torch.Tensor,
    ) -> None:
        """Keep the top-K queries of a frame by score.

        embed (B, Q, D), anchors (B, Q, 3), scores (B, Q), track_ids (B, Q) (0 = not yet
        assigned: such entries get new ids), stamp (B,).
        """
        top = scores.topk(min(self.topk, scores.shape[1]), dim=1).indices
        ids, self.next_id = assign_ids(track_ids.gather(1, top), self.next_id)
        track_ids.scatter_(1, top, ids)  # the caller sees the ids its queries were given
        self.queue.append(
            MemoryFrame(
                embed=embed.gather(1, top[..., None].expand(-1, -1, embed.shape[2])).detach(),
                anchors=anchors.gather(1, top[..., None].expand(-1, -1, 3)).detach(),
                stamp=stamp.detach().to(torch.float64),  # epoch seconds need float64
                track_ids=ids,
            )
        )


def assign_ids(ids: torch.Tensor, next_id: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor]:
    """Track ids (B, K) with 0 for fresh entries -> the ids with fresh ones numbered from
    next_id on (row-major), and the next free id; no host read."""
    fresh = ids == 0
    order = fresh.flatten().cumsum(0).view_as(fresh)  # 1, 2, ... over the fresh entries
    return torch.where(fresh, next_id + order - 1, ids), next_id + fresh.sum()


def move_anchors(
    anchors: torch.Tensor,
    transform: torch.Tensor,
    k: torch.Tensor,
    hw: tuple[int, int],
    depth_range: tuple[float, float],
) -> torch.Tensor:
    """Anchors (B, M, 3) logits seen from the previous camera -> the same points' anchors in the
    current camera, p_current = transform (4, 4) @ p_previous."""
    rot, trans = transform[:3, :3].to(k.dtype), transform[:3, 3].to(k.dtype)
    points = anchors_to_points(anchors, k, hw, depth_range) @ rot.T + trans
    return points_to_anchors(points, k, hw, depth_range)
