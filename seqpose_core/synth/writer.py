"""Write synthetic scene videos in the NOCS REAL layout, with every file the readers take.

Per frame: color, depth, mask, coord, meta and an object-deformnet style label pickle
(test scenes add ``size``, ``poses`` and ``handle_visibility``), and ``_camera_pose.txt``
(not NOCS: the camera -> world transform, so that tests and benchmarks can give the
Predictor the camera's motion); per held-out frame a GT
pickle in the results format under ``gts/real_test``; per instance a normalized ``.obj``
model under ``obj_models/real_{train,test}``.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqpose_core.categories import NOCS, Categories
from seqpose_core.data.nocs_dataset import REAL_K, intrinsics_for
from seqpose_core.data.nocs_io import (
    MetaEntry,
    write_camera_pose,
    write_classes,
    write_color,
    write_coord,
    write_depth,
    write_label,
    write_mask,
    write_meta,
    write_obj,
)
from seqpose_core.geometry import pose_to_srt, rigid_transform
from seqpose_core.synth.camera_effects import apply_camera_effects
from seqpose_core.synth.randomize import PLAIN_LIGHT, random_lighting
from seqpose_core.synth.render import RenderedFrame, SceneRenderer
from seqpose_core.synth.scene import (
    ALL_CLASS_IDS,
    DISTRACTOR_CLASS_ID,
    Scene,
    orbit_trajectory,
    sample_randomized_scene,
    sample_scene,
)
from seqpose_core.synth.shapes import GENERATOR_CLASSES

MIN_VISIBLE_PIXELS = 64  # at 640 x 480; scaled with the image area
MIN_HANDLE_PIXELS = 10
PROGRESS_EVERY = 10  # scenes between progress lines
LOOKS = ("randomized", "plain")  # plain: the look of the data the models up to #45 trained on


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Sizes other than 640 x 480 scale the REAL intrinsics (for fast tests)."""

    train_scenes: int = 6
    test_scenes: int = 2
    frames: int = 30
    height: int = 480
    width: int = 640
    seed: int = 0
    class_ids: tuple[int, ...] = ALL_CLASS_IDS  # the scenes' object classes (distractors aside)
    look: str = "randomized"  # LOOKS: domain randomisation (synth/randomize.py) or the plain look

    def __post_init__(self) -> None:
        if self.look not in LOOKS:
            raise ValueError(f"look {self.look!r}: expected one of {LOOKS}")

    @property
    def k(self) -> np.ndarray:
        return intrinsics_for(REAL_K, (self.height, self.width))


def _model_name(scene: Scene, obj_index: int, split: str, scene_id: int) -> str:
    obj = scene.objects[obj_index]
    return f"{obj.model.name}_synth_{split}_s{scene_id:03d}_{obj.instance_id}"


def _write_models(scene: Scene, root: Path, split: str, scene_id: int) -> list[str]:
    folder = root / "obj_models" / f"real_{split}"
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, obj in enumerate(scene.objects):
        name = _model_name(scene, i, split, scene_id)
        diag = np.linalg.norm(obj.model.size)
        write_obj(folder / f"{name}.obj", obj.model.mesh.vertices / diag, obj.model.mesh.faces)
        names.append(name)
    return names


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1]  # y1, x1, y2, x2


def _annotations(
    scene: Scene, view: object, cam_rot: np.ndarray, cam_pos: np.ndarray, min_px: int
) -> list[dict]:
    """Visible, evaluated objects of one view in camera coordinates."""
    out = []
    for i, obj in enumerate(scene.objects):
        mask = view.instance == obj.instance_id
        if obj.model.class_id == DISTRACTOR_CLASS_ID or mask.sum() < min_px:
            continue
        out.append(
            {
                "index": i,
                "class_id": obj.model.class_id,
                "rot": cam_rot.T @ obj.rot,
                "t": cam_rot.T @ (obj.t - cam_pos),
                "size": obj.model.size,
                "bbox": _bbox(mask),
                "handle": view.handle_pixels.get(obj.instance_id, 0) >= MIN_HANDLE_PIXELS
                or obj.model.class_id != 6,
            }
        )
    return out


def _label(objs: list[dict], scene: Scene, names: list[str], test: bool) -> dict:
    n = len(objs)
    scales = np.array([np.linalg.norm(o["size"]) for o in objs]).reshape(n)
    label = {
        "class_ids": [o["class_id"] for o in objs],
        "bboxes": np.array([o["bbox"] for o in objs], dtype=np.int32).reshape(n, 4),
        "scales": scales.astype(np.float32),
        "rotations": np.array([o["rot"] for o in objs], dtype=np.float32).reshape(n, 3, 3),
        "translations": np.array([o["t"] for o in objs], dtype=np.float32).reshape(n, 3),
        "instance_ids": [scene.objects[o["index"]].instance_id for o in objs],
        "model_list": [names[o["index"]] for o in objs],
    }
    if test:
        sizes = np.array([o["size"] for o in objs]).reshape(n, 3)
        srt, _ = pose_to_srt(
            label["rotations"].astype(np.float64), label["translations"].astype(np.float64), sizes
        )
        label["size"] = (sizes / np.maximum(scales[:, None], 1e-12)).astype(np.float32)
        label["poses"] = srt.astype(np.float32)
        label["handle_visibility"] = np.array([int(o["handle"]) for o in objs], dtype=np.int32)
    return label


