"""Dense geometry from depth: back-projection, surface normals, similarity alignment (Umeyama)."""

from __future__ import annotations

import numpy as np


def backproject(depth: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Camera-frame points (H, W, 3) of a depth map (H, W) in metres (optical frame)."""
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x = (u - k[0, 2]) / k[0, 0] * depth
    y = (v - k[1, 2]) / k[1, 1] * depth
    return np.stack([x, y, depth], axis=-1)


def normals_from_depth(depth: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Unit surface normals (H, W, 3) facing the camera; 0 where depth or a neighbour is missing.

    Central differences of the back-projected points; border pixels use one-sided ones.
    """
    p = backproject(depth, k)
    du = np.zeros_like(p)
    dv = np.zeros_like(p)
    du[:, 1:-1], du[:, 0], du[:, -1] = p[:, 2:] - p[:, :-2], p[:, 1] - p[:, 0], p[:, -1] - p[:, -2]
    dv[1:-1], dv[0], dv[-1] = p[2:] - p[:-2], p[1] - p[0], p[-1] - p[-2]
    n = np.cross(du, dv)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)
    n *= np.where(np.sum(n * p, axis=-1, keepdims=True) > 0, -1.0, 1.0)
    valid = depth > 0
    valid[:, 1:-1] &= (depth[:, 2:] > 0) & (depth[:, :-2] > 0)
    valid[1:-1] &= (depth[2:] > 0) & (depth[:-2] > 0)
    return (n * valid[..., None]).astype(np.float32)


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising ||dst - (s R src + t)||^2 (Umeyama 1991). src, dst: (N, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(xd.T @ xs / len(src))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / xs.var(0).sum())
    return scale, rot, mu_d - scale * rot @ mu_s


def robust_umeyama(
    src: np.ndarray, dst: np.ndarray, rng: np.random.Generator, iters: int = 100, tol: float = 0.01
) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama inside RANSAC: keeps the largest set within ``tol`` metres, refits on it."""
    best = np.ones(len(src), bool)
    best_count = 0
    for _ in range(iters):
        pick = rng.choice(len(src), 4, replace=False)
        s, r, t = umeyama(src[pick], dst[pick])
        inliers = np.linalg.norm(dst - (s * src @ r.T + t), axis=1) < tol
        if inliers.sum() > best_count:
            best, best_count = inliers, int(inliers.sum())
    return umeyama(src[best], dst[best])
