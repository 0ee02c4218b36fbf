"""Real photographs as training frames with no object: the only target is "no object".

The network learns what is *not* one of its classes only from images that hold none. The
algorithm, for one training item:

1. Draw a training-side photo (``photos.TRAINING_PHOTOS``; never an evaluation photo, never one
   that shows a class).
2. Draw a crop of the target's aspect, its side a random share (``crop``) of the largest that
   fits, at a random place; flip it left-right with probability one half.
3. A clip moves the crop a few pixels per frame (``drift_px``), as a camera does.
4. Each frame is resized to the target size and gets the target's intrinsics. Its targets
   are empty: no object (the set head's background class), background in the segmentation,
   and depth and normals unknown (0, which the dense losses skip).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seqpose_core.data.frame import Frame, Objects
from seqpose_core.data.photos import training_photos

BACKGROUND_INSTANCE = 255


@dataclass(frozen=True)
class NegativeConfig:
    crop: tuple[float, float] = (0.35, 1.0)  # crop side / the largest crop of the target's aspect
    drift_px: float = 6.0  # per frame, in the photo's pixels, at most


NEGATIVES = NegativeConfig()


def empty_frame(rgb: np.ndarray, k: np.ndarray, scene: str, index: int, stamp: float) -> Frame:
    """A frame of ``rgb`` (H, W, 3) with no object and unknown depth and normals."""
    h, w = rgb.shape[:2]
    return Frame(
        rgb=rgb,
        k=k,
        depth=np.zeros((h, w), np.float32),
        normals=np.zeros((h, w, 3), np.float32),
        class_mask=np.zeros((h, w), np.uint8),
        instance_mask=np.full((h, w), BACKGROUND_INSTANCE, np.uint8),
        objects=Objects(),
        scene=scene,
        index=index,
        stamp=stamp,
    )


def photo_crops(
    size: tuple[int, int], frames: int, rng: np.random.Generator, cfg: NegativeConfig = NEGATIVES
) -> tuple[list[np.ndarray], int]:
    """Steps 1-3: ``frames`` drifting crops of one training-side photo, each resized to ``size``
    (H, W) as uint8 (H, W, 3), and the photo's index in ``TRAINING_PHOTOS``."""
    photos = training_photos()
    which = int(rng.integers(len(photos)))
    photo = photos[which]
    if rng.random() < 0.5:
        photo = photo[:, ::-1]
    ph, pw = photo.shape[:2]
    h, w = size
    full = min(ph / h, pw / w)  # the largest crop of the target's aspect, in photo pixels per pixel
    scale = full * rng.uniform(*cfg.crop)
    ch, cw = h * scale, w * scale
    y, x = rng.uniform(0, ph - ch), rng.uniform(0, pw - cw)
    step = rng.uniform(-cfg.drift_px, cfg.drift_px, 2)
    out = []
    for t in range(frames):
        y_t = int(np.clip(y + t * step[0], 0, ph - ch))
        x_t = int(np.clip(x + t * step[1], 0, pw - cw))
        crop = photo[y_t : y_t + max(1, int(ch)), x_t : x_t + max(1, int(cw))]
        out.append(cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_AREA))
    return out, which


def negative_clip(
    like: list[Frame], rng: np.random.Generator, cfg: NegativeConfig = NEGATIVES
) -> list[Frame]:
    """A clip of a training photo shaped like ``like`` (sizes, intrinsics and stamps kept)."""
    crops, which = photo_crops(like[0].size, len(like), rng, cfg)
    return [
        empty_frame(rgb, frame.k, f"photo_{which}", t, frame.stamp)
        for t, (rgb, frame) in enumerate(zip(crops, like, strict=True))
    ]
