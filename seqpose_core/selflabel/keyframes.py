"""Keyframes of a long recording, chosen by how far the camera has moved, not by count.

An arm's orbit at a real pace (20-40 s at 15 Hz) gives hundreds of nearly equal frames; a short
one gives a few far apart. What the labels and the alignment need is every side of the object,
each seen once or twice, in a memory that does not grow with the recording's length:

1. the first frame is a keyframe;
2. a frame is the next keyframe when its camera has turned by at least ``min_turn_deg`` or
   moved by at least ``min_move`` since the last keyframe (either shows the object anew);
3. frames whose pose is unknown are never keyframes.

On the generator's 16-frame orbits (22.5 degrees apart) every frame is a keyframe; a 30 s orbit
at 15 Hz (0.8 degrees apart) keeps about one frame in twelve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KeyframeConfig:
    min_turn_deg: float = 10.0  # degrees the camera has turned since the last keyframe
    min_move: float = 0.10  # metres the camera has moved since the last keyframe (a 10 degree
    # step of an orbit at 0.5 m moves it 8.7 cm: on an orbit the turn decides)


def turn_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between the orientations of two poses (4, 4)."""
    cos = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


class KeyframeSelector:
    """Decides online, frame by frame, which poses (camera -> fixed frame) are keyframes."""

    def __init__(self, cfg: KeyframeConfig = KeyframeConfig()):
        self.cfg = cfg
        self.last: np.ndarray | None = None

    def __call__(self, pose: np.ndarray) -> bool:
        """Whether the frame at ``pose`` (4, 4) is a keyframe (it then becomes the last)."""
        keep = (
            self.last is None
            or turn_deg(self.last, pose) >= self.cfg.min_turn_deg
            or np.linalg.norm(pose[:3, 3] - self.last[:3, 3]) >= self.cfg.min_move
        )
        if keep:
            self.last = pose
        return bool(keep)


def keyframes(poses: np.ndarray, cfg: KeyframeConfig = KeyframeConfig()) -> list[int]:
    """The keyframe indices of poses (F, 4, 4), in order."""
    select = KeyframeSelector(cfg)
    return [i for i, pose in enumerate(poses) if select(pose)]
