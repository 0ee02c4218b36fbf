"""Writing a transformers DINOv2 state dict in the official checkpoint's key layout, so that
tests can load "official" files through seqpose_core.model.weights (test-only: no user exports)."""

import re

import torch

from seqpose_core.model.weights import _DINO_TO_OFFICIAL, _rename


def dinov2_to_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers Dinov2 keys -> official keys (q, k, v projections joined into qkv)."""
    out = {}
    for name, value in state.items():
        m = re.match(r"^encoder\.layer\.(\d+)\.attention\.q_proj\.(weight|bias)$", name)
        if m:
            parts = [state[f"encoder.layer.{m[1]}.attention.{p}_proj.{m[2]}"] for p in "qkv"]
            out[f"blocks.{m[1]}.attn.qkv.{m[2]}"] = torch.cat(parts, 0)
            continue
        if re.match(r"^encoder\.layer\.\d+\.attention\.[kv]_proj\.", name):
            continue
        renamed = _rename(name, _DINO_TO_OFFICIAL)
        if renamed is not None:
            out[renamed] = value
    return out
