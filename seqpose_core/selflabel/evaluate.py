"""The paper's alignment metric and the two baselines it is compared with.

Each video's recovered canonical orientation (its world -> canonical rotation) is compared with
the truth (world -> object) after the one global rotation G that best maps the discovered
canonical frame onto the true one; G is taken from the video whose G agrees with most others
within 30 degrees, then averaged over those. Objects symmetric about y compare the up axis only.
Accuracy at 30 and 10 degrees, as the paper reports it.
"""

from __future__ import annotations

import numpy as np

from seqpose_core.selflabel.align import (
    AXIS_ROTATIONS,
    Similarity,
    Target,
    icp,
    normalise,
    principal_axes,
)
from seqpose_core.selflabel.reconstruct import Cloud


def _project_so3(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    return u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt


def _errors(found: np.ndarray, truth: np.ndarray, g: np.ndarray, symmetric: bool) -> np.ndarray:
    """Degrees between found (V, 3, 3) and g @ truth (V, 3, 3), world -> canonical rotations."""
    expected = g @ truth
    if symmetric:  # the canonical up axis, seen in the world frame
        cos = np.einsum("vi,vi->v", found[:, 1, :], expected[:, 1, :])
    else:
        cos = (np.einsum("vij,vij->v", found, expected) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def global_rotation(found: np.ndarray, object_to_world: np.ndarray, symmetric: bool) -> np.ndarray:
    """The one rotation G (3, 3) that best maps the true object frame onto the discovered canonical
    one (canonical ~ G @ object): found (V, 3, 3) world -> canonical; object_to_world (V, 3, 3)."""
    truth = object_to_world.transpose(0, 2, 1)  # world -> object
    best, best_count = np.eye(3), -1
    for v in range(len(found)):
        g = found[v] @ truth[v].T
        count = int((_errors(found, truth, g, symmetric) < 30).sum())
        if count > best_count:
            best, best_count = g, count
    inliers = _errors(found, truth, best, symmetric) < 30
    return _project_so3(sum(f @ t.T for f, t, i in zip(found, truth, inliers, strict=True) if i))


def rotation_errors(found: np.ndarray, object_to_world: np.ndarray, symmetric: bool) -> np.ndarray:
    """found (V, 3, 3) world -> canonical; object_to_world (V, 3, 3) truth -> degrees per video."""
    g = global_rotation(found, object_to_world, symmetric)
    return _errors(found, object_to_world.transpose(0, 2, 1), g, symmetric)


def accuracy(errors: np.ndarray, degrees: float) -> float:
    return float(100 * np.mean(errors < degrees))


def first_camera_rotations(cam_to_world: list[np.ndarray]) -> np.ndarray:
    """The no-alignment baseline: each video's world -> first camera rotation."""
    return np.stack([pose[0][:3, :3].T for pose in cam_to_world])


def icp_baseline(clouds: list[Cloud], steps: int = 15) -> list[Similarity]:
    """Geometric ICP from the principal axes: each cloud onto the first, from the relabelling of
    principal axes whose ICP ends with the smallest mean nearest-neighbour distance."""
    norms = [normalise(c.points) for c in clouds]
    pts = [n.apply(c.points) for n, c in zip(norms, clouds, strict=True)]
    ref = Target(pts[0], None)
    out = []
    for n, p in zip(norms, pts, strict=True):
        a, b = principal_axes(p), principal_axes(ref.points)
        best, best_d = None, np.inf
        for m in AXIS_ROTATIONS:
            rot = b.T @ m @ a
            start = Similarity(1.0, rot, ref.points.mean(0) - rot @ p.mean(0))
            fit = icp(p, ref, start, steps)
            d = float(ref.tree.query(fit.apply(p))[0].mean())
            if d < best_d:
                best, best_d = fit, d
        out.append(n.then(best))
    return out
