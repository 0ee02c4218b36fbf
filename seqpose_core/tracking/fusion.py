"""Fusion of each tracked object's estimates in a fixed frame, for objects that stand still.

A robot's camera moves around objects on a table; every view says something about the same
static object. Expressed in a frame that does not move (the robot's ``fixed_frame`` through
TF, or the first camera frame of the stream accumulated through the camera's motion), the
views can be pooled. Per track, the algorithm:

1. Express the estimate in the fixed frame: R_w = R_wc R, t_w = R_wc t + t_wc.
2. Gate: an observation whose centre lies farther than ``move_gate`` from the fused centre is
   set aside, not pooled. ``restart_after`` such observations in a row that agree with each
   other mean the object moved: the fusion restarts from them. A lone outlier is dropped.
3. Pool: keep the last ``window`` observations (bounded memory) with their scores.
4. Translation: the score-weighted geometric median (Weiszfeld iterations), which a minority
   of outliers cannot drag. Size: the score-weighted median of each log extent.
5. Up axis: every observation's y axis votes; the one with the most score-weighted votes
   within ``up_vote`` wins, and the normalised mean of its voters is the fused up axis.
6. Rotation, by its mode, not its mean: every observation is a hypothesis; each collects the
   scores of the observations within ``vote`` of it (the current fused rotation joins the
   vote with ``keep_bonus``, a hysteresis). The chordal mean of the winner's voters, rotated
   by the least angle that brings its y onto the fused up axis, is the fused rotation. A
   minority of flipped headings is outvoted. A class symmetric about y is fused by its up
   axis alone, its heading the latest observation's.
7. Express the fused pose in the current camera frame for publication.
8. Re-identification: a new track whose first estimate lies within the gate of a fused object
   of its class that is out of view continues that object, under its id (the tracker drops a
   track after a few missed frames; the object is still where it was).

When neither camera motion nor a static camera is known, nothing is fused (the Predictor
publishes each frame's estimates as the tracker gives them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seqpose_core.categories import Categories
from seqpose_core.estimates import PoseEstimate


@dataclass(frozen=True)
class FusionConfig:
    window: int = 30  # observations pooled per object (bounded memory)
    vote_deg: float = 25.0  # two rotations agree within this angle
    up_vote_deg: float = 10.0  # two up axes agree within this angle
    keep_bonus: float = 1.2  # the current fused rotation's votes are multiplied by this
    move_gate_m: float = 0.05  # a centre farther than this (or move_gate_rel) from the fused one ...
    move_gate_rel: float = 0.5  # ... x the object's half-diagonal, whichever is larger, disagrees
    restart_after: int = 3  # disagreeing observations in a row (agreeing with each other) restart it
    median_iterations: int = 8  # Weiszfeld iterations of the geometric median
    keep_unseen_s: float = 10.0  # how long an object out of view stays among the fused objects


FUSION = FusionConfig()


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, D) values, (N,) weights -> (D,) the weighted median of each column."""
    order = np.argsort(values, axis=0)
    w = weights[order]
    cum = np.cumsum(w, axis=0)
    pick = np.argmax(cum >= 0.5 * cum[-1], axis=0)
    columns = np.arange(values.shape[1])
    return values[order[pick, columns], columns]


def geometric_median(points: np.ndarray, weights: np.ndarray, iterations: int) -> np.ndarray:
    """(N, 3) points, (N,) weights -> (3,) the weighted geometric median (Weiszfeld)."""
    x = _weighted_median(points, weights)
    for _ in range(iterations):
        d = np.maximum(np.linalg.norm(points - x, axis=1), 1e-4)
        w = weights / d
        x = (w[:, None] * points).sum(0) / w.sum()
    return x


