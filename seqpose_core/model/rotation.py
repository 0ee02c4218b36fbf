"""6D rotations in torch (Zhou et al. 2019): the pose head's rotation, Gram-Schmidt on two columns."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rot6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3); the 6 numbers are the first two columns of R before Gram-Schmidt."""
    b1 = F.normalize(d6[..., 0:3], dim=-1)
    a2 = d6[..., 3:6]
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)
