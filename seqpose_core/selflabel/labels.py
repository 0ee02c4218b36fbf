"""NOCS-layout training labels from an alignment: the new category becomes ordinary training data.

Per video, its cloud in the canonical frame gives the instance's box: the object frame has the
canonical axes and the box centre as origin, and its size is the box's extents over the
video's scale (metres, since the depth is metric). Each frame's pose follows from the camera
pose: object -> world -> camera. The frames are written as REAL-layout scenes (color, depth,
mask, meta, label.pkl with ``size``) with the recording's own camera (intrinsics.txt), which
``NocsFrames`` / ``NocsClips`` read unchanged. Masks and boxes come from the video's object
masks (its own, or those found from depth or by the network), never the whole image: frames
where the object covers fewer than MIN_OBJECT_PIXELS pixels are left out.

The label folder's ``classes.yaml`` is the class list its ids refer to: NOCS's six, then any new
category labelled into it, in the order they came. A model trained on the folder lists the same
classes first (``model.categories``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqpose_core.categories import Categories, Category
from seqpose_core.data.nocs_dataset import MIN_OBJECT_PIXELS
from seqpose_core.data.nocs_io import (
    INTRINSICS_FILE,
    MetaEntry,
    NocsFormatError,
    read_classes,
    write_camera_pose,
    write_classes,
    write_color,
    write_depth,
    write_intrinsics,
    write_label,
    write_mask,
    write_meta,
)
from seqpose_core.selflabel.align import Similarity
from seqpose_core.selflabel.reconstruct import Cloud
from seqpose_core.selflabel.videos import ObjectVideo, VideoError

INSTANCE = 1


def object_in_world(
    cloud: Cloud, world_to_canonical: Similarity
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The instance's object -> world rotation (3, 3), origin (3,) and metric size (3,): the box
    of the fused surface points (the 0.2 and 99.8 percentiles along each canonical axis, so that
    a few stray depth points do not stretch it)."""
    canonical = world_to_canonical.apply(cloud.surface if cloud.surface is not None else cloud.points)
    lo, hi = np.percentile(canonical, 0.2, axis=0), np.percentile(canonical, 99.8, axis=0)
    s, rot = world_to_canonical.scale, world_to_canonical.rot
    centre = rot.T @ ((lo + hi) / 2 - world_to_canonical.t) / s
    return rot.T, centre, (hi - lo) / s


def frame_label(cls: int, rot: np.ndarray, t: np.ndarray, size: np.ndarray, mask: np.ndarray) -> dict:
    """One object's label.pkl entry in the camera frame (NOCS: scale = box diagonal)."""
    ys, xs = np.nonzero(mask)
    bbox = [int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1] if len(ys) else [0, 0, 0, 0]
    scale = float(np.linalg.norm(size))
    return {
        "class_ids": [cls],
        "bboxes": np.array([bbox], np.int32),
        "scales": np.array([scale], np.float32),
        "rotations": rot[None].astype(np.float32),
        "translations": t[None].astype(np.float32),
        "instance_ids": [INSTANCE],
        "model_list": ["self_labelled"],
        "size": (size / scale)[None].astype(np.float32),
    }


def write_video_labels(
    root: Path,
    scene_id: int,
    video: ObjectVideo,
    instance: tuple[np.ndarray, np.ndarray, np.ndarray],
    cls: int,
    split: str = "train",
) -> int:
    """One video as scene ``scene_id`` of root/Real/<split>; returns the frames written.
    instance: its object -> world rotation (3, 3), origin (3,) and metric size (3,), as
    ``object_in_world`` gives them; cls: its class id (``label_classes``). The video must carry
    its object masks."""
    if video.mask is None:
        raise VideoError(f"{video.path}: no object masks: labels need them (seqpose-align finds them)")
    folder = Path(root) / "Real" / split / f"scene_{scene_id}"
    folder.mkdir(parents=True, exist_ok=True)
    write_intrinsics(folder / INTRINSICS_FILE, video.k)
    obj_rot, obj_t, size = instance
    written = 0
    for f, (pose, mask) in enumerate(zip(video.cam_to_world, video.mask, strict=True)):
        if mask.sum() < MIN_OBJECT_PIXELS:
            continue
        prefix = folder / f"{written:04d}_"
        cam_rot, cam_t = pose[:3, :3], pose[:3, 3]
        label = frame_label(cls, cam_rot.T @ obj_rot, cam_rot.T @ (obj_t - cam_t), size, mask)
        write_color(Path(f"{prefix}color.png"), video.rgb[f])
        depth = video.depth[f] if video.depth is not None else np.zeros(mask.shape, np.float32)
        write_depth(Path(f"{prefix}depth.png"), depth)  # none: no dense depth target (all invalid)
        write_mask(Path(f"{prefix}mask.png"), np.where(mask, INSTANCE, 255).astype(np.uint8))
        write_meta(Path(f"{prefix}meta.txt"), [MetaEntry(INSTANCE, cls, "self_labelled")])
        write_label(Path(f"{prefix}label.pkl"), label)
        write_camera_pose(Path(f"{prefix}camera_pose.txt"), pose)
        written += 1
    return written


def label_classes(root: Path, category: Category, write: bool = True) -> Categories:
    """The class list of the label folder ``root`` with ``category`` in it (added at the end when
    new), written to its classes.yaml unless ``write`` is False (a check before long work). A name
    already listed must keep its symmetry rule."""
    try:
        classes = read_classes(root)
    except NocsFormatError as exc:
        raise VideoError(str(exc)) from exc
    if category.name in classes.names:
        known = classes.items[classes.id(category.name) - 1]
        if known != category:
            raise VideoError(f"{root}: {category.name!r} is listed as {known}, not {category}")
        return classes
    classes = classes.plus(category)
    if write:
        write_classes(root, classes)
    return classes


def existing_scenes(root: Path) -> list[int]:
    """The scene numbers a label folder already holds (Real/train/scene_N), sorted."""
    folder = root / "Real" / "train"
    names = [p.name for p in folder.glob("scene_*")] if folder.is_dir() else []
    return sorted(int(n.split("_", 1)[1]) for n in names if n.split("_", 1)[1].isdigit())