def _project_so3(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _align_up(rot: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``rot`` turned by the least angle that brings its y axis onto ``up`` (unit)."""
    y = rot[:, 1]
    axis = np.cross(y, up)
    s, c = np.linalg.norm(axis), float(np.clip(y @ up, -1.0, 1.0))
    if s < 1e-9:
        return rot if c > 0 else rot @ np.diag([1.0, -1.0, -1.0])
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    turn = np.eye(3) + s * kx + (1 - c) * kx @ kx
    return turn @ rot


def _heading_from(up: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """A rotation with y = ``up`` whose x is ``rot``'s x made orthogonal to it."""
    x = rot[:, 0] - (rot[:, 0] @ up) * up
    if np.linalg.norm(x) < 1e-6:
        x = rot[:, 2] - (rot[:, 2] @ up) * up
    x /= np.linalg.norm(x)
    return np.stack([x, up, np.cross(x, up)], axis=1)


@dataclass
class ObjectFusion:
    """One static object's pooled observations in the fixed frame, and their fusion."""

    symmetric: bool
    cfg: FusionConfig = FUSION
    rotations: list[np.ndarray] = field(default_factory=list)
    translations: list[np.ndarray] = field(default_factory=list)
    log_sizes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = field(default_factory=list)
    restarts: int = 0
    rotation: np.ndarray | None = None  # the fused pose, fixed frame
    translation: np.ndarray | None = None
    size: np.ndarray | None = None

    def add(self, rot: np.ndarray, t: np.ndarray, size: np.ndarray, score: float) -> None:
        """One observation in the fixed frame (steps 2-3), then the fusion (4-6)."""
        obs = (rot, t, np.log(np.maximum(size, 1e-4)), max(score, 1e-3))
        if self.translation is not None and self._disagrees(t):
            self.pending.append(obs)
            if len(self.pending) < self.cfg.restart_after:
                return
            centres = np.array([p[1] for p in self.pending])
            if np.linalg.norm(centres - centres.mean(0), axis=1).max() > self._gate():
                self.pending = self.pending[1:]  # outliers that do not agree: no move
                return
            self._clear()
            self.restarts += 1
            for p in self.pending:
                self._pool(*p)
            self.pending = []
        else:
            self.pending = []
            self._pool(*obs)
        self._fuse()

    def _gate(self) -> float:
        half_diagonal = 0.5 * float(np.linalg.norm(self.size)) if self.size is not None else 0.0
        return max(self.cfg.move_gate_m, self.cfg.move_gate_rel * half_diagonal)

    def _disagrees(self, t: np.ndarray) -> bool:
        return float(np.linalg.norm(t - self.translation)) > self._gate()

    def _clear(self) -> None:
        self.rotations, self.translations, self.log_sizes, self.scores = [], [], [], []
        self.rotation = None

    def _pool(self, rot: np.ndarray, t: np.ndarray, log_size: np.ndarray, score: float) -> None:
        for buf, value in zip(
            (self.rotations, self.translations, self.log_sizes, self.scores),
            (rot, t, log_size, score),
            strict=True,
        ):
            buf.append(value)
            del buf[: -self.cfg.window]

    def _fuse(self) -> None:
        w = np.array(self.scores)
        self.translation = geometric_median(np.array(self.translations), w, self.cfg.median_iterations)
        self.size = np.exp(_weighted_median(np.array(self.log_sizes), w))
        rots = np.array(self.rotations)
        up = self._up(rots[:, :, 1], w)
        if self.symmetric:
            self.rotation = _heading_from(up, rots[-1])
        else:
            self.rotation = _align_up(self._mode(rots, w), up)

    def _up(self, ups: np.ndarray, w: np.ndarray) -> np.ndarray:
        agree = ups @ ups.T > np.cos(np.radians(self.cfg.up_vote_deg))
        best = int(np.argmax(agree @ w))
        mean = (w[agree[best]][:, None] * ups[agree[best]]).sum(0)
        return mean / np.linalg.norm(mean)

    def _mode(self, rots: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The chordal mean of the largest score-weighted cluster of rotations (step 6)."""
        candidates = rots if self.rotation is None else np.concatenate([rots, self.rotation[None]])
        cos = (np.einsum("aij,bij->ab", candidates, rots) - 1) / 2  # cos of the angle between pairs
        agree = cos > np.cos(np.radians(self.cfg.vote_deg))
        votes = agree @ w
        if self.rotation is not None:
            votes[-1] *= self.cfg.keep_bonus
        best = agree[int(np.argmax(votes))]
        return _project_so3((w[best][:, None, None] * rots[best]).sum(0))


@dataclass
class FusedObject:
    """A fused object in the fixed frame: rotation (3, 3) object -> fixed, translation (3,), size (3,)
    metres; in_view: seen in the latest frame; last_seen: stamp in seconds."""

    track_id: int
    class_id: int
    class_name: str
    score: float
    rotation: np.ndarray
    translation: np.ndarray
    size: np.ndarray
    in_view: bool
    last_seen: float


class Fusion:
    """Fuses tracked estimates in a fixed frame; ``update`` returns them fused, in the camera frame."""

    def __init__(self, classes: Categories, cfg: FusionConfig = FUSION):
        self.classes, self.cfg = classes, cfg
        self.objects: dict[int, ObjectFusion] = {}
        self.latest: dict[int, FusedObject] = {}
        self.alias: dict[int, int] = {}  # a tracker's id -> the fused object's id it continues

    def reset(self) -> None:
        self.objects, self.latest, self.alias = {}, {}, {}

    def _object_id(self, e: PoseEstimate, centre: np.ndarray) -> int:
        """The fused object this estimate belongs to (step 8)."""
        if e.track_id in self.objects:
            return e.track_id
        if e.track_id not in self.alias:
            best, best_d = e.track_id, np.inf
            for tid, obj in self.latest.items():
                d = float(np.linalg.norm(obj.translation - centre))
                if (
                    not obj.in_view
                    and obj.class_id == e.class_id
                    and d < self.objects[tid]._gate()
                    and d < best_d
                ):
                    best, best_d = tid, d
            self.alias[e.track_id] = best
        return self.alias[e.track_id]

    def update(
        self, estimates: list[PoseEstimate], world_from_camera: np.ndarray, stamp: float
    ) -> list[PoseEstimate]:
        """Tracked estimates (camera frame, ``track_id`` set) and the camera's pose (4, 4) in the fixed
        frame -> the same estimates with their objects' fused poses (camera frame)."""
        rwc, twc = world_from_camera[:3, :3], world_from_camera[:3, 3]
        out, seen = [], set()
        for e in estimates:
            centre = rwc @ e.translation + twc
            tid = self._object_id(e, centre)
            fusion = self.objects.get(tid)
            if fusion is None:
                symmetric = self.classes.is_symmetric(e.class_id, handle_visible=True)
                fusion = self.objects[tid] = ObjectFusion(symmetric, self.cfg)
            fusion.add(rwc @ e.rotation, centre, e.size, e.score)
            seen.add(tid)
            self.latest[tid] = FusedObject(
                tid,
                e.class_id,
                e.class_name,
                e.score,
                fusion.rotation,
                fusion.translation,
                fusion.size,
                True,
                stamp,
            )
            out.append(
                e.with_(
                    track_id=tid,
                    rotation=rwc.T @ fusion.rotation,
                    translation=rwc.T @ (fusion.translation - twc),
                    size=fusion.size.copy(),
                )
            )
        self._age(seen, stamp)
        return out

    def _age(self, seen: set[int], stamp: float) -> None:
        """Mark objects not seen now as out of view; forget them after ``keep_unseen_s``."""
        for tid in list(self.latest):
            obj = self.latest[tid]
            if tid not in seen:
                obj.in_view = False
            if stamp - obj.last_seen > self.cfg.keep_unseen_s:
                del self.latest[tid]
                self.objects.pop(tid, None)
                self.alias = {k: v for k, v in self.alias.items() if v != tid}

    def fused_objects(self) -> list[FusedObject]:
        """Every object fused in the last ``keep_unseen_s`` seconds, in the fixed frame."""
        return list(self.latest.values())
