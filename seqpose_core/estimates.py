"""The Predictor's output type, numpy only: converters and baselines need no torch."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

UNTRACKED = -1


@dataclass
class PoseEstimate:
    """One detected object: rotation (3, 3) object -> camera, translation (3,) and size (3,) metres.

    track_id: the stable id of the object's track (multi-frame mode), -1 when untracked.
    query_id: identity of the decoder query in the temporal memory (0: a fresh query); a cue
    for the track manager, not an id to publish.
    """

    class_id: int
    class_name: str
    score: float
    rotation: np.ndarray
    translation: np.ndarray
    size: np.ndarray
    track_id: int = UNTRACKED
    query_id: int = 0

    @property
    def propagated(self) -> bool:
        """Whether the query came from the memory (it answered this object in an earlier frame)."""
        return self.query_id > 0

    def with_(self, **changes: object) -> PoseEstimate:
        return replace(self, **changes)


@dataclass
class StepResult:
    """What one ``Predictor.step`` did: its estimates, best first, and why it reset the
    stream's memory and tracks before this frame ("" when it did not)."""

    estimates: list[PoseEstimate]
    reset_reason: str = ""
