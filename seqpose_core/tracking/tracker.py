"""The track manager: stable ids for one camera stream.

Each frame's estimates are assigned to the existing tracks by the Hungarian algorithm
(scipy) on a cost of centre distance relative to size, size ratio and class; an estimate
whose memory query answered the track last time gets a bonus (a cue, not the id). Pairs
farther apart than ``gate`` half-diagonals cannot match. A track is tentative until it has
``confirm_hits`` hits and is deleted after ``max_misses`` frames without one; ids are
never reused within a stream (nor after a reset). Published estimates carry their track's
id and its class by score-weighted vote. An optional filter smooths the published pose:
translation with constant velocity, rotation by slerp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from seqpose_core.estimates import PoseEstimate
from seqpose_core.geometry import slerp_rotation

INFEASIBLE = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    confirm_hits: int = 2  # hits before a track is published (every track is during the first frames)
    max_misses: int = 3  # consecutive frames without a hit before a track is deleted
    gate: float = 1.5  # centre distance / mean half-diagonal beyond which no match is made
    w_size: float = 0.5  # cost per unit of mean |log size ratio|
    w_class: float = 0.5  # cost of a class different from the track's
    query_bonus: float = 0.3  # cost taken off when the estimate's memory query answered the track last
    smooth: bool = False  # filter the published pose (constant velocity, slerp)
    smooth_alpha: float = 0.5  # weight of the new measurement in the filter


@dataclass
class Track:
    """One object followed through the stream (camera frame of the latest frame)."""

    track_id: int
    estimate: PoseEstimate  # the latest published (filtered) estimate
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))  # m/s, camera frame (filter only)
    hits: int = 1
    misses: int = 0
    votes: dict[int, float] = field(default_factory=dict)  # class id -> summed score
    names: dict[int, str] = field(default_factory=dict)  # class id -> the model's name for it

    @property
    def class_id(self) -> int:
        return max(self.votes, key=self.votes.get)

    def move(self, rotation: np.ndarray, translation: np.ndarray) -> None:
        """Express the track in a new camera frame: p_new = rotation @ p_old + translation."""
        e = self.estimate
        self.estimate = e.with_(
            rotation=rotation @ e.rotation, translation=rotation @ e.translation + translation
        )
        self.velocity = rotation @ self.velocity


class TrackManager:
    """Associates estimates with tracks frame by frame; ``update`` returns what to publish."""

    def __init__(self, cfg: TrackerConfig | None = None):
        self.cfg = cfg or TrackerConfig()
        self.tracks: list[Track] = []
        self.next_id = 1
        self.frames = 0
        self.last_stamp: float | None = None

    def reset(self) -> None:
        """Forget every track (a new stream); ids keep counting up."""
        self.tracks, self.frames, self.last_stamp = [], 0, None

    def move(self, transform: np.ndarray) -> None:
        """Camera motion (4, 4): p_current = transform @ p_previous, applied to every track."""
        for t in self.tracks:
            t.move(transform[:3, :3], transform[:3, 3])

    def cost(self, track: Track, e: PoseEstimate) -> float:
        cfg, p = self.cfg, track.estimate
        scale = max(0.25 * (np.linalg.norm(p.size) + np.linalg.norm(e.size)), 1e-3)
        distance = np.linalg.norm(p.translation - e.translation) / scale
        if distance > cfg.gate:
            return INFEASIBLE
        size = float(np.mean(np.abs(np.log(np.maximum(e.size, 1e-4) / np.maximum(p.size, 1e-4)))))
        cost = distance + cfg.w_size * size + cfg.w_class * (e.class_id != track.class_id)
        if e.propagated and e.query_id == p.query_id:
            cost -= cfg.query_bonus
        return cost

    def _assign(self, estimates: list[PoseEstimate]) -> list[tuple[int, int]]:
        if not self.tracks or not estimates:
            return []
        cost = np.array([[self.cost(t, e) for e in estimates] for t in self.tracks])
        rows, cols = linear_sum_assignment(cost)
        return [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < INFEASIBLE]

    def update(self, estimates: list[PoseEstimate], stamp: float) -> list[PoseEstimate]:
        """One frame's estimates (after duplicate suppression) -> the published ones, with ids."""
        dt = 0.0 if self.last_stamp is None else max(stamp - self.last_stamp, 0.0)
        self.last_stamp, self.frames = stamp, self.frames + 1
        pairs = self._assign(estimates)
        hit_tracks, used = {r for r, _ in pairs}, {c for _, c in pairs}
        for r, c in pairs:
            self._hit(self.tracks[r], estimates[c], dt)
        for i, t in enumerate(self.tracks):
            if i not in hit_tracks:
                t.misses += 1
        fresh = [self._new(e) for i, e in enumerate(estimates) if i not in used]
        self.tracks = [t for t in self.tracks if t.misses <= self.cfg.max_misses] + fresh
        return [self._published(t) for t in self.tracks if t.misses == 0 and self._shown(t)]

    def _shown(self, t: Track) -> bool:
        return t.hits >= self.cfg.confirm_hits or self.frames < self.cfg.confirm_hits

    def _new(self, e: PoseEstimate) -> Track:
        track = Track(self.next_id, e, votes={e.class_id: e.score}, names={e.class_id: e.class_name})
        self.next_id += 1
        return track

    def _hit(self, t: Track, e: PoseEstimate, dt: float) -> None:
        t.votes[e.class_id] = t.votes.get(e.class_id, 0.0) + e.score
        t.names[e.class_id] = e.class_name
        t.hits, t.misses = t.hits + 1, 0
        if self.cfg.smooth and dt > 0:
            e = self._filter(t, e, dt)
        t.estimate = e

    def _filter(self, t: Track, e: PoseEstimate, dt: float) -> PoseEstimate:
        a, p = self.cfg.smooth_alpha, t.estimate
        predicted = p.translation + t.velocity * dt
        translation = a * e.translation + (1 - a) * predicted
        t.velocity = a * (translation - p.translation) / dt + (1 - a) * t.velocity
        return e.with_(translation=translation, rotation=slerp_rotation(p.rotation, e.rotation, a))

    def _published(self, t: Track) -> PoseEstimate:
        cls = t.class_id
        return t.estimate.with_(track_id=t.track_id, class_id=cls, class_name=t.names[cls])
