"""A TF tree for environments without tf2_ros (its PyPI wheels do not exist): transforms from
/tf and /tf_static in, chained and time-interpolated transforms out. numpy and scipy only, so
it is tested without a ROS graph. On a ROS install the node uses tf2_ros's Buffer instead.

Conventions follow tf2: a transform with parent P and child C maps points of C into P
(p_P = T @ p_C); a frame has one parent; dynamic transforms are interpolated between the two
samples around the asked time (translation linearly, rotation by slerp) and never
extrapolated; static transforms hold at every time.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

import numpy as np

from seqpose_core.geometry import rigid_transform, slerp_rotation

MAX_DEPTH = 100  # frames in one chain: beyond it the tree has a cycle


class TransformUnavailable(LookupError):
    """No chain of transforms joins the two frames at the asked time; the message says why."""


@dataclass(frozen=True)
class StampedTransform:
    """p_parent = matrix @ p_child at ``stamp`` seconds; matrix (4, 4) rigid."""

    parent: str
    child: str
    stamp: float
    matrix: np.ndarray


@dataclass
class _Edge:
    """The samples of one child's transform to its parent, by time."""

    parent: str
    stamps: list[float] = field(default_factory=list)
    matrices: list[np.ndarray] = field(default_factory=list)


def interpolate(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """Rigid transforms a, b (4, 4) and w in [0, 1] -> translation lerp, rotation slerp."""
    rot = slerp_rotation(a[:3, :3], b[:3, :3], w)
    return rigid_transform(rot, (1 - w) * a[:3, 3] + w * b[:3, 3])


class TransformBuffer:
    """The TF tree of one graph; thread-safe (subscription callbacks add, the worker looks up)."""

    def __init__(self, cache_seconds: float = 10.0):
        self.cache_seconds = cache_seconds
        self._static: dict[str, tuple[str, np.ndarray]] = {}
        self._dynamic: dict[str, _Edge] = {}
        self._changed = threading.Condition()
        self._newest = -np.inf

    def add(self, t: StampedTransform, static: bool = False) -> None:
        """Store one transform; dynamic samples older than ``cache_seconds`` before it are dropped."""
        with self._changed:
            if static:
                self._static[t.child] = (t.parent, t.matrix)
            else:
                self._add_sample(t)
                self._forget_old_frames(t.stamp)
            self._changed.notify_all()

    def _add_sample(self, t: StampedTransform) -> None:
        edge = self._dynamic.get(t.child)
        if edge is None or edge.parent != t.parent:  # new, or re-parented: the old samples are void
            edge = self._dynamic[t.child] = _Edge(t.parent)
        i = bisect.bisect_left(edge.stamps, t.stamp)
        if i < len(edge.stamps) and edge.stamps[i] == t.stamp:
            edge.matrices[i] = t.matrix
        else:
            edge.stamps.insert(i, t.stamp)
            edge.matrices.insert(i, t.matrix)
        old = bisect.bisect_left(edge.stamps, edge.stamps[-1] - self.cache_seconds)
        del edge.stamps[:old], edge.matrices[:old]

    def _forget_old_frames(self, stamp: float) -> None:
        """Drop frames not updated for ``cache_seconds`` (tracked objects come and go for hours)."""
        if stamp <= self._newest:
            return
        self._newest = stamp
        stale = [c for c, e in self._dynamic.items() if e.stamps[-1] < stamp - self.cache_seconds]
        for child in stale:
            del self._dynamic[child]

    def lookup(self, target: str, source: str, stamp: float) -> np.ndarray:
        """T (4, 4) with p_target = T @ p_source at ``stamp``; raises TransformUnavailable. Only
        the transforms below the two frames' common ancestor are needed at that time."""
        with self._changed:
            up_source, up_target = self._ancestors(source), self._ancestors(target)
            common = next((f for f in up_source if f in up_target), None)
            if common is None:
                raise TransformUnavailable(
                    f"frames {target!r} and {source!r} are not connected in the TF tree"
                )
            to_source = self._compose(up_source[: up_source.index(common)], stamp)
            to_target = self._compose(up_target[: up_target.index(common)], stamp)
        return np.linalg.inv(to_target) @ to_source

    def wait_for(self, target: str, source: str, stamp: float, timeout: float) -> np.ndarray:
        """``lookup``, waiting up to ``timeout`` s for the transforms to arrive."""
        found: list[np.ndarray] = []

        def ready() -> bool:
            try:
                found.append(self.lookup(target, source, stamp))
            except TransformUnavailable:
                return False
            return True

        with self._changed:  # a re-entrant lock: lookup takes it again
            if self._changed.wait_for(ready, timeout):
                return found[-1]
        return self.lookup(target, source, stamp)  # raises, naming what is missing

    def _ancestors(self, frame: str) -> list[str]:
        """The frame, its parent, its parent's parent, ... up to its root."""
        chain = [frame]
        while len(chain) <= MAX_DEPTH:
            parent = self._parent_name(chain[-1])
            if parent is None:
                return chain
            chain.append(parent)
        raise TransformUnavailable(f"the TF tree above {frame!r} has a cycle")

    def _parent_name(self, child: str) -> str | None:
        if child in self._static:
            return self._static[child][0]
        edge = self._dynamic.get(child)
        return edge.parent if edge is not None else None

    def _compose(self, frames: list[str], stamp: float) -> np.ndarray:
        """T_ancestor_frames[0] over the edges from each of ``frames`` to its parent."""
        m = np.eye(4)
        for child in frames:
            m = self._edge(child, stamp) @ m
        return m

    def _edge(self, child: str, stamp: float) -> np.ndarray:
        if child in self._static:
            return self._static[child][1]
        return self._at(child, self._dynamic[child], stamp)

    @staticmethod
    def _at(child: str, edge: _Edge, stamp: float) -> np.ndarray:
        i = bisect.bisect_left(edge.stamps, stamp)
        if i < len(edge.stamps) and edge.stamps[i] == stamp:
            return edge.matrices[i]
        if i == 0 or i == len(edge.stamps):
            span = f"{edge.stamps[0]:.3f} .. {edge.stamps[-1]:.3f} s"
            raise TransformUnavailable(
                f"{edge.parent!r} -> {child!r} is known from {span}, not at {stamp:.3f} s (no extrapolation)"
            )
        s0, s1 = edge.stamps[i - 1], edge.stamps[i]
        return interpolate(edge.matrices[i - 1], edge.matrices[i], (stamp - s0) / (s1 - s0))
