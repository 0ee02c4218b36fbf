"""Per-image files of the NOCS datasets, read and written in exactly the official formats.

``NNNN_color.png`` RGB; ``NNNN_depth.png`` uint16 millimetres (CAMERA may store it in 3
channels as G * 256 + B); ``NNNN_mask.png`` instance ids, 255 = background;
``NNNN_coord.png`` the NOCS map (stored BGR, read as RGB / 255 with z = 1 - z);
``NNNN_meta.txt`` lines ``inst_id cls_id model`` (REAL) or ``inst_id cls_id synset
model_id`` (CAMERA), cls_id 0 marking objects of no evaluated class; ``NNNN_label.pkl``
the object-deformnet annotations; object models as Wavefront ``.obj``. Not NOCS's, and
optional: a dataset root's ``classes.yaml`` lists the classes its ids refer to when they go
beyond the six (``Categories.to_list`` data).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from seqpose_core.categories import NOCS, Categories
from seqpose_core.safe_pickle import safe_load


class NocsFormatError(ValueError):
    """A NOCS file that is missing or malformed; the message names the file."""


def _imread(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise NocsFormatError(f"{path}: no such file")
    img = cv2.imread(str(path), flags)
    if img is None:
        raise NocsFormatError(f"{path}: not a readable image")
    return img


def _imwrite(path: Path, img: np.ndarray) -> None:
    if not cv2.imwrite(str(path), img):
        raise OSError(f"{path}: could not write")


def read_color(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); grey images are expanded to 3 channels."""
    img = _imread(path, cv2.IMREAD_UNCHANGED)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., 2::-1])


def write_color(path: Path, rgb: np.ndarray) -> None:
    _imwrite(path, rgb[..., ::-1])


def read_depth(path: Path) -> np.ndarray:
    """Depth in metres, float32 (H, W); 0 where unknown."""
    img = _imread(path, cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:  # CAMERA: 3 x 8 bit, depth = G * 256 + B (cv2 gives BGR)
        img = img[..., 1].astype(np.uint16) * 256 + img[..., 0].astype(np.uint16)
    if img.dtype != np.uint16:
        raise NocsFormatError(f"{path}: depth must be 16-bit, got {img.dtype}")
    return img.astype(np.float32) / 1000.0


def write_depth(path: Path, depth_m: np.ndarray) -> None:
    _imwrite(path, np.clip(np.round(depth_m * 1000.0), 0, 65535).astype(np.uint16))


def read_mask(path: Path) -> np.ndarray:
    """Instance ids uint8 (H, W), 255 = background."""
    img = _imread(path, cv2.IMREAD_UNCHANGED)
    return img[..., 2] if img.ndim == 3 else img


def write_mask(path: Path, instance: np.ndarray) -> None:
    _imwrite(path, instance.astype(np.uint8))


def read_coord(path: Path) -> np.ndarray:
    """NOCS coordinates float32 (H, W, 3) in [0, 1]."""
    img = _imread(path, cv2.IMREAD_UNCHANGED)[..., 2::-1].astype(np.float32) / 255.0
    img[..., 2] = 1.0 - img[..., 2]
    return img


def write_coord(path: Path, coord: np.ndarray) -> None:
    stored = np.concatenate([coord[..., :2], 1.0 - coord[..., 2:3]], axis=-1)
    _imwrite(path, np.clip(np.round(stored * 255.0), 0, 255).astype(np.uint8)[..., ::-1])


@dataclass(frozen=True)
class MetaEntry:
    instance_id: int
    class_id: int
    model: str  # REAL: model name; CAMERA: "synset/model_id"


def read_meta(path: Path) -> list[MetaEntry]:
    if not path.is_file():
        raise NocsFormatError(f"{path}: no such file")
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) not in (3, 4):
            raise NocsFormatError(
                f"{path}:{n}: expected 'inst_id cls_id model' or 'inst_id cls_id synset model_id'"
            )
        entries.append(MetaEntry(int(words[0]), int(words[1]), "/".join(words[2:])))
    return entries


