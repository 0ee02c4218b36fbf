"""Cut and paste of a labelled object into another frame, with exact geometry.

Turning a camera about its centre by R maps its image by the homography K' R K^-1, whatever
the depth. So an object cut from a source frame along its mask and warped by
H = K_t R_s K_s^-1 is exactly what a camera with K_t sees after the object turned about the
camera centre by R_s: its label becomes (R_s R, R_s t), at the same distance. R_s is chosen to
bring the object's centre onto any pixel of the target, so a self-labelled object seen close
up in its own recording can stand anywhere among another scene's objects, each frame with a
right label. The pasted object covers what lies under it: the target's objects lose those
pixels, and one left with fewer than MIN_OBJECT_PIXELS visible leaves the labels, as the
loaders do. A ``LookDraw`` (seqpose_core/data/paste_look.py) may also move it along its ray
(its image scaled by d / d' about its centre, t scaled by d' / d), let the target's nearer
objects hide it, and blend it into the scene's light, blur, noise and edges; ``PLAIN`` keeps
the source's distance, light and hard edge. With ``draw.reproject`` the object is moved by
its own depth instead of an image scale (``reproject_object``: back-projected, turned, moved
along the centre's ray, projected again and z-buffered), right at any distance for the
surface the recording saw.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from seqpose_core.data.frame import Frame, Objects
from seqpose_core.data.nocs_dataset import MIN_OBJECT_PIXELS
from seqpose_core.data.paste_look import PLAIN, LookDraw, antialias_sigma, composite
from seqpose_core.geometry import rotation_from_vector

BACKGROUND = 255  # instance_mask's background


def turn_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) that turns direction a (3,) onto direction b (3,)."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin = float(np.linalg.norm(axis))
    if sin < 1e-12:
        return np.eye(3)  # the object never lies behind the camera: no half turn is asked for
    return rotation_from_vector(axis / sin * np.arctan2(sin, float(a @ b)))


def _warp(image: np.ndarray, h: np.ndarray, hw: tuple[int, int], nearest: bool) -> np.ndarray:
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpPerspective(image, h, (hw[1], hw[0]), flags=flags, borderValue=0)


def _warped_depth(depth: np.ndarray, h: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Source depth (metres) at each target pixel, as the turned camera measures it: a source
    point of depth d seen at q = H^-1 (u', v', 1) has depth d / q_z after the turn."""
    v, u = np.mgrid[0 : hw[0], 0 : hw[1]]
    inv = np.linalg.inv(h)
    q_z = inv[2, 0] * u + inv[2, 1] * v + inv[2, 2]
    return (_warp(depth, h, hw, nearest=True) / q_z).astype(np.float32)


def _visible(objects: Objects, instance_mask: np.ndarray) -> np.ndarray:
    """(N,) bool: the objects that keep at least MIN_OBJECT_PIXELS pixels of their own."""
    counts = np.bincount(instance_mask.ravel(), minlength=256)
    return counts[objects.instance_ids.astype(int)] >= MIN_OBJECT_PIXELS


def _keep(objects: Objects, keep: np.ndarray) -> Objects:
    return Objects(*(getattr(objects, f)[keep] for f in Objects.__dataclass_fields__))


def _scale_about(pixel: tuple[float, float], factor: float) -> np.ndarray:
    """(3, 3) image scaling by ``factor`` about ``pixel`` (u, v)."""
    u, v = pixel
    return np.array([[factor, 0, (1 - factor) * u], [0, factor, (1 - factor) * v], [0, 0, 1.0]])


