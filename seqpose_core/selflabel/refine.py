"""Each video's camera poses corrected for the hand-eye calibration error, against its own depth.

A robot's TF puts the camera where the hand-eye calibration says, off the true camera by a few
millimetres and most of a degree. That error X is one rigid transform in the camera's own
frame, the same in every frame of a recording (true camera = TF's camera @ X); seen in the
fixed frame it turns with the camera, so the frames' depth lands a little apart and a box
measured on the fused points grows by that smear on every side. The scene is static, so X is
found by making the frames agree (a per-frame correction would have six unknowns a frame and
drift together; one X has six in all). A 1-pixel colour-depth misregistration is, for the
depth, a turn of its camera by a pixel's angle, and is taken out with X's rotation:

1. every frame's depth (every ``stride``-th pixel) within ``reach`` of where the orbit looks
   (the object, its neighbours and the table: the table pins height and tilt, the objects the
   rest) is back-projected into the camera frame, evenly thinned to at most ``max_points`` a
   frame (a 640x480 camera would otherwise give 16 times a 160x120 one's pairs to match, for
   the same surface: about 50,000 points a frame at stride 2);
2. through TF's pose and the current X, all frames' points go into the fixed frame; each point
   is paired with the nearest point of *another* frame within ``max_pair``, whose plane (the
   smallest principal axis of its ``neighbours`` nearest points) it should lie on;
3. the update of X's rotation (a small turn in the camera frame, which moves both points of a
   pair, each through its own camera) is solved by Gauss-Newton on the point-to-plane
   distances, weighted by Tukey's biweight of scale ``robust_scale``, so that stray depth and
   what only one frame sees do not pull. Its translation is left to TF unless
   ``translation``: on an orbit that looks at one point, moving every camera along its optical
   axis moves each frame's points towards or away from the object alike, so the frames still
   agree and the depth hardly sees it (estimated, the noise decides it);
4. steps 2-3 are repeated ``rounds`` times;
5. a correction larger than ``max_turn_deg`` or ``max_shift`` is refused (the poses stay TF's):
   it would be a wrong match, not a calibration residual.

What a fixed X cannot explain is left: joint noise (under a millimetre) and a late TF clock,
which at a real arm's pace (a turn in 20-40 s) moves the camera a fraction of a millimetre.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from seqpose_core.geometry import rotation_from_vector
from seqpose_core.selflabel.segment import across, orbit_focus, world_points
from seqpose_core.selflabel.videos import ObjectVideo


@dataclass(frozen=True)
class RefineConfig:
    stride: int = 2  # pixels: every stride-th pixel's depth
    max_points: int = 6000  # per frame, after the reach (a 160x120 frame gives 2,000-2,600)
    reach: float = 0.3  # metres across up from where the orbit looks
    neighbours: int = 10  # points per normal
    max_pair: float = 0.015  # metres: farther pairs are not matched
    robust_scale: float = 0.006  # metres: Tukey's biweight cut-off
    rounds: int = 8
    translation: bool = False  # also X's translation (weakly seen on an orbit: see step 3)
    max_turn_deg: float = 3.0  # a correction beyond this is refused
    max_shift: float = 0.03  # metres


def _frame_points(video: ObjectVideo, depth: np.ndarray, cfg: RefineConfig) -> list[np.ndarray]:
    """Per frame, its camera-frame points (N_f, 3) near where the orbit looks."""
    world = world_points(video, depth, cfg.stride)  # (F, H', W', 3) through the current poses
    focus = orbit_focus(video.cam_to_world)
    up = video.world_up if video.world_up is not None else np.array([0.0, 0.0, 1.0])
    out = []
    for f, pts in enumerate(world.reshape(len(world), -1, 3)):
        pts = pts[np.isfinite(pts).all(1)]
        pts = pts[across(pts, focus, up) < cfg.reach]
        pts = pts[:: -(-len(pts) // cfg.max_points)] if len(pts) > cfg.max_points else pts
        inv = np.linalg.inv(video.cam_to_world[f])
        out.append(pts @ inv[:3, :3].T + inv[:3, 3])
    return out


def _allowed(correction: np.ndarray, cfg: RefineConfig) -> bool:
    angle = np.degrees(np.arccos(np.clip((np.trace(correction[:3, :3]) - 1) / 2, -1, 1)))
    return angle <= cfg.max_turn_deg and np.linalg.norm(correction[:3, 3]) <= cfg.max_shift


def _skew(p: np.ndarray) -> np.ndarray:
    """(N, 3) -> (N, 3, 3) cross-product matrices: _skew(p) @ w = p x w."""
    z = np.zeros(len(p))
    return np.stack([z, -p[:, 2], p[:, 1], p[:, 2], z, -p[:, 0], -p[:, 1], p[:, 0], z], 1).reshape(-1, 3, 3)


def _pairs(
    world: np.ndarray, frame: np.ndarray, cfg: RefineConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point (N, 3) of frame id ``frame`` (N,) paired with the nearest point of another frame
    within max_pair: (index a, index b, unit normal at b), the pairs that hold."""
    tree = cKDTree(world)
    k = 8
    dist, idx = tree.query(world, k=k + 1, distance_upper_bound=cfg.max_pair)
    idx = np.where(np.isfinite(dist), idx, len(world))
    other = np.where(idx < len(world), frame[np.minimum(idx, len(world) - 1)] != frame[:, None], False)
    first = other.argmax(1)
    has = other.any(1)
    a = np.flatnonzero(has)
    b = idx[a, first[a]]
    at, back = np.unique(b, return_inverse=True)
    _, near = tree.query(world[at], k=cfg.neighbours)
    spread = world[near] - world[near].mean(1, keepdims=True)
    normals = np.linalg.eigh(np.einsum("nki,nkj->nij", spread, spread))[1][:, :, 0]
    return a, b, normals[back.reshape(-1)]


