"""Pose and box geometry in numpy: 6D rotations, sRT <-> metric pose, box corners, projection.

Conventions: metres and radians; camera frames are REP-103 optical frames (x right,
y down, z forward). A NOCS ``sRT`` is a 4x4 matrix whose 3x3 block is ``s * R``; its
``scales`` are the box extents in the normalized object space, so the metric extents
are ``s * scales``. A metric pose (R, t, size) maps to ``s = ||size||`` and
``scales = size / s``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

# Corner signs in the order of the NOCS reference code; the legacy IoU depends on it.
CORNER_SIGNS = np.array(
    [
        [+1, +1, +1],
        [+1, +1, -1],
        [-1, +1, +1],
        [-1, +1, -1],
        [+1, -1, +1],
        [+1, -1, -1],
        [-1, -1, +1],
        [-1, -1, -1],
    ],
    dtype=np.float64,
)
# The 12 edges of a box as pairs of indices into CORNER_SIGNS (for drawing).
BOX_EDGES = np.array(
    [[0, 1], [0, 2], [1, 3], [2, 3], [4, 5], [4, 6], [5, 7], [6, 7], [0, 4], [1, 5], [2, 6], [3, 7]]
)


def rigid_transform(rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) and translation (3,) -> the 4 x 4 transform p' = R p + t."""
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rot, t
    return m


def slerp_rotation(r0: np.ndarray, r1: np.ndarray, w: float) -> np.ndarray:
    """Rotations r0, r1 (3, 3) and w in [0, 1] -> the rotation w of the way from r0 to r1."""
    return Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([r0, r1])))([w]).as_matrix()[0]


def camera_motion(previous_pose: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """The camera's motion between two frames, p_now = M @ p_before, from its poses (4, 4,
    camera -> a fixed frame) at those frames."""
    return np.linalg.inv(pose) @ previous_pose


def box_corners(size: np.ndarray) -> np.ndarray:
    """Corners of boxes centred at the origin: size (..., 3) -> (..., 8, 3), NOCS corner order."""
    return 0.5 * np.asarray(size)[..., None, :] * CORNER_SIGNS


def transform_points(rot: np.ndarray, t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply x -> R x + t: rot (..., 3, 3), t (..., 3), points (..., N, 3) -> (..., N, 3)."""
    return points @ np.swapaxes(rot, -1, -2) + t[..., None, :]


def pose_to_srt(rot: np.ndarray, t: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metric pose to NOCS form.

    rot (..., 3, 3), t (..., 3), size (..., 3) -> sRT (..., 4, 4), scales (..., 3).
    """
    s = np.linalg.norm(size, axis=-1)
    srt = np.zeros((*rot.shape[:-2], 4, 4))
    srt[..., :3, :3] = rot * s[..., None, None]
    srt[..., :3, 3] = t
    srt[..., 3, 3] = 1.0
    return srt, size / s[..., None]


def srt_to_pose(srt: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NOCS form to metric pose.

    sRT (..., 4, 4), scales (..., 3) -> rot (..., 3, 3), t (..., 3), size (..., 3).

    The scale is ``cbrt(det)`` of the 3x3 block; the rotation is projected onto SO(3)
    (SVD), so slightly non-orthogonal matrices from other methods stay usable.
    """
    m = srt[..., :3, :3]
    s = np.cbrt(np.linalg.det(m))
    u, _, vt = np.linalg.svd(m / s[..., None, None])
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[..., None]
    return u @ vt, srt[..., :3, 3].copy(), scales * s[..., None]


def project_points(k: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Pinhole projection: K (3, 3), camera-frame points (..., 3) -> pixels (..., 2), u right, v down."""
    uvw = points @ k.T
    return uvw[..., :2] / uvw[..., 2:3]


def rotation_error_deg(
    r_pred: np.ndarray, r_gt: np.ndarray, symmetric: np.ndarray, clip_y: bool = True
) -> np.ndarray:
    """Angle of every pair in degrees; for objects symmetric about y, between their y axes.

    r_pred (P, 3, 3), r_gt (G, 3, 3) rotations (any positive scale is divided out),
    symmetric (G,) bool -> (P, G). The NOCS evaluation's rule, written once: ``clip_y=False``
    leaves the y-axis cosine unclipped as the reference code does (past 1 it gives nan).
    """
    r1 = r_pred / np.cbrt(np.linalg.det(r_pred))[:, None, None]
    r2 = r_gt / np.cbrt(np.linalg.det(r_gt))[:, None, None]
    rel = r1[:, None] @ np.swapaxes(r2, 1, 2)[None]
    full = np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0))
    y1, y2 = r1[:, :, 1], r2[:, :, 1]
    cos_y = (y1 @ y2.T) / (np.linalg.norm(y1, axis=1)[:, None] * np.linalg.norm(y2, axis=1)[None])
    with np.errstate(invalid="ignore"):
        y_angle = np.arccos(np.clip(cos_y, -1.0, 1.0) if clip_y else cos_y)
    return np.where(np.asarray(symmetric)[None], y_angle, full) * (180 / np.pi)


def rotation_from_vector(omega: np.ndarray) -> np.ndarray:
    """Rodrigues: the rotation (3, 3) by |omega| radians about omega (3,)."""
    angle = float(np.linalg.norm(omega))
    if angle < 1e-12:
        return np.eye(3)
    x = np.array([[0, -omega[2], omega[1]], [omega[2], 0, -omega[0]], [-omega[1], omega[0], 0]]) / angle
    return np.eye(3) + np.sin(angle) * x + (1 - np.cos(angle)) * (x @ x)


def rotation_about_y(theta: float | np.ndarray) -> np.ndarray:
    """Rotation by ``theta`` radians about the y axis: () or (N,) -> (3, 3) or (N, 3, 3)."""
    c, s = np.cos(theta), np.sin(theta)
    z, o = np.zeros_like(c), np.ones_like(c)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) -> unit quaternion (x, y, z, w) with w >= 0 (ROS order)."""
    m = rot
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s])
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = np.zeros(4)
        q[i], q[j], q[k] = 0.25 * s, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
        q[3] = (m[k, j] - m[j, k]) / s
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternion (x, y, z, w) -> rotation matrix (3, 3)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
