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
the source's distance, light and hard edge.
"""

from __future__ import annotations

import cv2
import numpy as np

from seqpose_core.data.frame import Frame, Objects
from seqpose_core.data.nocs_dataset import MIN_OBJECT_PIXELS
from seqpose_core.data.paste_look import PLAIN, LookDraw, antialias_sigma, composite

BACKGROUND = 255  # instance_mask's background


def turn_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) that turns direction a (3,) onto direction b (3,)."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis, cos = np.cross(a, b), float(a @ b)
    sin = float(np.linalg.norm(axis))
    if sin < 1e-12:
        return np.eye(3)  # the object never lies behind the camera: no half turn is asked for
    x = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / sin
    return np.eye(3) + sin * x + (1 - cos) * (x @ x)


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
    returns target."""
    o, hw = source.objects, target.size
    turn = turn_between(o.translations[index], np.linalg.inv(target.k) @ np.array([*pixel, 1.0]))
    ratio = draw.distance_ratio
    h = _scale_about(pixel, 1.0 / ratio) @ target.k @ turn @ np.linalg.inv(source.k)
    own = (source.instance_mask == o.instance_ids[index]).astype(np.uint8)
    mask = _warp(own, h, hw, nearest=True) > 0
    centre = turn @ o.translations[index] * ratio
    depth_now = _warped_depth(source.depth, h, hw) + (centre[2] - centre[2] / ratio)  # moved along the ray
    if draw.occlusion:
        mask &= ~_occluded(target, depth_now)
    if mask.sum() < MIN_OBJECT_PIXELS:
        return target
    used = set(target.objects.instance_ids.tolist()) | {BACKGROUND}
    new_id = min(set(range(1, 256)) - used)
    instance = target.instance_mask.copy()
    instance[mask] = new_id
    class_mask, rgb, depth, normals = (
        a.copy() for a in (target.class_mask, target.rgb, target.depth, target.normals)
    )
    class_mask[mask] = o.class_ids[index]
    rgb = _pasted_rgb(target, source, h, mask, draw, rng)
    depth[mask] = depth_now[mask]
    normals[mask] = (_warp(source.normals, h, hw, nearest=True) @ turn.T)[mask]
    kept = _keep(target.objects, _visible(target.objects, instance))
    added = Objects(
        np.r_[kept.class_ids, o.class_ids[index]],
        np.concatenate([kept.rotations, (turn @ o.rotations[index])[None]]),
        np.concatenate([kept.translations, centre[None]]),
        np.concatenate([kept.sizes, o.sizes[index][None]]),
        np.r_[kept.instance_ids, new_id],
        np.r_[kept.handle_visible, o.handle_visible[index]],
    )
    return target.with_(
        rgb=rgb, depth=depth, normals=normals, class_mask=class_mask, instance_mask=instance, objects=added
    )


def _pasted_rgb(
    target: Frame,
    source: Frame,
    h: np.ndarray,
    mask: np.ndarray,
    draw: LookDraw,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """The target's rgb with the source warped by h drawn on mask: as cut (PLAIN), else low-passed
    to its new scale and composited in the drawn look."""
    if draw == PLAIN:
        rgb = target.rgb.copy()
        rgb[mask] = _warp(source.rgb, h, target.size, nearest=False)[mask]
        return rgb
    scale = float(np.sqrt(abs(np.linalg.det(h[:2, :2]))))  # target pixels per source pixel, about
    image = source.rgb
    if scale < 1:
        image = cv2.GaussianBlur(image, (0, 0), antialias_sigma(scale))
    warped = _warp(image, h, target.size, nearest=False)
    return composite(target.rgb, warped, mask, draw, rng or np.random.default_rng())
