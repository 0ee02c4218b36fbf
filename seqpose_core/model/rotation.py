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


def ray_rotation(translation: torch.Tensor) -> torch.Tensor:
    """(..., 3) points in front of the camera -> (..., 3, 3): the smallest rotation taking the
    optical axis (+z) onto the viewing ray through each point. A rotation read relative to the
    ray (allocentric) becomes the camera-frame one as ``ray_rotation(t) @ R``.

    Rodrigues' formula with axis z x v and cos = v_z, in closed form (no trigonometry):
    R = I + [a]x + [a]x^2 / (1 + v_z), exact for every ray with v_z > -1.
    """
    v = F.normalize(translation, dim=-1)
    vx, vy, vz = v.unbind(-1)
    zero = torch.zeros_like(vx)
    rows = ([zero, zero, vx], [zero, zero, vy], [-vx, -vy, zero])  # [a]x for a = z x v = (-vy, vx, 0)
    skew = torch.stack([torch.stack(row, -1) for row in rows], -2)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand_as(skew)
    return eye + skew + skew @ skew / (1 + vz).clamp_min(1e-6)[..., None, None]