def _update(
    cams: np.ndarray, frame: np.ndarray, tf: np.ndarray, x: np.ndarray, cfg: RefineConfig
) -> np.ndarray | None:
    """One Gauss-Newton step (steps 2-3): the new X (4, 4), or None when too few pairs hold.
    cams (N, 3) camera-frame points of frames ``frame`` (N,); tf (F, 4, 4) TF's poses."""
    poses = tf @ x
    world = np.einsum("nij,nj->ni", poses[frame, :3, :3], cams) + poses[frame, :3, 3]
    a, b, n = _pairs(world, frame, cfg)
    r = np.einsum("ni,ni->n", world[b] - world[a], n)  # to close: n . (w_b - w_a)
    w = np.clip(1 - (r / cfg.robust_scale) ** 2, 0, None) ** 2
    if (w > 0).sum() < 50:
        return None
    rot_a, rot_b = poses[frame[a], :3, :3], poses[frame[b], :3, :3]  # world <- camera, with X
    # d w = R (omega x p + v) = R (-[p]x omega + v) for each point of the pair, through its camera
    ja = np.einsum("ni,nij->nj", n, np.concatenate([-rot_a @ _skew(cams[a]), rot_a], 2))
    jb = np.einsum("ni,nij->nj", n, np.concatenate([-rot_b @ _skew(cams[b]), rot_b], 2))
    sw = np.sqrt(w)[:, None]
    free = 6 if cfg.translation else 3
    step = np.linalg.lstsq(((ja - jb) * sw)[:, :free], r * sw[:, 0], rcond=None)[0]
    out = np.eye(4)
    out[:3, :3] = rotation_from_vector(step[:3])
    out[:3, 3] = step[3:] if cfg.translation else 0.0
    return x @ out


def refine_poses(video: ObjectVideo, depth: np.ndarray, cfg: RefineConfig = RefineConfig()) -> ObjectVideo:
    """The video with its cam_to_world (F, 4, 4) corrected by the one hand-eye error X that makes
    its depth (F, H, W) metres agree (steps 1-5 of the module docstring)."""
    parts = _frame_points(video, depth, cfg)
    cams = np.concatenate(parts).astype(np.float64)
    frame = np.concatenate([np.full(len(p), f) for f, p in enumerate(parts)])
    if len(parts) < 2 or len(cams) < 100:
        return video
    x = np.eye(4)
    for _ in range(cfg.rounds):
        new = _update(cams, frame, video.cam_to_world, x, cfg)
        if new is None:
            break
        x = new
    return replace(video, cam_to_world=video.cam_to_world @ x) if _allowed(x, cfg) else video