def _gt_pickle(label: dict, image_path: str) -> dict:
    n = len(label["class_ids"])
    return {
        "image_path": image_path,
        "gt_class_ids": np.array(label["class_ids"], dtype=np.int32).reshape(n),
        "gt_bboxes": label["bboxes"],
        "gt_RTs": label["poses"].astype(np.float64),
        "gt_scales": label["size"].astype(np.float64),
        "gt_handle_visibility": label["handle_visibility"],
    }


def write_scene(root: Path, split: str, scene_id: int, rng: np.random.Generator, cfg: SynthConfig) -> int:
    """Sample, render and write one scene video; returns the number of frames written."""
    randomized = cfg.look == "randomized"
    scene = (sample_randomized_scene if randomized else sample_scene)(rng, class_ids=cfg.class_ids)
    names = _write_models(scene, root, split, scene_id)
    renderer = SceneRenderer(scene)
    rots, positions = orbit_trajectory(rng, cfg.frames)
    folder = root / "Real" / split / f"scene_{scene_id}"
    folder.mkdir(parents=True, exist_ok=True)
    meta = [
        MetaEntry(o.instance_id, o.model.class_id, names[i] if o.model.class_id else f"distractor_{i}")
        for i, o in enumerate(scene.objects)
    ]
    min_px = max(8, round(MIN_VISIBLE_PIXELS * cfg.height * cfg.width / (480 * 640)))
    for f, (rot, pos) in enumerate(zip(rots, positions, strict=True)):
        light = random_lighting(rng) if randomized else PLAIN_LIGHT
        view = renderer.render(cfg.k, rot, pos, (cfg.height, cfg.width), light)
        if randomized:
            view.rgb = apply_camera_effects(view.rgb, rng)
        label = _label(_annotations(scene, view, rot, pos, min_px), scene, names, test=split == "test")
        _write_frame(folder / f"{f:04d}_", view, meta, label)
        write_camera_pose(folder / f"{f:04d}_camera_pose.txt", rigid_transform(rot, pos))  # camera -> world
        if split == "test":
            _write_gt(root, scene_id, f, label)
    return cfg.frames


def _write_frame(prefix: Path, view: RenderedFrame, meta: list[MetaEntry], label: dict) -> None:
    """One frame's files in the REAL layout: color, depth, mask, coord, meta and label pickle."""
    write_color(Path(f"{prefix}color.png"), view.rgb)
    write_depth(Path(f"{prefix}depth.png"), view.depth)
    write_mask(Path(f"{prefix}mask.png"), view.instance)
    write_coord(Path(f"{prefix}coord.png"), view.coord)
    write_meta(Path(f"{prefix}meta.txt"), meta)
    write_label(Path(f"{prefix}label.pkl"), label)


def _write_gt(root: Path, scene_id: int, frame: int, label: dict) -> None:
    """The held-out frame's GT pickle in the results format, under gts/real_test."""
    gts = root / "gts" / "real_test"
    gts.mkdir(parents=True, exist_ok=True)
    image_path = f"Real/test/scene_{scene_id}/{frame:04d}"
    with open(gts / f"results_real_test_scene_{scene_id}_{frame:04d}.pkl", "wb") as fh:
        pickle.dump(_gt_pickle(label, image_path), fh, protocol=2)


def generate(
    root: str | Path, cfg: SynthConfig, progress: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Generate train and held-out test scenes (the synthetic benchmark's split) under ``root``;
    ``progress`` receives a line every ``PROGRESS_EVERY`` scenes (scenes done, rate, time left)."""
    root = Path(root)
    rng = np.random.default_rng(cfg.seed)
    counts = {"train": 0, "test": 0}
    total, start = cfg.train_scenes + cfg.test_scenes, time.perf_counter()
    for split, n in (("train", cfg.train_scenes), ("test", cfg.test_scenes)):
        for scene_id in range(1, n + 1):
            counts[split] += write_scene(root, split, scene_id, rng, cfg)
            done = counts["train"] // cfg.frames + counts["test"] // cfg.frames
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
                rate = done / (time.perf_counter() - start)
                left = (total - done) / rate
                progress(f"{done}/{total} scenes, {rate * cfg.frames:.1f} frames/s, about {left:.0f} s left")
    if max(cfg.class_ids) > len(NOCS):  # ids past the six: the list they refer to travels along
        write_classes(root, Categories(GENERATOR_CLASSES.items[: max(cfg.class_ids)]))
    classes = ", ".join(GENERATOR_CLASSES.names[c] for c in cfg.class_ids)
    (root / "SYNTHETIC.txt").write_text(
        f"seqpose synthetic NOCS-layout data, seed {cfg.seed}, {cfg.width}x{cfg.height}, {cfg.look} look.\n"
        f"Real/train: {cfg.train_scenes} scenes; Real/test (held out): {cfg.test_scenes} scenes;"
        f" {cfg.frames} frames each. Classes: {classes}.\n"
    )
    return counts
