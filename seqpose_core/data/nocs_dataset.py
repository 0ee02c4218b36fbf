"""Readers for the NOCS layout: REAL scene videos and CAMERA single images.

``root/{CAMERA/{train,val}, Real/{train,test}, obj_models/{train,val,real_train,real_test}}``.
Annotations come from ``NNNN_label.pkl`` when present (object-deformnet's preprocessing);
otherwise they are derived from the meta file, the masks, the NOCS map and the depth by a
robust similarity fit, with metric sizes from the object models.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from seqpose_core.data.frame import Frame, Objects
from seqpose_core.data.geometry3d import backproject, normals_from_depth, robust_umeyama
from seqpose_core.data.nocs_io import (
    INTRINSICS_FILE,
    NocsFormatError,
    read_camera_pose,
    read_color,
    read_coord,
    read_depth,
    read_intrinsics,
    read_label,
    read_mask,
    read_meta,
    read_obj_extents,
)

REAL_K = np.array([[591.0125, 0.0, 322.525], [0.0, 590.16775, 244.11084], [0.0, 0.0, 1.0]])
CAMERA_K = np.array([[577.5, 0.0, 319.5], [0.0, 577.5, 239.5], [0.0, 0.0, 1.0]])
FRAME_RATE = 30.0  # REAL videos; stamps are index / rate
MIN_OBJECT_PIXELS = 32


def intrinsics_for(k: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """The datasets' intrinsics are for 640 x 480; other image sizes (small generated test
    data) scale them with the image: fx, cx by W / 640 and fy, cy by H / 480."""
    out = k.copy()
    out[0] *= hw[1] / 640.0
    out[1] *= hw[0] / 480.0
    return out


@dataclass(frozen=True)
class Subset:
    """Where a subset's images and object models live, and its camera."""

    name: str
    images: str  # relative to root
    models: str
    k: np.ndarray
    video: bool


SUBSETS = {
    "real_train": Subset("real_train", "Real/train", "obj_models/real_train", REAL_K, True),
    "real_test": Subset("real_test", "Real/test", "obj_models/real_test", REAL_K, True),
    "camera_train": Subset("camera_train", "CAMERA/train", "obj_models/train", CAMERA_K, False),
    "camera_val": Subset("camera_val", "CAMERA/val", "obj_models/val", CAMERA_K, False),
}


@dataclass(frozen=True)
class FrameRef:
    scene: Path
    index: int

    def file(self, suffix: str) -> Path:
        return self.scene / f"{self.index:04d}_{suffix}"


