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
    turn_hypotheses,
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


def _icp_starts(p: np.ndarray, ref: np.ndarray, up: np.ndarray | None) -> list[Similarity]:
    """ICP's starts: the 24 relabellings of the principal axes, or with up 24 turns about it."""
    if up is not None:
        return turn_hypotheses(p, ref, len(AXIS_ROTATIONS), up)
    a, b = principal_axes(p), principal_axes(ref)
    rots = [b.T @ m @ a for m in AXIS_ROTATIONS]
    return [Similarity(1.0, rot, ref.mean(0) - rot @ p.mean(0)) for rot in rots]


def icp_baseline(clouds: list[Cloud], steps: int = 15, up: np.ndarray | None = None) -> list[Similarity]:
    """Geometric ICP: each cloud onto the first, from the start whose ICP ends with the smallest
    mean nearest-neighbour distance. Starts: the principal axes' relabellings; with up (the
    prior the cyclic alignment gets too), turns about it, and every ICP step a turn about it."""
    norms = [normalise(c.points) for c in clouds]
    pts = [n.apply(c.points) for n, c in zip(norms, clouds, strict=True)]
    ref = Target(pts[0], None)
    out = []
    for n, p in zip(norms, pts, strict=True):
        best, best_d = None, np.inf
        for start in _icp_starts(p, ref.points, up):
            fit = icp(p, ref, start, steps, up)
            d = float(ref.tree.query(fit.apply(p))[0].mean())
            if d < best_d:
                best, best_d = fit, d
        out.append(n.then(best))
    return out


def _matched_sizes(g: np.ndarray, size: np.ndarray, symmetric: bool) -> np.ndarray:
    """A true size (3,) along the label's axes: permuted by the signed permutation nearest to G;
    for objects symmetric about y, whose x and z turn freely, y stays and x, z are sorted."""
    if symmetric:
        return size
    perm = np.abs(np.round(g))
    return perm @ size if np.allclose(perm.sum(0), 1) and np.allclose(perm.sum(1), 1) else size


def label_errors(
    labels: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    truth: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    symmetric: bool,
) -> dict[str, np.ndarray]:
    """Per video, the label's instance (object -> world rotation, box centre, metric size, as
    ``labels.object_in_world`` gives it) against the truth (the same three): the rotation error
    in degrees after the one global rotation (the canonical frame is the method's own), the
    centre's distance in metres, and the largest per-axis relative size error."""
    found = np.stack([rot.T for rot, _, _ in labels])
    true_rot = np.stack([rot for rot, _, _ in truth])
    g = global_rotation(found, true_rot, symmetric)
    rotation = _errors(found, true_rot.transpose(0, 2, 1), g, symmetric)
    centre = np.array([np.linalg.norm(a[1] - b[1]) for a, b in zip(labels, truth, strict=True)])
    sizes = []
    for (_, _, size), (_, _, true_size) in zip(labels, truth, strict=True):
        expected = _matched_sizes(g, np.asarray(true_size, float), symmetric)
        if symmetric:  # x and z of a body of revolution: compare them sorted
            size, expected = (
                np.r_[np.sort(size[[0, 2]]), size[1]],
                np.r_[np.sort(expected[[0, 2]]), expected[1]],
            )
        sizes.append(float(np.max(np.abs(size - expected) / expected)))
    return {"label_rotation_deg": rotation, "label_centre_m": centre, "label_size_rel": np.array(sizes)}
