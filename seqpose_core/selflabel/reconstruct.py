"""A coarse point cloud per video, in its world frame, with an appearance feature per point.

Depth (the video's own, standing in for a reconstruction as CO3D's point clouds do in the
paper, or the network's depth head: the RGB-only path) is back-projected inside the object
mask of every frame, moved into the world frame by the camera poses and thinned on a voxel
grid. A feature map of each frame (an encoder's) is sampled where a point projects, in the
frames that see it (its depth there agrees), and averaged over them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqpose_core.selflabel.segment import Plane
from seqpose_core.selflabel.videos import ObjectVideo, VideoError

SURFACE_VOXEL = 0.002  # metres: the grid the labels' surface is averaged on
SURFACE_FRAMES = 2  # frames that must see a voxel for it to be surface
# rgb (H, W, 3) uint8, k (3, 3) -> feature map (C, h, w) over the whole image, or depth/mask too
FeatureFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Cloud:
    """points (N, 3) world metres, thinned; features (N, C) unit rows or None (geometry only);
    surface (M, 3): the fused surface the labels' boxes are measured on (``clean_surface``: the
    means of 2 mm voxels that two frames see), with their footprint on the support plane where
    it is known (the object stands on it)."""

    name: str
    points: np.ndarray
    features: np.ndarray | None
    surface: np.ndarray | None = None


def _backproject(
    depth: np.ndarray, mask: np.ndarray, k: np.ndarray, pose: np.ndarray, stride: int
) -> np.ndarray:
    v, u = np.mgrid[0 : depth.shape[0] : stride, 0 : depth.shape[1] : stride]
    d = depth[v, u]
    keep = mask[v, u] & (d > 0)
    rays = np.stack([u[keep], v[keep], np.ones(keep.sum())], 1) @ np.linalg.inv(k).T
    cam = rays * d[keep][:, None]
    return cam @ pose[:3, :3].T + pose[:3, 3]


def voxel_thin(points: np.ndarray, voxel: float) -> np.ndarray:
    """One point per occupied voxel: the mean of the points in it."""
    keys = np.floor(points / voxel).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse.reshape(-1), points)
    return sums / counts[:, None]


def clean_surface(points: np.ndarray, frames: np.ndarray, voxel: float, min_frames: int) -> np.ndarray:
    """The fused surface without its noise: points (N, 3) of frames (N,) -> the mean point (M, 3)
    of every ``voxel`` (metres) that at least ``min_frames`` frames hit. A depth error of one
    frame (a stray pixel, an edge) has no second frame behind it, and the mean of many frames'
    noisy points lies on the surface, where the noisy points themselves reach out by some 3
    standard deviations at the extremes a box is measured on."""
    keys = np.floor(points / voxel).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse, points)
    seen = np.zeros(len(counts), np.int64)
    np.add.at(seen, np.unique(np.stack([inverse, frames], 1), axis=0)[:, 0], 1)
    return (sums / counts[:, None])[seen >= min_frames]


def fuse_depth(
    video: ObjectVideo, depth: np.ndarray, mask: np.ndarray, max_points: int = 800, stride: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """depth (F, H, W) metres and mask (F, H, W) bool -> (N <= max_points, 3) world points, and
    the cleaned surface (``clean_surface`` of every pixel's point, SURFACE_VOXEL, SURFACE_FRAMES)."""
    parts = [
        _backproject(d, m, video.k, p, stride)
        for d, m, p in zip(depth, mask, video.cam_to_world, strict=True)
    ]
    points = np.concatenate(parts)
    if len(points) < 50:
        raise VideoError(f"{video.path}: {len(points)} object points in all frames; is the mask empty?")
    extent = np.linalg.norm(np.percentile(points, 98, 0) - np.percentile(points, 2, 0))
    voxel = extent / 30
    thinned = voxel_thin(points, voxel)
    while len(thinned) > max_points:
        voxel *= 1.2
        thinned = voxel_thin(points, voxel)
    dense = [
        _backproject(d, m, video.k, p, 1) for d, m, p in zip(depth, mask, video.cam_to_world, strict=True)
    ]
    frames = np.concatenate([np.full(len(d), f) for f, d in enumerate(dense)])
    surface = clean_surface(np.concatenate(dense), frames, SURFACE_VOXEL, min(SURFACE_FRAMES, len(dense)))
    return thinned, surface if len(surface) >= 50 else points


def point_features(
    video: ObjectVideo, points: np.ndarray, depth: np.ndarray, features: FeatureFn, every: int = 2
) -> np.ndarray:
    """Average of the feature maps of every ``every``-th frame at the points' projections, over the
    frames that see each point (its depth within 3 % of the map's). -> (N, C) unit rows."""
    total, seen = None, np.zeros(len(points))
    for i in range(0, len(video.rgb), every):
        fmap = features(video.rgb[i], video.k)  # (C, h, w)
        world_to_cam = np.linalg.inv(video.cam_to_world[i])
        cam = points @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
        z = cam[:, 2]
        uv = cam[:, :2] / np.maximum(z, 1e-6)[:, None] * np.diag(video.k)[:2] + video.k[:2, 2]
        h, w = depth.shape[1:]
        u, v = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
        inside = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        d = np.zeros(len(points))
        d[inside] = depth[i][v[inside], u[inside]]
        visible = inside & (np.abs(d - z) < 0.03 * z)
        c, fh, fw = fmap.shape
        fu = np.clip((u[visible] + 0.5) * fw / w, 0, fw - 1).astype(int)
        fv = np.clip((v[visible] + 0.5) * fh / h, 0, fh - 1).astype(int)
        total = np.zeros((len(points), c)) if total is None else total
        total[visible] += fmap[:, fv, fu].T
        seen[visible] += 1
    feats = total / np.maximum(seen, 1)[:, None]
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-8)


def build_cloud(
    video: ObjectVideo,
    features: FeatureFn | None,
    depth: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    support: Plane | None = None,
) -> Cloud:
    """The video's cloud; depth and mask default to the video's own (else pass the network's or
    the geometry's); support: the plane the object stands on, when known."""
    depth = video.depth if depth is None else depth
    mask = video.mask if mask is None else mask
    if depth is None or mask is None:
        raise VideoError(f"{video.path}: needs depth and a mask (from the video or the network)")
    points, surface = fuse_depth(video, depth, mask)
    if support is not None:
        surface = np.concatenate([surface, support.footprint(surface)])
    feats = None if features is None else point_features(video, points, depth, features)
    return Cloud(video.name, points, feats, surface)