def write_meta(path: Path, entries: list[MetaEntry]) -> None:
    path.write_text("".join(f"{e.instance_id} {e.class_id} {e.model.replace('/', ' ')}\n" for e in entries))


def _read_matrix(path: Path, n: int) -> np.ndarray | None:
    """An n x n text matrix (shape not yet checked), or None when the file is absent."""
    if not path.is_file():
        return None
    try:
        return np.loadtxt(path, dtype=np.float64)
    except ValueError as exc:
        raise NocsFormatError(f"{path}: not a {n} x {n} matrix of numbers ({exc})") from exc


def read_camera_pose(path: Path) -> np.ndarray | None:
    """The synthetic scenes' ``_camera_pose.txt`` (not part of NOCS): the 4 x 4 camera -> world
    transform of the frame's optical frame (p_world = T @ p_camera); None when the file is absent."""
    pose = _read_matrix(path, 4)
    if pose is None:
        return None
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)) or not np.allclose(pose[3], [0, 0, 0, 1]):
        raise NocsFormatError(f"{path}: expected a finite 4 x 4 rigid transform, got shape {pose.shape}")
    return pose


def write_camera_pose(path: Path, pose: np.ndarray) -> None:
    np.savetxt(path, pose, fmt="%.9f")


INTRINSICS_FILE = "intrinsics.txt"


def read_intrinsics(path: Path) -> np.ndarray | None:
    """A scene's own camera (not part of NOCS; self-labelled recordings write it): the 3 x 3 K
    of its images at their stored resolution; None when the file is absent."""
    k = _read_matrix(path, 3)
    if k is None:
        return None
    ok = k.shape == (3, 3) and np.all(np.isfinite(k)) and np.allclose(k[2], [0, 0, 1]) and k[0, 0] > 0
    if not ok or k[1, 1] <= 0:
        raise NocsFormatError(f"{path}: expected a pinhole K (3 x 3, fx, fy > 0, last row 0 0 1)")
    return k


def write_intrinsics(path: Path, k: np.ndarray) -> None:
    np.savetxt(path, k, fmt="%.9f")


CLASSES_FILE = "classes.yaml"


def read_classes(root: Path) -> Categories:
    """A dataset root's class list: its classes.yaml, else the six NOCS classes."""
    path = Path(root) / CLASSES_FILE
    if not path.is_file():
        return NOCS
    try:
        return Categories.from_list(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, TypeError, ValueError) as exc:
        raise NocsFormatError(f"{path}: not a class list ({exc})") from exc


def write_classes(root: Path, classes: Categories) -> None:
    Path(root).mkdir(parents=True, exist_ok=True)
    (Path(root) / CLASSES_FILE).write_text(yaml.safe_dump(classes.to_list(), sort_keys=False))


LABEL_KEYS = ("class_ids", "bboxes", "scales", "rotations", "translations", "instance_ids", "model_list")


def read_label(path: Path) -> dict[str, np.ndarray | list]:
    """An object-deformnet ``_label.pkl``.

    Test labels also hold ``size``, ``poses`` and ``handle_visibility``.
    """
    if not path.is_file():
        raise NocsFormatError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            label = safe_load(f)
    except (pickle.UnpicklingError, EOFError) as exc:
        raise NocsFormatError(f"{path}: unreadable label pickle ({exc})") from exc
    missing = [k for k in LABEL_KEYS if not isinstance(label, dict) or k not in label]
    if missing:
        raise NocsFormatError(f"{path}: label lacks {missing}")
    return label


def write_label(path: Path, label: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(label, f, protocol=2)


def read_obj_extents(path: Path) -> np.ndarray:
    """Extents (x, y, z) of the vertices of a Wavefront ``.obj`` model."""
    if not path.is_file():
        raise NocsFormatError(f"{path}: no such file")
    verts = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    if not verts:
        raise NocsFormatError(f"{path}: no vertices")
    v = np.array(verts, dtype=np.float64)
    return v.max(axis=0) - v.min(axis=0)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")
