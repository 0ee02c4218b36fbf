"""A NOCS frame with its annotations and the dense targets of the auxiliary heads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class Objects:
    """Annotated objects of one frame, in the camera's optical frame, metres.

    class_ids (N,) 1..6; rotations (N, 3, 3) object -> camera; translations (N, 3);
    sizes (N, 3) metric extents along the object axes; instance_ids (N,);
    handle_visible (N,) bool (decides a mug's symmetry).
    """

    class_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rotations: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    translations: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    sizes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    instance_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    handle_visible: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.class_ids)


@dataclass
class Frame:
    """One image with everything training and evaluation need.

    rgb uint8 (H, W, 3); k (3, 3) intrinsics for this image size; depth float32 (H, W)
    metres, 0 unknown; normals float32 (H, W, 3) unit, facing the camera, 0 unknown;
    class_mask uint8 (H, W) 0 = background else class id; instance_mask uint8 (H, W)
    255 = background; objects; scene and index name the source; stamp in seconds;
    camera_pose (4, 4) camera -> world (p_world = T @ p_camera) where the source knows it
    (synthetic scenes), else None.
    """

    rgb: np.ndarray
    k: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    class_mask: np.ndarray
    instance_mask: np.ndarray
    objects: Objects
    scene: str = ""
    index: int = 0
    stamp: float = 0.0
    camera_pose: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    def with_(self, **changes: object) -> Frame:
        return replace(self, **changes)
