"""Object masks without ground truth, from depth and the robot's geometry.

A robot's recording of one object has depth and the camera's pose in a fixed frame whose up
direction is known, and nothing that says which pixels are the object. Here:

1. every frame's depth is back-projected into the fixed frame (the scene is static there);
2. the support plane is fitted by RANSAC among planes facing up (within 15 degrees), on the
   points near where the camera looks (the floor beyond the table's edge cannot win), and
   everything on or under it is dropped;
3. what stands on it is cut into connected clusters on a 1 cm voxel grid;
4. the object is the cluster where the orbit's viewing rays meet (the point nearest to every
   frame's optical axis, in the least-squares sense): the arm circles what it looks at;
5. each frame's mask is the pixels whose point falls in that cluster's voxels, which follows
   the object through the video because the points are in the fixed frame.

The plane comes back with the masks: the object stands on it, so its box reaches down to it
(the depth never sees the object's underside, and its lowest millimetres are cut with the table).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from seqpose_core.selflabel.videos import ObjectVideo, VideoError


@dataclass(frozen=True)
class SegmentConfig:
    stride: int = 2  # pixels: plane and clusters from every stride-th pixel; masks at every pixel
    plane_tolerance: float = 0.006  # metres: points within this of the plane are the support
    plane_tilt_deg: float = 15.0  # the support plane's normal within this of up
    min_height: float = 0.008  # metres above the plane for a point to belong to an object
    voxel: float = 0.01  # metres: the cluster grid
    reach: float = 0.45  # metres: objects are looked for within this of the focus (across up)
    max_height: float = 0.5  # metres above the plane: a tabletop object is not taller
    ransac: int = 200
    seed: int = 0


def world_points(video: ObjectVideo, depth: np.ndarray, stride: int) -> np.ndarray:
    """depth (F, H, W) metres -> (F, H', W', 3) float32 fixed-frame points at every stride-th
    pixel (NaN where the depth is 0)."""
    v, u = np.mgrid[0 : depth.shape[1] : stride, 0 : depth.shape[2] : stride]
    rays = (np.stack([u, v, np.ones_like(u)], -1).astype(float) @ np.linalg.inv(video.k).T).astype(np.float32)
    d = depth[:, v, u].astype(np.float32)
    d[d <= 0] = np.nan
    cam = rays[None] * d[..., None]
    rot, t = video.cam_to_world[:, :3, :3].astype(np.float32), video.cam_to_world[:, :3, 3].astype(np.float32)
    return np.einsum("fhwj,fij->fhwi", cam, rot) + t[:, None, None]


def orbit_focus(cam_to_world: np.ndarray) -> np.ndarray:
    """The point nearest to every camera's optical axis (F, 4, 4) in the least-squares sense."""
    axes = cam_to_world[:, :3, 2]
    proj = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]  # (F, 3, 3) off-axis parts
    return np.linalg.lstsq(proj.sum(0), np.einsum("fij,fj->i", proj, cam_to_world[:, :3, 3]), rcond=None)[0]


@dataclass(frozen=True)
class Plane:
    """The support plane n . p = c in the fixed frame; n (3,) unit, pointing up."""

    n: np.ndarray
    c: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """points (..., 3) -> (...) metres above the plane."""
        return points @ self.n - self.c

    def footprint(self, points: np.ndarray) -> np.ndarray:
        """points (..., 3) -> the same points dropped onto the plane along n."""
        return points - self.height(points)[..., None] * self.n


def support_plane(points: np.ndarray, up: np.ndarray, cfg: SegmentConfig) -> Plane:
    """RANSAC plane with the most inliers among planes whose normal is within
    cfg.plane_tilt_deg of up."""
    rng = np.random.default_rng(cfg.seed)
    best, best_count = None, -1
    cos_tilt = np.cos(np.radians(cfg.plane_tilt_deg))
    for _ in range(cfg.ransac):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm * np.sign(n @ up or 1.0)
        if n @ up < cos_tilt:
            continue
        count = int((np.abs(points @ n - n @ a) < cfg.plane_tolerance).sum())
        if count > best_count:
            best, best_count = Plane(n, float(n @ a)), count
    if best is None:
        raise VideoError("no support plane facing up in the depth: is the object on a table?")
    return best


def across(points: np.ndarray, focus: np.ndarray, up: np.ndarray) -> np.ndarray:
    """points (..., 3) -> (...) horizontal distance (across up) from focus."""
    offset = points - focus
    return np.linalg.norm(offset - (offset @ up)[..., None] * up, axis=-1)


