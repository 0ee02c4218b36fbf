"""A floor for the metrics: each class's mean size, upright, at a fixed distance straight ahead."""

from __future__ import annotations

import numpy as np

from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.data.nocs_io import read_classes
from seqpose_core.estimates import PoseEstimate, StepResult

UPRIGHT = np.diag([1.0, -1.0, -1.0])  # object y (up) along the camera's -y (image up)


class MeanSizeBaseline:
    """Predicts one object of every class per image, at ``distance`` metres on the optical axis."""

    def __init__(self, class_sizes: dict[int, np.ndarray], distance: float, names: tuple[str, ...]):
        self.class_sizes, self.distance, self.names = class_sizes, distance, names

    @classmethod
    def fit(cls, subset: NocsSubset) -> MeanSizeBaseline:
        """Mean size per class and median object depth over a (training) subset's labels."""
        sizes: dict[int, list[np.ndarray]] = {}
        depths = []
        for ref in subset.frames:
            o = subset.load(ref).objects
            for c, s in zip(o.class_ids, o.sizes, strict=True):
                sizes.setdefault(int(c), []).append(s)
            depths += o.translations[:, 2].tolist()
        return cls(
            {c: np.mean(v, axis=0) for c, v in sizes.items()},
            float(np.median(depths)) if depths else 1.0,
            read_classes(subset.root).names,
        )

    def reset(self) -> None:
        pass

    def step(self, rgb: np.ndarray, k: np.ndarray, stamp: float) -> StepResult:
        t = np.array([0.0, 0.0, self.distance])
        return StepResult(
            [
                PoseEstimate(c, self.names[c], 0.5, UPRIGHT.copy(), t.copy(), size.copy(), -1)
                for c, size in sorted(self.class_sizes.items())
            ]
        )
