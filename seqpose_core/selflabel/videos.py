"""The object-centric video folder: one object filmed from around it, camera poses in a fixed frame.

    <video>/video.json   {"category": str, "k": 3x3, "cam_to_world": [F x 4x4]} (REP-103 optical
                         camera frames, metres), and optionally "world_up": the fixed frame's up
                         direction (objects stand upright: the alignment then keeps it)
    <video>/rgb/0000.png, depth/0000.png (uint16 millimetres, 0 = none), mask/0000.png (0/255)
    <video>/truth.json   the object's pose in the world frame: read by the evaluator only

A robot writes the same layout from a bag (TF gives cam_to_world); the alignment never opens
truth.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

MIN_FRAMES = 4


class VideoError(ValueError):
    """An object-centric video that cannot be used; the message names its folder."""


@dataclass
class ObjectVideo:
    """rgb (F, H, W, 3) uint8; depth (F, H, W) metres or None; mask (F, H, W) bool or None;
    k (3, 3); cam_to_world (F, 4, 4)."""

    path: Path
    category: str
    k: np.ndarray
    cam_to_world: np.ndarray
    rgb: np.ndarray
    depth: np.ndarray | None
    mask: np.ndarray | None
    world_up: np.ndarray | None = None  # (3,) unit, or None when the video does not say

    @property
    def name(self) -> str:
        return self.path.name


def write_video(
    path: Path,
    category: str,
    k: np.ndarray,
    cam_to_world: np.ndarray,
    rgb: list[np.ndarray],
    depth: list[np.ndarray] | None,
    mask: list[np.ndarray] | None,
    world_up: np.ndarray | None = None,
) -> None:
    """Write one video folder (depth in metres, mask bool; world_up: the fixed frame's up)."""
    for sub, images in (("rgb", rgb), ("depth", depth), ("mask", mask)):
        if images is not None:
            (path / sub).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(rgb):
        cv2.imwrite(str(path / "rgb" / f"{i:04d}.png"), image[..., ::-1])
        if depth is not None:
            cv2.imwrite(str(path / "depth" / f"{i:04d}.png"), np.round(depth[i] * 1000).astype(np.uint16))
        if mask is not None:
            cv2.imwrite(str(path / "mask" / f"{i:04d}.png"), mask[i].astype(np.uint8) * 255)
    doc = {"category": category, "k": k.tolist(), "cam_to_world": np.asarray(cam_to_world).tolist()}
    if world_up is not None:
        doc["world_up"] = np.asarray(world_up, float).tolist()
    (path / "video.json").write_text(json.dumps(doc))


def _images(path: Path, sub: str, count: int, flags: int) -> list[np.ndarray] | None:
    files = sorted((path / sub).glob("*.png")) if (path / sub).is_dir() else []
    if not files:
        return None
    if len(files) != count:
        raise VideoError(f"{path}: {len(files)} {sub} images for {count} camera poses")
    return [cv2.imread(str(f), flags) for f in files]


def read_video(path: str | Path, need_depth: bool = True) -> ObjectVideo:
    """Read and check one video folder. Raises VideoError naming the folder."""
    path = Path(path)
    meta = path / "video.json"
    if not meta.is_file():
        raise VideoError(f"{path}: no video.json (not an object-centric video folder)")
    try:
        doc = json.loads(meta.read_text())
        k = np.asarray(doc["k"], float).reshape(3, 3)
        poses = np.asarray(doc["cam_to_world"], float).reshape(-1, 4, 4)
        category = str(doc["category"])
        up = None if doc.get("world_up") is None else np.asarray(doc["world_up"], float).reshape(3)
    except (KeyError, ValueError, TypeError) as exc:
        raise VideoError(f"{meta}: malformed ({exc})") from exc
    if len(poses) < MIN_FRAMES:
        raise VideoError(f"{path}: {len(poses)} frames; at least {MIN_FRAMES} are needed")
    if not np.isfinite(poses).all() or not np.isfinite(k).all():
        raise VideoError(f"{path}: non-finite camera poses or intrinsics")
    if up is not None and not (np.isfinite(up).all() and np.linalg.norm(up) > 0):
        raise VideoError(f"{meta}: world_up {up.tolist()} is not a direction")
    rgb = _images(path, "rgb", len(poses), cv2.IMREAD_COLOR)
    if rgb is None:
        raise VideoError(f"{path}: no rgb images")
    depth = _images(path, "depth", len(poses), cv2.IMREAD_UNCHANGED)
    if depth is None and need_depth:
        raise VideoError(f"{path}: no depth images (use the network's depth: --depth network)")
    mask = _images(path, "mask", len(poses), cv2.IMREAD_GRAYSCALE)
    return ObjectVideo(
        path=path,
        category=category,
        k=k,
        cam_to_world=poses,
        rgb=np.stack([im[..., ::-1] for im in rgb]),
        depth=None if depth is None else np.stack(depth).astype(np.float32) / 1000.0,
        mask=None if mask is None else np.stack(mask) > 127,
        world_up=None if up is None else up / np.linalg.norm(up),
    )


def read_category(folder: str | Path, need_depth: bool = True) -> list[ObjectVideo]:
    """Every video under folder (one sub-folder each), all of one category."""
    folder = Path(folder)
    paths = sorted(p for p in folder.iterdir() if (p / "video.json").is_file()) if folder.is_dir() else []
    if len(paths) < 2:
        raise VideoError(f"{folder}: {len(paths)} object-centric videos; aligning needs at least 2")
    videos = [read_video(p, need_depth) for p in paths]
    categories = sorted({v.category for v in videos})
    if len(categories) > 1:
        by = {c: [v.name for v in videos if v.category == c] for c in categories}
        raise VideoError(f"{folder}: videos of different categories {by}; align one category at a time")
    return videos


def read_truth(path: str | Path) -> np.ndarray:
    """The object -> world rotation (3, 3) of a generated video (evaluation only)."""
    return read_truth_instance(path)[0]


def read_truth_instance(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated video's object -> world rotation (3, 3), centre (3,) and metric size (3,)
    (evaluation and the true-label baseline only)."""
    return read_truth_file(Path(path) / "truth.json")


def read_truth_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A truth file (a video's truth.json, or a generated bag's <bag>.truth.json beside it)."""
    doc = json.loads(Path(path).read_text())
    pose = np.asarray(doc["object_to_world"], float)
    return pose[:3, :3], pose[:3, 3], np.asarray(doc["size"], float)
