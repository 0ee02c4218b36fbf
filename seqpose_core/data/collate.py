"""Batching frames into tensors, with the variable number of objects padded and masked."""

from __future__ import annotations

import numpy as np
import torch

from seqpose_core.data.frame import Frame


def collate_frames(frames: list[Frame]) -> dict[str, torch.Tensor]:
    """B frames of one size -> tensors.

    image (B, 3, H, W) float in [0, 1]; k (B, 3, 3); depth (B, 1, H, W); normals (B, 3, H, W);
    class_mask (B, H, W) long; objects padded to N = max count: class_ids (B, N) long,
    rotations (B, N, 3, 3), translations (B, N, 3), sizes (B, N, 3), handle_visible (B, N)
    bool, valid (B, N) bool; stamp (B,).
    """
    sizes = {f.size for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"frames in a batch must share one size, got {sorted(sizes)}")
    n = max([len(f.objects) for f in frames] + [1])
    b = len(frames)
    out = {
        "image": torch.from_numpy(np.stack([f.rgb for f in frames])).permute(0, 3, 1, 2).float() / 255.0,
        "k": torch.from_numpy(np.stack([f.k for f in frames])).float(),
        "depth": torch.from_numpy(np.stack([f.depth for f in frames]))[:, None].float(),
        "normals": torch.from_numpy(np.stack([f.normals for f in frames])).permute(0, 3, 1, 2).float(),
        "class_mask": torch.from_numpy(np.stack([f.class_mask for f in frames])).long(),
        "stamp": torch.tensor([f.stamp for f in frames], dtype=torch.float64),
        "class_ids": torch.zeros(b, n, dtype=torch.long),
        "rotations": torch.eye(3).repeat(b, n, 1, 1),
        "translations": torch.zeros(b, n, 3),
        "sizes": torch.zeros(b, n, 3),
        "handle_visible": torch.ones(b, n, dtype=torch.bool),
        "valid": torch.zeros(b, n, dtype=torch.bool),
    }
    for i, f in enumerate(frames):
        m = len(f.objects)
        o = f.objects
        out["class_ids"][i, :m] = torch.from_numpy(o.class_ids)
        out["rotations"][i, :m] = torch.from_numpy(o.rotations).float()
        out["translations"][i, :m] = torch.from_numpy(o.translations).float()
        out["sizes"][i, :m] = torch.from_numpy(o.sizes).float()
        out["handle_visible"][i, :m] = torch.from_numpy(o.handle_visible)
        out["valid"][i, :m] = True
    return out


def collate_clips(clips: list[list[Frame]]) -> list[dict[str, torch.Tensor]]:
    """B clips of T frames -> T batches (one per time step), each as ``collate_frames``."""
    lengths = {len(c) for c in clips}
    if len(lengths) != 1:
        raise ValueError(f"clips in a batch must share one length, got {sorted(lengths)}")
    return [collate_frames([c[t] for c in clips]) for t in range(lengths.pop())]
