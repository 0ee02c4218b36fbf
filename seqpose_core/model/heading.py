"""The heading about an object's up axis, classified into bins instead of regressed.

A 6D rotation regressed with an L1 loss averages the headings that a view leaves open (a
camera seen from behind hides its lens), so its answer can lie between them. A heading
classified into bins keeps every mode, and the most probable bin picks one of them.

The heading is allocentric, the angle that the image shows: the angle of the object's x axis
about its up (y) axis, measured from the viewing ray to the object's centre projected onto
the plane normal to the up axis. The up axis itself still comes from the 6D rotation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _reference(up: torch.Tensor, translation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """up (..., 3) unit, translation (..., 3) -> the reference r and s = up x r (..., 3), both unit
    and normal to up. r is the viewing ray projected; the camera's x axis when the ray is along up."""
    ray = F.normalize(translation, dim=-1)
    r = ray - (ray * up).sum(-1, keepdim=True) * up
    x_axis = torch.zeros_like(up)
    x_axis[..., 0] = 1.0
    fallback = x_axis - (x_axis * up).sum(-1, keepdim=True) * up
    r = torch.where(r.norm(dim=-1, keepdim=True) > 1e-3, r, fallback)
    r = F.normalize(r, dim=-1)
    return r, torch.cross(up, r, dim=-1)


def heading_angle(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """rotation (..., 3, 3) object -> camera, translation (..., 3) -> heading (...) in (-pi, pi]."""
    r, s = _reference(rotation[..., :, 1], translation)
    x = rotation[..., :, 0]
    return torch.atan2((x * s).sum(-1), (x * r).sum(-1))


def bin_centres(bins: int, device: torch.device | None = None) -> torch.Tensor:
    """(bins,) angles of the bin centres, bin 0 centred on heading 0."""
    return torch.arange(bins, device=device, dtype=torch.float32) * (2 * math.pi / bins)


def heading_targets(angle: torch.Tensor, bins: int, sigma_bins: float = 0.5) -> torch.Tensor:
    """angle (...) -> soft targets (..., bins) summing to 1: a circular Gaussian of sigma_bins
    bin widths around the angle, so the neighbours of the nearest bin tell where in it it lies."""
    diff = angle[..., None] - bin_centres(bins, angle.device)
    diff = torch.remainder(diff + math.pi, 2 * math.pi) - math.pi
    logits = -0.5 * (diff / (sigma_bins * 2 * math.pi / bins)) ** 2
    return logits.softmax(-1)


def decode_heading(logits: torch.Tensor) -> torch.Tensor:
    """logits (..., bins) -> angle (...): the most probable bin refined by the probability-weighted
    circular mean of it and its two neighbours."""
    bins = logits.shape[-1]
    prob = logits.softmax(-1)
    top = prob.argmax(-1, keepdim=True)
    near = torch.remainder(top + torch.arange(-1, 2, device=logits.device), bins)  # (..., 3)
    w = prob.gather(-1, near)
    a = bin_centres(bins, logits.device)[near]
    return torch.atan2((w * a.sin()).sum(-1), (w * a.cos()).sum(-1))


def apply_heading(rotation: torch.Tensor, translation: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Keep rotation's up axis, set its heading: (..., 3, 3), (..., 3), (...) -> (..., 3, 3)."""
    up = rotation[..., :, 1]
    r, s = _reference(up, translation)
    x = angle.cos()[..., None] * r + angle.sin()[..., None] * s
    return torch.stack([x, up, torch.cross(x, up, dim=-1)], dim=-1)
