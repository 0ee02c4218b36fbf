"""What a real camera does to an image, drawn per frame for the randomized look.

The algorithm, on a uint8 RGB image:

1. Exposure: a gain and a gamma (auto-exposure that over- or under-shoots).
2. White balance: a gain per channel, the green channel fixed.
3. Blur, with ``blur_prob``: a Gaussian (defocus) or a line kernel (motion) of random direction.
4. Sensor noise: Gaussian with a standard deviation growing with the signal (shot noise) plus a floor.
5. JPEG, with ``jpeg_prob``: encoded and decoded at a random quality (a compressed stream).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraEffectsConfig:
    gain: tuple[float, float] = (0.7, 1.35)  # multiplies the linear signal
    gamma: tuple[float, float] = (0.8, 1.25)
    white_balance: float = 0.12  # red and blue gains in 1 +- this
    blur_prob: float = 0.35
    blur_sigma_px: tuple[float, float] = (0.4, 1.4)  # Gaussian, at the rendered resolution
    motion_px: tuple[int, int] = (3, 9)  # length of a motion-blur line
    noise_floor: tuple[float, float] = (0.5, 4.0)  # standard deviation, grey levels
    shot_noise: tuple[float, float] = (0.0, 0.6)  # extra standard deviation per sqrt(grey level)
    jpeg_prob: float = 0.5
    jpeg_quality: tuple[int, int] = (35, 95)


CAMERA_EFFECTS = CameraEffectsConfig()


def _blur(img: np.ndarray, rng: np.random.Generator, cfg: CameraEffectsConfig) -> np.ndarray:
    if rng.random() < 0.5:
        return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*cfg.blur_sigma_px)))
    n = int(rng.integers(cfg.motion_px[0], cfg.motion_px[1] + 1))
    kernel = np.zeros((n, n), np.float32)
    kernel[n // 2] = 1.0 / n
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (n, n))
    return cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))


def apply_camera_effects(
    rgb: np.ndarray, rng: np.random.Generator, cfg: CameraEffectsConfig = CAMERA_EFFECTS
) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (H, W, 3), the steps of the module docstring."""
    img = rgb.astype(np.float32) / 255.0
    img = np.clip(img * rng.uniform(*cfg.gain), 0, 1) ** rng.uniform(*cfg.gamma)
    wb = np.array(
        [
            1 + rng.uniform(-cfg.white_balance, cfg.white_balance),
            1.0,
            1 + rng.uniform(-cfg.white_balance, cfg.white_balance),
        ]
    )
    img = 255.0 * np.clip(img * wb[None, None], 0, 1)
    if rng.random() < cfg.blur_prob:
        img = np.clip(_blur(img, rng, cfg), 0, 255)  # a filter may undershoot by rounding
    sigma = rng.uniform(*cfg.noise_floor) + rng.uniform(*cfg.shot_noise) * np.sqrt(img)
    img = np.clip(img + sigma * rng.standard_normal(img.shape), 0, 255).round().astype(np.uint8)
    if rng.random() < cfg.jpeg_prob:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV failed to encode a JPEG")
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(img)