class Region:
    """Where an object can stand: above the plane by min_height to max_height, within reach of
    the focus across the plane's normal."""

    def __init__(self, plane: Plane, focus: np.ndarray, cfg: SegmentConfig):
        self.plane, self.focus, self.cfg = plane, focus, cfg

    def contains(self, points: np.ndarray) -> np.ndarray:
        """points (..., 3), NaN allowed -> (...) bool."""
        with np.errstate(invalid="ignore"):
            height = self.plane.height(points)
            near = across(points, self.focus, self.plane.n) < self.cfg.reach
            return (height > self.cfg.min_height) & (height < self.cfg.max_height) & near


def object_voxels(points: np.ndarray, focus: np.ndarray, voxel: float) -> np.ndarray:
    """Points on the plane's objects (N, 3) -> the voxel keys (M, 3) of the connected cluster
    nearest to focus (26-connected on the voxel grid)."""
    keys = np.floor(points / voxel).astype(np.int64)
    lo = keys.min(0)
    grid = np.zeros(keys.max(0) - lo + 1, bool)
    grid[tuple((keys - lo).T)] = True
    labels, count = ndimage.label(grid, structure=np.ones((3, 3, 3)))
    point_labels = labels[tuple((keys - lo).T)]
    sizes = np.bincount(point_labels, minlength=count + 1)
    sums = np.zeros((count + 1, 3))
    np.add.at(sums, point_labels, points)
    centres = sums / np.maximum(sizes, 1)[:, None]
    distance = np.linalg.norm(centres - focus, axis=1)
    distance[sizes < 20] = np.inf  # label 0 (empty) and specks: depth noise, not objects
    if not np.isfinite(distance).any():
        raise VideoError("nothing stands on the support plane near where the camera looks")
    return np.unique(keys[point_labels == int(distance.argmin())], axis=0)


def _codes(keys: np.ndarray, lo: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Voxel keys (..., 3) inside the box [lo, lo + shape) -> one int64 each (-1 outside)."""
    rel = keys - lo
    inside = ((rel >= 0) & (rel < shape)).all(-1)
    code = (rel[..., 0] * shape[1] + rel[..., 1]) * shape[2] + rel[..., 2]
    return np.where(inside, code, -1)


def geometry_masks(
    video: ObjectVideo, depth: np.ndarray, up: np.ndarray, cfg: SegmentConfig = SegmentConfig()
) -> tuple[np.ndarray, Plane]:
    """depth (F, H, W) metres, up (3,) unit in the fixed frame -> masks (F, H, W) bool of the
    object the orbit looks at, and the plane it stands on. Raises VideoError naming the video
    when there is none."""
    try:
        sparse = world_points(video, depth, cfg.stride).reshape(-1, 3)
        sparse = sparse[np.isfinite(sparse).all(1)]
        if len(sparse) < 100:
            raise VideoError(f"{len(sparse)} depth points in all frames")
        focus = orbit_focus(video.cam_to_world)
        nearby = across(sparse, focus, up) < cfg.reach
        if nearby.sum() < 100:
            raise VideoError(
                f"{int(nearby.sum())} depth points within {cfg.reach} m of where the camera looks"
            )
        region = Region(support_plane(sparse[nearby], up, cfg), focus, cfg)
        standing = sparse[region.contains(sparse)]
        if len(standing) < 20:
            raise VideoError("nothing stands on the support plane near where the camera looks")
        kept = object_voxels(standing, region.focus, cfg.voxel)
    except VideoError as exc:
        raise VideoError(f"{video.path}: cannot find the object from depth: {exc}") from exc
    lo, shape = kept.min(0), kept.max(0) - kept.min(0) + 1
    object_codes = _codes(kept, lo, shape)
    masks = np.zeros(depth.shape, bool)
    for f in range(len(depth)):  # frame by frame: every pixel's point is held for one frame only
        one = replace(video, cam_to_world=video.cam_to_world[f : f + 1])
        dense = world_points(one, depth[f : f + 1], 1)[0]
        codes = _codes(np.floor(np.nan_to_num(dense, nan=1e6) / cfg.voxel).astype(np.int64), lo, shape)
        masks[f] = region.contains(dense) & np.isin(codes, object_codes) & (codes >= 0)
    return masks, region.plane
