"""How a pasted object is made to look like part of the scene it is pasted into (#48).

A crop cut from a robot's recording carries the recording's traces: its distance (about half a
metre), its light, its sensor's blur and noise and a hard mask edge. A network fed such pastes
can learn the paste instead of the object ("Cut, Paste and Learn", Dwibedi et al. 2017: blend
the boundary, or the detector keys on it; "Simple Copy-Paste", Ghiasi et al. 2021: random
scale and occlusion by the scene's objects). For each pasted clip, ``draw_look`` draws once
(the same draw for every frame of a clip, so the paste does not flicker), and
``paste_object`` (seqpose_core/data/paste.py) applies it:

1. Distance: the object moves along its viewing ray from distance d to d' and its image
   scales by d / d' about its centre pixel; the label moves with it (t' = t d' / d, the same
   rotation). This is exact for the object's points in the plane through its centre facing
   the camera; a point of depth offset a from that plane lands off by about
   a |1/d - 1/d'| of its distance from the centre. d' is drawn where that relative error,
   with a the object's half-diagonal, stays within ``max_shape_error``; beyond it the paste
   would show the perspective of the wrong distance. With ``reproject`` the paste is instead
   re-projected from its own depth (``paste.reproject_object``: every object pixel back-projected,
   moved, projected again, the nearest point kept per pixel), which is right at any distance
   for the surface the recording saw; d' is then drawn from ``min_distance`` to
   ``max_distance``, and no nearer than d / ``max_upscale`` (a paste blown up further would be
   blurrier than the scene).
2. Resolution: a paste that shrinks is low-passed first (Gaussian, sigma 0.5 sqrt(1/f^2 - 1)
   pixels for a scale f < 1), so it is not sharper than the scene's own far objects.
3. Occlusion: the target's objects nearer than the paste hide it (a depth test on the
   target's object pixels), so pasted objects stand behind others as well as in front.
4. Light: the paste's mean colour is moved a random share (``light_share``) of the way to the
   mean colour of the scene around it, per channel.
5. Sensor: a Gaussian blur (``blur_px``), then the target's noise level: noise of the
   variance the target has more than the paste (each estimated from the image's Laplacian).
6. Boundary: the mask is feathered inwards (Gaussian, ``edge_px``) and the paste blended in
   with it, so no source background is drawn; labels and masks keep the hard edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PasteLook:
    """The ranges the look of one pasted clip is drawn from; every threshold with its unit."""

    max_shape_error: float = 0.1  # relative: half-diagonal x |1/d - 1/d'| of the along-ray move
    min_distance: float = 0.3  # metres: never nearer than this
    max_distance: float = 1.5  # metres: never farther than this
    light_share: tuple[float, float] = (0.0, 0.7)  # of the way to the scene's mean colour
    blur_px: tuple[float, float] = (0.0, 1.0)  # Gaussian sigma, target pixels
    edge_px: tuple[float, float] = (0.5, 1.5)  # Gaussian sigma of the feathered edge, pixels
    occlusion: bool = True  # the target's nearer objects hide the paste
    reproject: bool = False  # move the paste by its own depth, not by an image scale
    max_upscale: float = 1.25  # image scale d / d', at most, of a re-projected paste


REPROJECTED = PasteLook(min_distance=0.35, max_distance=1.2, reproject=True)


@dataclass(frozen=True)
class LookDraw:
    """One clip's draw: distance ratio d'/d, light share, blur and edge sigmas (pixels), and
    whether the paste is moved by its depth (``reproject``) or by an image scale."""

    distance_ratio: float = 1.0
    light: float = 0.0
    blur_px: float = 0.0
    edge_px: float = 0.0
    occlusion: bool = False
    reproject: bool = False


PLAIN = LookDraw()  # the cut-and-paste before #48: same distance, hard edge, source light


def distance_range(look: PasteLook, distance: float, half_diagonal: float) -> tuple[float, float]:
    """The distances (metres) an object at ``distance`` of ``half_diagonal`` may be moved to."""
    if look.reproject:
        return max(distance / look.max_upscale, look.min_distance), look.max_distance
    slack = look.max_shape_error / max(half_diagonal, 1e-6)  # allowed |1/d - 1/d'| (1/m)
    near = 1.0 / (1.0 / distance + slack)
    far = 1.0 / (1.0 / distance - slack) if 1.0 / distance > slack else np.inf
    return max(near, look.min_distance), min(far, look.max_distance)


def draw_look(look: PasteLook, distance: float, half_diagonal: float, rng: np.random.Generator) -> LookDraw:
    """One clip's look for an object at ``distance`` (metres) of ``half_diagonal`` (metres);
    the new distance uniform in inverse distance (the image scale) over ``distance_range``."""
    near, far = distance_range(look, distance, half_diagonal)
    new = distance if near >= far else 1.0 / rng.uniform(1.0 / far, 1.0 / near)
    return LookDraw(
        distance_ratio=new / distance,
        light=float(rng.uniform(*look.light_share)),
        blur_px=float(rng.uniform(*look.blur_px)),
        edge_px=float(rng.uniform(*look.edge_px)),
        occlusion=look.occlusion,
        reproject=look.reproject,
    )


def noise_sigma(rgb: np.ndarray) -> float:
    """The image's noise (standard deviation, grey levels), Immerkaer's (1996) estimate from
    the response to a Laplacian-difference kernel that cancels smooth content."""
    grey = rgb.astype(np.float32).mean(-1)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(grey, -1, kernel)[1:-1, 1:-1])
    return float(np.sqrt(np.pi / 2) * response.mean() / 6)


def antialias_sigma(scale: float) -> float:
    """Gaussian sigma (source pixels) before shrinking an image by ``scale`` (< 1)."""
    return 0.5 * float(np.sqrt(max(1.0 / scale**2 - 1.0, 0.0)))


def relight(paste: np.ndarray, mask: np.ndarray, target: np.ndarray, share: float) -> np.ndarray:
    """paste (H, W, 3) float with its mean colour under mask (H, W) bool moved ``share`` of the
    way to target's mean colour in the mask's box grown by half its size each side."""
    if share <= 0:
        return paste
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    dy, dx = (ys.max() - ys.min()) // 2 + 1, (xs.max() - xs.min()) // 2 + 1
    window = target[
        max(0, ys.min() - dy) : min(h, ys.max() + dy), max(0, xs.min() - dx) : min(w, xs.max() + dx)
    ]
    own = paste[mask].mean(0) + 1.0
    scene = window.reshape(-1, 3).astype(np.float32).mean(0) + 1.0
    return paste * (scene / own) ** share


def composite(
    target: np.ndarray, paste: np.ndarray, mask: np.ndarray, draw: LookDraw, rng: np.random.Generator
) -> np.ndarray:
    """The target rgb (H, W, 3) uint8 with the warped paste (H, W, 3) uint8 drawn where mask
    (H, W) bool, in the drawn look: relit, blurred, noise matched, edge feathered."""
    out = relight(paste.astype(np.float32), mask, target, draw.light)
    if draw.blur_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), draw.blur_px)
    extra = noise_sigma(target) ** 2 - noise_sigma(np.clip(out, 0, 255)) ** 2
    if extra > 0:
        out = out + rng.normal(0, np.sqrt(extra), out.shape).astype(np.float32)
    alpha = mask.astype(np.float32)
    if draw.edge_px > 0:  # feathered inwards only: no pixel of the source's background is drawn
        alpha = cv2.GaussianBlur(alpha, (0, 0), draw.edge_px) * alpha
    blended = alpha[..., None] * out + (1 - alpha[..., None]) * target.astype(np.float32)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
