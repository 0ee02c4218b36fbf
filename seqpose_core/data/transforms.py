"""Transforms from dataset frames to the network's input that keep all targets consistent.

A resize and a centre crop change the pixels and the intrinsics only: poses stay in the
same camera frame, so every 3D annotation still projects onto its object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seqpose_core.data.frame import Frame

INPUT_SIZE = (238, 322)  # (H, W) of the paper


def resize_crop_intrinsics(
    k: np.ndarray, src_hw: tuple[int, int], out_hw: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """Intrinsics after resizing to cover ``out_hw`` and cropping its centre.

    Returns (new K, resized (H, W), crop offset (y0, x0)). Pixel centres follow OpenCV:
    u' = sx * (u + 0.5) - 0.5 - x0.
    """
    (h, w), (oh, ow) = src_hw, out_hw
    scale = max(oh / h, ow / w)
    rh, rw = max(oh, round(h * scale)), max(ow, round(w * scale))
    sx, sy = rw / w, rh / h
    y0, x0 = (rh - oh) // 2, (rw - ow) // 2
    out = k.astype(np.float64).copy()
    out[0, 0], out[1, 1] = k[0, 0] * sx, k[1, 1] * sy
    out[0, 2] = sx * (k[0, 2] + 0.5) - 0.5 - x0
    out[1, 2] = sy * (k[1, 2] + 0.5) - 0.5 - y0
    return out, (rh, rw), (y0, x0)


def resize_crop(frame: Frame, out_hw: tuple[int, int] = INPUT_SIZE) -> Frame:
    """Resize (area for colour, nearest for depth, normals and masks) and centre-crop to ``out_hw``."""
    k, (rh, rw), (y0, x0) = resize_crop_intrinsics(frame.k, frame.size, out_hw)
    crop = (slice(y0, y0 + out_hw[0]), slice(x0, x0 + out_hw[1]))

    def nearest(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (rw, rh), interpolation=cv2.INTER_NEAREST)[crop]

    normals = nearest(frame.normals)
    return frame.with_(
        rgb=cv2.resize(frame.rgb, (rw, rh), interpolation=cv2.INTER_AREA)[crop],
        k=k,
        depth=nearest(frame.depth),
        normals=normals,
        class_mask=nearest(frame.class_mask),
        instance_mask=nearest(frame.instance_mask),
    )


@dataclass
class PhotometricJitter:
    """Random brightness, contrast, saturation, hue and sensor noise on the colour image only."""

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue_deg: float = 8.0
    noise: float = 3.0
    seed: int | None = None

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, frame: Frame) -> Frame:
        r = self.rng
        img = frame.rgb.astype(np.float32)
        mean = img.mean()
        img = (img - mean) * r.uniform(1 - self.contrast, 1 + self.contrast) + mean
        img = img + 255.0 * r.uniform(-self.brightness, self.brightness)
        hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + r.uniform(-self.hue_deg, self.hue_deg) / 2) % 180  # OpenCV hue: 0..180
        hsv[..., 1] *= r.uniform(1 - self.saturation, 1 + self.saturation)
        img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
        img += r.normal(0, self.noise, img.shape)
        return frame.with_(rgb=np.clip(img, 0, 255).astype(np.uint8))
