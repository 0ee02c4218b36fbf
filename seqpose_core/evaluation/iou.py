"""3D IoU of NOCS boxes (sRT, scales), batched over pairs.

``legacy_iou`` reproduces the reference NOCS evaluation code: it transforms the 8 box
corners into the camera frame, then takes min/max of each corner's coordinates (over
the wrong axis), and multiplies 8 "extents". The result is not a true IoU, but
published tables depend on it. ``exact_iou`` intersects the two oriented boxes.

Both take the sRT of the prediction first; for objects symmetric about y the
prediction is turned about its y axis in 20 steps and the best IoU is kept.
"""

from __future__ import annotations

import numpy as np

from seqpose_core.geometry import CORNER_SIGNS, rotation_about_y

SYMMETRY_STEPS = 20
_Y_TURNS = np.zeros((SYMMETRY_STEPS, 4, 4))
_Y_TURNS[:, :3, :3] = rotation_about_y(2.0 * np.pi * np.arange(SYMMETRY_STEPS) / SYMMETRY_STEPS)
_Y_TURNS[:, 3, 3] = 1.0


def _camera_corners(srt: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(P, 4, 4), (P, 3) -> homogeneous transform of the NOCS corners, (P, 3, 8)."""
    cube = np.ones((len(scales), 4, 8))
    cube[:, :3, :] = np.swapaxes(0.5 * scales[:, None, :] * CORNER_SIGNS, 1, 2)
    out = srt @ cube
    return out[:, :3, :] / out[:, 3:4, :]


def _legacy_once(srt1: np.ndarray, srt2: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    c1, c2 = _camera_corners(srt1, s1), _camera_corners(srt2, s2)
    max1, min1 = c1.max(axis=1), c1.min(axis=1)  # (P, 8): per corner, over x, y, z
    max2, min2 = c2.max(axis=1), c2.min(axis=1)
    lo, hi = np.maximum(min1, min2), np.minimum(max1, max2)
    inter = np.where((hi - lo).min(axis=1) < 0, 0.0, np.prod(hi - lo, axis=1))
    union = np.prod(max1 - min1, axis=1) + np.prod(max2 - min2, axis=1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union  # 0/0 (a corner with equal x, y, z) is nan, as in the reference


def legacy_iou(
    srt_pred: np.ndarray, srt_gt: np.ndarray, s_pred: np.ndarray, s_gt: np.ndarray, symmetric: np.ndarray
) -> np.ndarray:
    """The reference code's 3D "IoU": (P, 4, 4), (P, 4, 4), (P, 3), (P, 3), (P,) bool -> (P,)."""
    iou = _legacy_once(srt_pred, srt_gt, s_pred, s_gt)
    sym = np.flatnonzero(symmetric)
    if len(sym):
        best = np.zeros(len(sym))
        for turn in _Y_TURNS:
            # fmax: a nan turn leaves the running best as the reference's Python max() does
            best = np.fmax(best, _legacy_once(srt_pred[sym] @ turn, srt_gt[sym], s_pred[sym], s_gt[sym]))
        iou[sym] = best
    return iou


def _box_frame(srt: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sRT, scales -> rotation (P, 3, 3), centre (P, 3), metric half extents (P, 3)."""
    m = srt[:, :3, :3]
    s = np.cbrt(np.linalg.det(m))
    u, _, vt = np.linalg.svd(m / s[:, None, None])
    return u @ vt, srt[:, :3, 3] / srt[:, 3:4, 3], 0.5 * scales * s[:, None]


def _faces(rot: np.ndarray, centre: np.ndarray, half: np.ndarray) -> np.ndarray:
    """The 6 outward-wound quads of boxes: (P, 6, 4, 3) in the frame of ``rot``/``centre``."""
    p = len(half)
    faces = np.empty((p, 6, 4, 3))
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3
        for side, sign in enumerate((1.0, -1.0)):
            quad = np.zeros((4, 3))
            quad[:, axis] = sign
            quad[:, u] = [1, -1, -1, 1] if sign > 0 else [1, 1, -1, -1]
            quad[:, v] = [1, 1, -1, -1] if sign > 0 else [1, -1, -1, 1]
            faces[:, 2 * axis + side] = quad * half[:, None, :]
    return faces @ np.swapaxes(rot, 1, 2)[:, None] + centre[:, None, None, :]


def _planes(rot: np.ndarray, centre: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward normals (P, 6, 3) and offsets (P, 6): inside is ``n . x <= d``."""
    axes = np.swapaxes(rot, 1, 2)  # rows are the box axes
    normals = np.stack([axes[:, 0], -axes[:, 0], axes[:, 1], -axes[:, 1], axes[:, 2], -axes[:, 2]], 1)
    offsets = np.einsum("pkj,pj->pk", normals, centre) + np.repeat(half, 2, axis=1)
    return normals, offsets


def _clip(poly: np.ndarray, count: np.ndarray, normal: np.ndarray, offset: np.ndarray, eps: float):
    """Sutherland-Hodgman clip of polygons by half-spaces ``n . x <= d + eps``.

    poly (N, V, 3), count (N,), normal (N, 3), offset (N,) -> (poly (N, V, 3), count (N,)).
    """
    n, v = count.shape[0], poly.shape[1]
    k = np.arange(v)
    valid = k[None] < count[:, None]
    nxt = np.where(k[None] + 1 < count[:, None], k[None] + 1, 0)
    dist = np.einsum("nvj,nj->nv", poly, normal) - offset[:, None]
    inside = dist <= eps
    dist_next = np.take_along_axis(dist, nxt, 1)
    inside_next = np.take_along_axis(inside, nxt, 1)
    p_next = np.take_along_axis(poly, nxt[..., None], 1)
    frac = np.clip(dist / np.where(dist == dist_next, 1.0, dist - dist_next), 0.0, 1.0)
    cross = poly + frac[..., None] * (p_next - poly)
    keep = np.stack([valid & inside, valid & (inside != inside_next)], 2).reshape(n, 2 * v)
    cand = np.stack([poly, cross], 2).reshape(n, 2 * v, 3)
    slot = np.cumsum(keep, 1) - 1
    out = np.zeros((n, v, 3))
    rows = np.broadcast_to(np.arange(n)[:, None], keep.shape)
    out[rows[keep], slot[keep]] = cand[keep]
    return out, keep.sum(1)


def _clipped_volume_term(faces: np.ndarray, normals: np.ndarray, offsets: np.ndarray, drop_coplanar: bool):
    """Sum of signed tetra volumes (origin, fan) of box faces clipped by the other boxes.

    faces (P, 6, 4, 3); normals (P, 6, 3), offsets (P, 6) of the other boxes -> (P,).
    A face lying in one of the other box's planes is kept once: by the first box when
    both face the same way, by neither when they face each other.
    """
    p = faces.shape[0]
    eps = 1e-9
    poly = np.zeros((p * 6, 12, 3))
    poly[:, :4] = faces.reshape(p * 6, 4, 3)
    count = np.full(p * 6, 4)
    quads = poly[:, :4].copy()
    face_normal = np.cross(quads[:, 1] - quads[:, 0], quads[:, 2] - quads[:, 0])
    face_normal /= np.linalg.norm(face_normal, axis=1, keepdims=True)
    alive = np.ones(p * 6, dtype=bool)
    for k in range(6):
        nk, dk = np.repeat(normals[:, k], 6, 0), np.repeat(offsets[:, k], 6, 0)
        dist = np.einsum("nvj,nj->nv", quads, nk) - dk[:, None]
        on_plane = np.all(np.abs(dist) <= 1e-7, axis=1)
        same_way = np.sum(face_normal * nk, axis=1) > 0
        alive &= ~on_plane | (same_way & (not drop_coplanar))
        poly, count = _clip(poly, count, nk, dk, eps)
    count = np.where(alive, count, 0)
    v0 = poly[:, 0]
    k = np.arange(1, 11)
    tri = (k[None] + 1) < count[:, None]
    vol = np.einsum("nj,nkj->nk", v0, np.cross(poly[:, 1:11], poly[:, 2:12])) / 6.0
    return np.where(tri, vol, 0.0).sum(1).reshape(p, 6).sum(1)


def _exact_once(srt1: np.ndarray, srt2: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    r1, c1, h1 = _box_frame(srt1, s1)
    r2, c2, h2 = _box_frame(srt2, s2)
    # Work relative to box 2's centre to keep the fan volumes well conditioned.
    c1, c2 = c1 - c2, np.zeros_like(c2)
    n1, d1 = _planes(r1, c1, h1)
    n2, d2 = _planes(r2, c2, h2)
    inter = _clipped_volume_term(_faces(r1, c1, h1), n2, d2, drop_coplanar=False)
    inter += _clipped_volume_term(_faces(r2, c2, h2), n1, d1, drop_coplanar=True)
    inter = np.maximum(inter, 0.0)
    v1, v2 = 8.0 * np.prod(h1, 1), 8.0 * np.prod(h2, 1)
    return np.clip(inter / (v1 + v2 - inter), 0.0, 1.0)


def exact_iou(
    srt_pred: np.ndarray, srt_gt: np.ndarray, s_pred: np.ndarray, s_gt: np.ndarray, symmetric: np.ndarray
) -> np.ndarray:
    """True IoU of the oriented boxes: (P, 4, 4), (P, 4, 4), (P, 3), (P, 3), (P,) bool -> (P,).

    Pairs whose bounding spheres do not meet are 0 without clipping.
    """
    iou = np.zeros(len(s_pred))
    r_pred = 0.5 * np.linalg.norm(s_pred, axis=1) * np.cbrt(np.linalg.det(srt_pred[:, :3, :3]))
    r_gt = 0.5 * np.linalg.norm(s_gt, axis=1) * np.cbrt(np.linalg.det(srt_gt[:, :3, :3]))
    gap = np.linalg.norm(srt_pred[:, :3, 3] - srt_gt[:, :3, 3], axis=1)
    near = np.flatnonzero(gap < r_pred + r_gt)
    plain = near[~symmetric[near]]
    if len(plain):
        iou[plain] = _exact_once(srt_pred[plain], srt_gt[plain], s_pred[plain], s_gt[plain])
    sym = near[symmetric[near]]
    if len(sym):
        turned = (srt_pred[sym][:, None] @ _Y_TURNS[None]).reshape(-1, 4, 4)
        rep = np.repeat(np.arange(len(sym)), SYMMETRY_STEPS)
        all_iou = _exact_once(turned, srt_gt[sym][rep], s_pred[sym][rep], s_gt[sym][rep])
        iou[sym] = all_iou.reshape(len(sym), SYMMETRY_STEPS).max(1)
    return iou
