"""Textures for the randomized look: procedural patterns and crops of the training photos.

1. A texture is an RGB float image (S, S, 3) in [0, 1], wrapped (tiled) when looked up.
2. ``random_texture`` draws one kind: a crop of a training-side photo (``TEXTURE.photo_prob``),
   else one of four procedural patterns: multi-octave value noise, stripes, checks, wood
   (rings warped by noise); each tinted by one or two random colours.
3. ``lookup`` samples a texture at continuous coordinates in texture pixels (nearest texel,
   wrapped): the renderer maps world or object coordinates to them with a scale in texels
   per metre.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seqpose_core.data.photos import training_photos


@dataclass(frozen=True)
class TextureConfig:
    size: int = 256  # texels per side
    photo_prob: float = 0.5  # share of textures cut from a training photo
    photo_crop: tuple[float, float] = (0.3, 1.0)  # crop side as a share of the photo's short side
    noise_octaves: int = 4
    stripe_period: tuple[float, float] = (6.0, 40.0)  # texels
    check_period: tuple[float, float] = (8.0, 64.0)  # texels


TEXTURE = TextureConfig()


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.1, 0.95, 3)


def _tint(pattern: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pattern in [0, 1] (S, S) between two random colours -> (S, S, 3)."""
    a, b = _colour(rng), _colour(rng)
    return (a[None, None] * (1 - pattern[..., None]) + b[None, None] * pattern[..., None]).astype(np.float32)


def value_noise(rng: np.random.Generator, size: int, octaves: int) -> np.ndarray:
    """Sum of upsampled random grids, one per octave, normalised to [0, 1] (S, S)."""
    out = np.zeros((size, size), np.float32)
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells, cells)).astype(np.float32)
        out += cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC) / 2**o
    return (out - out.min()) / max(float(np.ptp(out)), 1e-6)


def _procedural(rng: np.random.Generator, cfg: TextureConfig) -> np.ndarray:
    s = cfg.size
    v, u = np.mgrid[0:s, 0:s].astype(np.float32)
    kind = int(rng.integers(4))
    if kind == 0:
        pattern = value_noise(rng, s, cfg.noise_octaves)
    elif kind == 1:
        angle, period = rng.uniform(0, np.pi), rng.uniform(*cfg.stripe_period)
        pattern = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * (u * np.cos(angle) + v * np.sin(angle)) / period))
    elif kind == 2:
        period = rng.uniform(*cfg.check_period)
        pattern = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    else:
        warp = 8.0 * value_noise(rng, s, 3)
        rings = rng.uniform(0.05, 0.2) * np.hypot(u - rng.uniform(-s, 2 * s), v - rng.uniform(-s, 2 * s))
        pattern = 0.5 + 0.5 * np.sin(rings + warp)
    return _tint(pattern.astype(np.float32), rng)


def _photo_crop(rng: np.random.Generator, cfg: TextureConfig) -> np.ndarray:
    photos = training_photos()
    img = photos[int(rng.integers(len(photos)))]
    h, w = img.shape[:2]
    side = max(8, int(min(h, w) * rng.uniform(*cfg.photo_crop)))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = cv2.resize(img[y : y + side, x : x + side], (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return crop.astype(np.float32) / 255.0


def random_texture(rng: np.random.Generator, cfg: TextureConfig = TEXTURE) -> np.ndarray:
    """One texture (S, S, 3) float32 in [0, 1]."""
    return _photo_crop(rng, cfg) if rng.random() < cfg.photo_prob else _procedural(rng, cfg)


def lookup(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Nearest texels at (u, v) in texel units, wrapped: (N,) each -> (N, 3)."""
    h, w = texture.shape[:2]
    return texture[np.floor(v).astype(np.int64) % h, np.floor(u).astype(np.int64) % w]
