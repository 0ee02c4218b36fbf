"""Rendered objects in front of a real photograph: real textures around real targets (#45).

With photo negatives alone (``negatives.py``) every photographic frame of training is empty,
and every rendered frame holds objects. A network can then learn "a photograph holds no
object" from the frame's global look rather than what an object is, and the same shortcut
silences a real mug in a real photo. The NOCS CAMERA set (Wang et al. 2019) renders its objects
over photographs of real tables; "Cut, Paste and Learn" (Dwibedi et al. 2017) blends pasted
objects into real backgrounds so that the boundary is no cue. Here a rendered training clip
becomes, with the trainer's probability (``data.photo_background_prob``):

1. A photo clip, drawn as a negative's is (``negatives.photo_crops``: a training-side photo, a
   crop of the frame's aspect, drifting a few pixels per frame).
2. Each frame keeps its annotated objects' pixels (class mask > 0); every other pixel (table,
   walls, distractors) becomes the photo's.
3. The objects are blended in as a paste is (``paste_look.composite``), in one look per clip:
   relit a share of the way to the photo's colours, blurred, given the photo's noise level,
   their edge feathered inwards.
4. Labels, masks and the objects' depth and normals are kept; off the objects depth and normals
   become unknown (0, which the dense losses skip).

A clip none of whose frames holds an object is left as rendered: it would be a photo negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqpose_core.data.frame import Frame
from seqpose_core.data.negatives import NEGATIVES, NegativeConfig, photo_crops
from seqpose_core.data.paste_look import LookDraw, composite


@dataclass(frozen=True)
class BackgroundLook:
    """The ranges the look of one clip's objects is drawn from; every threshold with its unit."""

    light_share: tuple[float, float] = (0.0, 0.5)  # of the way to the photo's mean colour
    blur_px: tuple[float, float] = (0.0, 0.8)  # Gaussian sigma, pixels
    edge_px: tuple[float, float] = (0.5, 1.5)  # Gaussian sigma of the feathered edge, pixels


BACKGROUND_LOOK = BackgroundLook()


def draw_background_look(look: BackgroundLook, rng: np.random.Generator) -> LookDraw:
    """One clip's look (the objects stay where they were rendered: distance ratio 1)."""
    return LookDraw(
        light=float(rng.uniform(*look.light_share)),
        blur_px=float(rng.uniform(*look.blur_px)),
        edge_px=float(rng.uniform(*look.edge_px)),
    )


def on_photo(frame: Frame, photo: np.ndarray, draw: LookDraw, rng: np.random.Generator) -> Frame:
    """Steps 2-4 for one frame: its objects over ``photo`` (H, W, 3) uint8 of the frame's size."""
    objects = frame.class_mask > 0
    if not objects.any():
        return frame.with_(
            rgb=photo.copy(), depth=np.zeros_like(frame.depth), normals=np.zeros_like(frame.normals)
        )
    return frame.with_(
        rgb=composite(photo, frame.rgb, objects, draw, rng),
        depth=np.where(objects, frame.depth, 0).astype(np.float32),
        normals=np.where(objects[..., None], frame.normals, 0).astype(np.float32),
    )


def photo_background_clip(
    clip: list[Frame],
    rng: np.random.Generator,
    look: BackgroundLook = BACKGROUND_LOOK,
    crops: NegativeConfig = NEGATIVES,
) -> list[Frame]:
    """The clip's annotated objects in front of a drifting training-side photo (steps 1-4)."""
    if not any((f.class_mask > 0).any() for f in clip):
        return clip
    photos, _ = photo_crops(clip[0].size, len(clip), rng, crops)
    draw = draw_background_look(look, rng)
    return [on_photo(f, p, draw, rng) for f, p in zip(clip, photos, strict=True)]