class NocsSubset:
    """Index of one subset: its scenes (folders) and their frames, in order."""

    def __init__(self, root: str | Path, subset: str):
        if subset not in SUBSETS:
            raise ValueError(f"unknown NOCS subset {subset!r}; expected one of {sorted(SUBSETS)}")
        self.root = Path(root)
        self.spec = SUBSETS[subset]
        folder = self.root / self.spec.images
        if not folder.is_dir():
            raise NocsFormatError(f"{folder}: no such folder (NOCS subset {subset})")
        self.scenes: list[list[FrameRef]] = []
        for scene in sorted(p for p in folder.iterdir() if p.is_dir()):
            ids = sorted(int(f.name[:4]) for f in scene.glob("[0-9][0-9][0-9][0-9]_color.png"))
            if ids:
                self.scenes.append([FrameRef(scene, i) for i in ids])
        self._model_extents: dict[str, np.ndarray] = {}

    @cached_property
    def frames(self) -> list[FrameRef]:
        return [f for scene in self.scenes for f in scene]

    def model_extents(self, model: str) -> np.ndarray:
        """Normalized extents of an object model (REAL ``name.obj``; CAMERA ``synset/id/model.obj``)."""
        if model not in self._model_extents:
            base = self.root / self.spec.models
            path = base / f"{model}.obj" if "/" not in model else base / model / "model.obj"
            self._model_extents[model] = read_obj_extents(path)
        return self._model_extents[model]

    def load(self, ref: FrameRef) -> Frame:
        """Read one frame with its annotations and dense targets."""
        rgb = read_color(ref.file("color.png"))
        depth = read_depth(ref.file("depth.png"))
        instance = read_mask(ref.file("mask.png"))
        k = self.intrinsics(ref.scene, rgb.shape[:2])
        if depth.shape != rgb.shape[:2] or instance.shape != rgb.shape[:2]:
            raise NocsFormatError(f"{ref.file('*')}: color, depth and mask sizes differ")
        label_path = ref.file("label.pkl")
        if label_path.is_file():
            objects = self._from_label(label_path)
        else:
            objects = self._from_maps(ref, depth, instance, k)
        class_mask = np.zeros(instance.shape, np.uint8)
        for cls, inst in zip(objects.class_ids, objects.instance_ids, strict=True):
            class_mask[instance == inst] = cls
        return Frame(
            rgb=rgb,
            k=k,
            depth=depth,
            normals=normals_from_depth(depth, k),
            class_mask=class_mask,
            instance_mask=instance,
            objects=objects,
            scene=ref.scene.name,
            index=ref.index,
            stamp=ref.index / FRAME_RATE,
            camera_pose=read_camera_pose(ref.file("camera_pose.txt")),
        )

    def intrinsics(self, scene: Path, hw: tuple[int, int]) -> np.ndarray:
        """The scene's own camera where it says (intrinsics.txt), else the subset's at this size."""
        own = read_intrinsics(scene / INTRINSICS_FILE)
        return own if own is not None else intrinsics_for(self.spec.k, hw)

    def _from_label(self, path: Path) -> Objects:
        label = read_label(path)
        n = len(label["class_ids"])
        scales = np.asarray(label["scales"], np.float64).reshape(n)
        if "size" in label:
            extents = np.asarray(label["size"], np.float64).reshape(n, 3)
        else:
            extents = (
                np.stack([self.model_extents(m) for m in label["model_list"]]) if n else np.zeros((0, 3))
            )
        handles = np.asarray(label.get("handle_visibility", np.ones(n)), np.float64).reshape(n) > 0
        return Objects(
            class_ids=np.asarray(label["class_ids"], np.int64).reshape(n),
            rotations=np.asarray(label["rotations"], np.float64).reshape(n, 3, 3),
            translations=np.asarray(label["translations"], np.float64).reshape(n, 3),
            sizes=scales[:, None] * extents,
            instance_ids=np.asarray(label["instance_ids"], np.int64).reshape(n),
            handle_visible=handles,
        )

    def _from_maps(self, ref: FrameRef, depth: np.ndarray, instance: np.ndarray, k: np.ndarray) -> Objects:
        """Fit each object's NOCS coordinates to its depth points (no label file)."""
        coord = read_coord(ref.file("coord.png")) - 0.5
        points = backproject(depth, k)
        rng = np.random.default_rng(ref.index)
        rows: list[tuple] = []
        for entry in read_meta(ref.file("meta.txt")):
            pick = (instance == entry.instance_id) & (depth > 0)
            if entry.class_id == 0 or pick.sum() < MIN_OBJECT_PIXELS:
                continue
            s, rot, t = robust_umeyama(coord[pick].astype(np.float64), points[pick], rng)
            size = s * self.model_extents(entry.model)
            rows.append((entry.class_id, rot, t, size, entry.instance_id))
        if not rows:
            return Objects()
        cls, rot, t, size, inst = (np.array(c) for c in zip(*rows, strict=True))
        return Objects(cls, rot, t, size, inst, np.ones(len(cls), bool))


class NocsFrames:
    """Single frames of a subset (SF training and evaluation): ``dataset[i] -> Frame``."""

    def __init__(self, root: str | Path, subset: str, transform: object | None = None):
        self.subset = NocsSubset(root, subset)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.subset.frames)

    def __getitem__(self, i: int) -> Frame:
        frame = self.subset.load(self.subset.frames[i])
        return self.transform(frame) if self.transform else frame


class NocsClips:
    """Clips of ``length`` frames of one REAL scene, ``stride`` frames apart, starting every ``step``.

    ``dataset[i] -> list[Frame]`` in time order (MF training). CAMERA holds unrelated
    images, so it has no clips.
    """

    def __init__(
        self,
        root: str | Path,
        subset: str,
        length: int = 3,
        stride: int = 1,
        step: int = 1,
        transform: object | None = None,
    ):
        self.subset = NocsSubset(root, subset)
        if not self.subset.spec.video:
            raise ValueError(f"{subset} holds single images, not videos: use NocsFrames (single-frame only)")
        if length < 1 or stride < 1 or step < 1:
            raise ValueError(f"length, stride and step must be >= 1, got {length}, {stride}, {step}")
        self.transform = transform
        span = (length - 1) * stride
        self.clips = [
            scene[start : start + span + 1 : stride]
            for scene in self.subset.scenes
            for start in range(0, len(scene) - span, step)
        ]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> list[Frame]:
        frames = [self.subset.load(ref) for ref in self.clips[i]]
        return [self.transform(f) for f in frames] if self.transform else frames
