"""Synthetic object-centric videos: one instance of a category per video, filmed on an orbit.

The object stands on the table at a random position and yaw of the world frame (y up), which
the alignment does not see (truth.json); the camera circles it once at a varied elevation
and distance, looking at it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seqpose_core.categories import CLASS_NAMES
from seqpose_core.data.nocs_dataset import REAL_K, intrinsics_for
from seqpose_core.geometry import rigid_transform, rotation_about_y
from seqpose_core.selflabel.videos import write_video
from seqpose_core.synth.render import SceneRenderer
from seqpose_core.synth.scene import PlacedObject, Scene, look_at
from seqpose_core.synth.shapes import make_object


def orbit_poses(rng: np.random.Generator, centre: np.ndarray, frames: int) -> np.ndarray:
    """Camera -> world (F, 4, 4) on one turn around centre, elevation and distance varying."""
    start = rng.uniform(0, 2 * np.pi)
    s = np.arange(frames) / frames
    azimuth = start + 2 * np.pi * s * rng.choice([-1, 1])
    elevation = np.radians(rng.uniform(20, 50) + 10 * np.sin(2 * np.pi * s * rng.uniform(1, 2)))
    radius = rng.uniform(0.4, 0.6) * (1 + 0.1 * np.sin(2 * np.pi * s + rng.uniform(0, 6)))
    offset = np.stack(
        [np.cos(elevation) * np.cos(azimuth), np.sin(elevation), np.cos(elevation) * np.sin(azimuth)], 1
    )
    positions = centre + radius[:, None] * offset
    return np.stack([rigid_transform(look_at(p, centre.copy()), p) for p in positions])


def make_video(
    out: Path, class_id: int, rng: np.random.Generator, frames: int, size: tuple[int, int]
) -> None:
    """One video of a new instance of class_id into folder out, with its truth.json."""
    model = make_object(class_id, rng)
    xz = rng.uniform(-0.3, 0.3, 2)
    rot, t = rotation_about_y(rng.uniform(0, 2 * np.pi)), np.array([xz[0], model.size[1] / 2, xz[1]])
    scene = Scene([PlacedObject(model, 1, rot, t)], rng.uniform(0.3, 0.8, 3), rng.uniform(0.3, 0.9, 3), 7)
    renderer = SceneRenderer(scene)
    k = intrinsics_for(REAL_K, size)  # the synthetic scenes' camera: the network's depth knows it
    poses = orbit_poses(rng, t, frames)
    views = [renderer.render(k, p[:3, :3], p[:3, 3], size) for p in poses]
    write_video(
        out,
        CLASS_NAMES[class_id],
        k,
        poses,
        [v.rgb for v in views],
        [v.depth for v in views],
        [v.instance == 1 for v in views],
        world_up=np.array([0.0, 1.0, 0.0]),  # the synthetic world: y up, the table at y = 0
    )
    truth = {"object_to_world": rigid_transform(rot, t).tolist(), "size": model.size.tolist()}
    (out / "truth.json").write_text(json.dumps(truth))


def generate_videos(
    root: str | Path, class_ids: list[int], per_class: int, frames: int, size: tuple[int, int], seed: int
) -> int:
    """root/<category>/<video>: per_class videos of each class. Returns the number written."""
    rng = np.random.default_rng(seed)
    count = 0
    for class_id in class_ids:
        for i in range(per_class):
            make_video(Path(root) / CLASS_NAMES[class_id] / f"video_{i:03d}", class_id, rng, frames, size)
            count += 1
    return count