def _occluded(target: Frame, depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: the target's object pixels nearer than the pasted depth."""
    mine = (target.instance_mask != BACKGROUND) & (target.depth > 0)
    return mine & (target.depth < depth)


class View(NamedTuple):
    """The moved object on the target's grid: mask (H, W) bool, rgb (H, W, 3) uint8, depth
    (H, W) metres and normals (H, W, 3) in the target camera, valid under mask."""

    mask: np.ndarray
    rgb: np.ndarray
    depth: np.ndarray
    normals: np.ndarray


def scaled_view(
    source: Frame,
    index: int,
    h: np.ndarray,
    hw: tuple[int, int],
    turn: np.ndarray,
    ratio: float,
    antialias: bool,
) -> View:
    """The object warped by the homography h (its turn and image scale), its depth moved along the
    centre's ray: exact at the source's distance, approximate away from it (paste_look.py, step 1);
    low-passed first where it shrinks if ``antialias``."""
    o = source.objects
    own = (source.instance_mask == o.instance_ids[index]).astype(np.uint8)
    centre = turn @ o.translations[index] * ratio
    scale = float(np.sqrt(abs(np.linalg.det(h[:2, :2]))))  # target pixels per source pixel, about
    image = source.rgb
    if antialias and scale < 1:
        image = cv2.GaussianBlur(image, (0, 0), antialias_sigma(scale))
    return View(
        mask=_warp(own, h, hw, nearest=True) > 0,
        rgb=_warp(image, h, hw, nearest=False),
        depth=_warped_depth(source.depth, h, hw) + (centre[2] - centre[2] / ratio),
        normals=_warp(source.normals, h, hw, nearest=True) @ turn.T,
    )


def _filled_depth(depth: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """depth (H, W) with each hole under mask given its nearest measured mask pixel's depth
    (None if fewer than half of the mask's pixels are measured)."""
    valid = mask & (depth > 0)
    holes = mask & ~valid
    if holes.sum() * 2 > mask.sum():
        return None
    if not holes.any():
        return depth
    _, labels = cv2.distanceTransformWithLabels(
        (~valid).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    value = np.zeros(int(labels.max()) + 1, np.float32)
    value[labels[valid]] = depth[valid]
    return np.where(holes, value[labels], depth).astype(np.float32)


def _close_gaps(view: View) -> View:
    """Fills the one-pixel gaps a forward projection leaves (pixels with at least 5 of their 8
    neighbours drawn) with their drawn neighbours' mean."""
    have = view.mask.astype(np.float32)
    count = cv2.boxFilter(have, -1, (3, 3), normalize=False)
    gaps = ~view.mask & (count >= 5)
    if not gaps.any():
        return view

    def mean(a: np.ndarray) -> np.ndarray:
        weight = have if a.ndim == 2 else have[..., None]
        total = cv2.boxFilter(a.astype(np.float32) * weight, -1, (3, 3), normalize=False)
        return total / (np.maximum(count, 1) if a.ndim == 2 else np.maximum(count, 1)[..., None])

    rgb, depth, normals = view.rgb.copy(), view.depth.copy(), view.normals.copy()
    rgb[gaps] = np.clip(mean(view.rgb)[gaps] + 0.5, 0, 255).astype(np.uint8)
    depth[gaps], normals[gaps] = mean(view.depth)[gaps], mean(view.normals)[gaps]
    return View(view.mask | gaps, rgb, depth, normals)


def _upsampled(m: int, k: np.ndarray, *images: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The intrinsics of the grid m times finer (pixel centres kept) and each image on it:
    uint8 rgb (H, W, 3) linearly, every other one (masks, depth, normals) nearest."""
    if m == 1:
        return k, list(images)
    finer = np.array([[m, 0, (m - 1) / 2], [0, m, (m - 1) / 2], [0, 0, 1.0]]) @ k
    size = (images[0].shape[1] * m, images[0].shape[0] * m)

    def up(a: np.ndarray) -> np.ndarray:
        rgb = a.dtype == np.uint8 and a.ndim == 3
        return cv2.resize(a, size, interpolation=cv2.INTER_LINEAR if rgb else cv2.INTER_NEAREST)

    return finer, [up(a) for a in images]


def reproject_object(
    source: Frame, index: int, k: np.ndarray, hw: tuple[int, int], turn: np.ndarray, ratio: float
) -> View | None:
    """The object moved by its own depth (None if less than half of it has depth): each object
    pixel back-projected, turned about the camera centre, moved along the centre's ray by
    (ratio - 1) t, projected with k onto the (H, W) grid ``hw``, the nearest point kept per
    pixel. Colours are low-passed first where the object shrinks; where it grows the source is
    upsampled first so that the points are denser than the target's pixels; the last one-pixel
    gaps are closed."""
    o = source.objects
    own = source.instance_mask == o.instance_ids[index]
    depth = _filled_depth(source.depth, own)
    if depth is None:
        return None
    scale = float(k[0, 0] / source.k[0, 0]) / ratio  # target pixels per source pixel, about
    rgb = source.rgb if scale >= 1 else cv2.GaussianBlur(source.rgb, (0, 0), antialias_sigma(scale))
    k_source, (own, depth, rgb, normals) = _upsampled(
        int(np.ceil(1.5 * scale)), source.k, own.astype(np.uint8), depth, rgb, source.normals
    )
    v, u = np.nonzero(own)  # own is uint8 here (0 / 1)
    points = turn @ (np.linalg.inv(k_source) @ np.stack([u, v, np.ones_like(u)]) * depth[v, u])
    points += ((ratio - 1) * turn @ o.translations[index])[:, None]
    q = k @ points
    iu, iv = np.round(q[0] / q[2]).astype(int), np.round(q[1] / q[2]).astype(int)
    inside = (q[2] > 0) & (iu >= 0) & (iu < hw[1]) & (iv >= 0) & (iv < hw[0])
    flat, z = iv[inside] * hw[1] + iu[inside], points[2, inside]
    order = np.lexsort((z, flat))  # by pixel, then nearest first
    pick = np.flatnonzero(inside)[order[np.r_[True, flat[order][1:] != flat[order][:-1]]]]
    view = View(
        np.zeros(hw, bool),
        np.zeros((*hw, 3), np.uint8),
        np.zeros(hw, np.float32),
        np.zeros((*hw, 3), np.float32),
    )
    tv, tu = iv[pick], iu[pick]
    view.mask[tv, tu] = True
    view.rgb[tv, tu] = rgb[v[pick], u[pick]]
    view.depth[tv, tu] = points[2, pick]
    view.normals[tv, tu] = normals[v[pick], u[pick]] @ turn.T
    return _close_gaps(view)


def paste_object(
    target: Frame,
    source: Frame,
    index: int,
    pixel: tuple[float, float],
    draw: LookDraw = PLAIN,
    rng: np.random.Generator | None = None,
) -> Frame:
    """target with object ``index`` of source pasted so that its centre projects to ``pixel``
    (u, v) of the target, in the drawn look (``draw``; rng draws its noise), on top of
    everything but the target's nearer objects when ``draw.occlusion``. Its instance id is the
    target's next free one. A paste of which fewer than MIN_OBJECT_PIXELS pixels land in view
    returns target, and so does a re-projected one (``draw.reproject``) whose depth is mostly
    missing."""
    o, hw = source.objects, target.size
    turn = turn_between(o.translations[index], np.linalg.inv(target.k) @ np.array([*pixel, 1.0]))
    ratio = draw.distance_ratio
    if draw.reproject:
        view = reproject_object(source, index, target.k, hw, turn, ratio)
        if view is None:
            return target
    else:
        h = _scale_about(pixel, 1.0 / ratio) @ target.k @ turn @ np.linalg.inv(source.k)
        view = scaled_view(source, index, h, hw, turn, ratio, antialias=draw != PLAIN)
    mask = view.mask & ~_occluded(target, view.depth) if draw.occlusion else view.mask
    if mask.sum() < MIN_OBJECT_PIXELS:
        return target
    used = set(target.objects.instance_ids.tolist()) | {BACKGROUND}
    new_id = min(set(range(1, 256)) - used)
    instance, class_mask, depth, normals = (
        a.copy() for a in (target.instance_mask, target.class_mask, target.depth, target.normals)
    )
    instance[mask], class_mask[mask] = new_id, o.class_ids[index]
    depth[mask], normals[mask] = view.depth[mask], view.normals[mask]
    if draw == PLAIN:
        rgb = target.rgb.copy()
        rgb[mask] = view.rgb[mask]
    else:
        rgb = composite(target.rgb, view.rgb, mask, draw, rng or np.random.default_rng())
    kept = _keep(target.objects, _visible(target.objects, instance))
    added = Objects(
        np.r_[kept.class_ids, o.class_ids[index]],
        np.concatenate([kept.rotations, (turn @ o.rotations[index])[None]]),
        np.concatenate([kept.translations, (turn @ o.translations[index] * ratio)[None]]),
        np.concatenate([kept.sizes, o.sizes[index][None]]),
        np.r_[kept.instance_ids, new_id],
        np.r_[kept.handle_visible, o.handle_visible[index]],
    )
    return target.with_(
        rgb=rgb, depth=depth, normals=normals, class_mask=class_mask, instance_mask=instance, objects=added
    )
