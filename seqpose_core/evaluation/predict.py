"""Run a predictor over a NOCS subset, scene by scene, into per-image results for ``evaluate``.

Any object with ``reset()`` and ``step(rgb, K, stamp)`` returning ``PoseEstimate``s works:
the Predictor (single- or multi-frame) or a baseline. Each scene starts from an empty memory.
With ``camera_motion`` the Predictor is also told how the camera moved since the previous frame,
from the scenes' camera poses (the synthetic scenes write them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
from tqdm import tqdm

from seqpose_core import geometry
from seqpose_core.data.frame import Frame, Objects
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.estimates import PoseEstimate, StepResult
from seqpose_core.evaluation.results import ImageResult, image_result_from_poses
from seqpose_core.evaluation.tracking import TrackFrame, track_frame


class StreamPredictor(Protocol):
    def reset(self) -> None: ...
    def step(self, rgb: np.ndarray, k: np.ndarray, stamp: float) -> StepResult: ...


def to_result(frame: Frame, estimates: list[PoseEstimate], name: str) -> ImageResult:
    """Ground truth of a frame and estimates -> one NOCS result record."""
    return result_from_estimates(frame.objects, estimates, name)


def result_from_estimates(o: Objects, estimates: list[PoseEstimate], name: str) -> ImageResult:
    """Ground-truth objects and estimates -> one NOCS result record."""
    n = len(estimates)
    pred = (
        np.array([e.class_id for e in estimates], dtype=np.int64),
        np.array([e.rotation for e in estimates]).reshape(n, 3, 3),
        np.array([e.translation for e in estimates]).reshape(n, 3),
        np.array([e.size for e in estimates]).reshape(n, 3),
    )
    scores = np.array([e.score for e in estimates])
    gt = (o.class_ids, o.rotations, o.translations, o.sizes)
    return image_result_from_poses(name, gt, o.handle_visible.astype(float), pred, scores)


def predict_subset(
    predictor: StreamPredictor,
    subset: NocsSubset,
    every_nth: int = 1,
    progress: bool = False,
    track_log: list[TrackFrame] | None = None,
    camera_motion: bool = False,
) -> list[ImageResult]:
    """Every ``every_nth`` frame of every scene, in time order, the memory reset per scene.
    ``track_log``, when given, receives each frame's objects and published boxes with their ids.
    ``camera_motion``: pass each frame's camera motion since the previous one (needs poses)."""
    results = []
    refs = [(i, ref) for scene in subset.scenes for i, ref in enumerate(scene[::every_nth])]
    previous: Frame | None = None
    for i, ref in tqdm(refs, desc="predicting", unit="frame", disable=not progress):
        if i == 0:
            predictor.reset()
            previous = None
        frame = subset.load(ref)
        kw = {"camera_motion": motion_since(previous, frame)} if camera_motion else {}
        estimates = predictor.step(frame.rgb, frame.k, frame.stamp, **kw).estimates
        previous = frame
        results.append(to_result(frame, estimates, f"{subset.spec.images}/{frame.scene}/{frame.index:04d}"))
        if track_log is not None:
            track_log.append(track_frame(frame.scene, frame.objects, estimates))
    return results


def stream_subset(
    predictor: StreamPredictor, subset: NocsSubset
) -> Iterator[tuple[Frame, list[PoseEstimate]]]:
    """Every frame of every scene in time order with the predictor's estimates, the memory reset
    per scene: for benchmarks that pair estimates with a frame's objects themselves."""
    for scene in subset.scenes:
        predictor.reset()
        for ref in scene:
            frame = subset.load(ref)
            yield frame, predictor.step(frame.rgb, frame.k, frame.stamp).estimates


def motion_since(previous: Frame | None, frame: Frame) -> np.ndarray | None:
    """The camera's motion from ``previous`` to ``frame`` (None on a scene's first frame)."""
    if frame.camera_pose is None:
        raise ValueError(f"scene {frame.scene} frame {frame.index}: no camera pose (_camera_pose.txt)")
    return None if previous is None else geometry.camera_motion(previous.camera_pose, frame.camera_pose)
