"""Synthetic object-centric videos: one instance of a category per video, filmed on an orbit.

The object stands on the table at a random position and yaw of the world frame (y up), which
the alignment does not see (truth.json); the camera circles it once at a varied elevation
and distance, looking at it. ``make_video`` writes the video folder directly, with the
renderer's depth and masks; ``make_recording`` makes what a robot records instead (a wrist
camera on an arm, a z-up fixed frame, clutter on the table, no masks), which
``seqpose_ros.bags.orbit_bags`` writes as a ROS 2 bag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from seqpose_core.data.nocs_dataset import REAL_K, intrinsics_for
from seqpose_core.geometry import rigid_transform, rotation_about_y
from seqpose_core.selflabel.videos import write_video
from seqpose_core.synth.render import SceneRenderer
from seqpose_core.synth.scene import PlacedObject, Scene, distractor, look_at
from seqpose_core.synth.sensor import (
    SensorConfig,
    colour_response,
    depth_faults,
    image_motion,
    misregistration,
    motion_blur,
    pose_error,
)
from seqpose_core.synth.shapes import GENERATOR_CLASSES, ObjectModel, make_object


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
        GENERATOR_CLASSES.names[class_id],
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
            out = Path(root) / GENERATOR_CLASSES.names[class_id] / f"video_{i:03d}"
            make_video(out, class_id, rng, frames, size)
            count += 1
    return count


# --- Recordings as a robot makes them (seqpose_ros.bags.orbit_bags writes them as ROS 2 bags) ---

# The renderer's world (y up, table top at y = 0) seen from a REP-103 fixed frame (x forward,
# z up): the robot's base_link stands at the table's near edge, its top 2 cm above the base.
WORLD_TO_BASE_ROT = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
WORLD_TO_BASE_T = np.array([0.65, 0.0, 0.02])
BASE_UP = np.array([0.0, 0.0, 1.0])
RATE_HZ = 15.0  # a recording's frames per second (a RealSense colour stream's rate)
# Two camera models (fx, fy, cx, cy as fractions of the width or height): a RealSense-like
# colour camera and a wider one with an off-centre principal point.
CAMERA_MODELS = {
    "narrow": (0.96, 1.28, 0.5, 0.5),
    "wide": (0.74, 0.985, 0.52, 0.47),
}
# The wrist camera's optical frame in the arm's last link (p_wrist = WRIST_TO_OPTICAL @ p_optical):
# 6 cm ahead and 3 cm above the flange, looking along the link's x axis.
WRIST_TO_OPTICAL = rigid_transform(
    np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]), [0.06, 0, 0.03]
)


def world_to_base(pose: np.ndarray) -> np.ndarray:
    """A pose (4, 4) in the renderer's world -> the same pose in base_link."""
    return rigid_transform(WORLD_TO_BASE_ROT, WORLD_TO_BASE_T) @ pose


def camera_k(model: str, size: tuple[int, int]) -> np.ndarray:
    fx, fy, cx, cy = CAMERA_MODELS[model]
    h, w = size
    return np.array([[fx * w, 0.0, cx * w], [0.0, fy * h, cy * h], [0.0, 0.0, 1.0]])


@dataclass
class Recording:
    """One orbit of a wrist camera around an object on a cluttered table, as a bag keeps it.

    rgb (F, H, W, 3) uint8; depth (F, H, W) float32 metres (0 = no return); k (3, 3);
    wrist_to_base (F, 4, 4): the arm's last link in base_link at each frame (the moving /tf);
    truth: the object's pose in base_link, its size and class, for the evaluator only;
    object_mask (F, H, W) bool: the renderer's mask of the object, never written to a bag (it
    measures the segmentation that replaces it). With a sensor model (``sensor.py``), rgb and depth
    carry the camera's faults and wrist_to_base the arm's: the TF's camera is not the true one."""

    category: str
    camera: str
    k: np.ndarray
    rgb: np.ndarray
    depth: np.ndarray
    wrist_to_base: np.ndarray
    truth: dict
    object_mask: np.ndarray
    tf_offset_s: float = 0.0  # TF stamps run this late against the images (sensor.py)

    @property
    def cam_to_base(self) -> np.ndarray:
        return self.wrist_to_base @ WRIST_TO_OPTICAL


def footprint_radius(model: ObjectModel) -> float:
    return 0.5 * float(np.hypot(model.size[0], model.size[2]))


def cluttered_table(model: ObjectModel, rng: np.random.Generator) -> tuple[Scene, PlacedObject]:
    """The object at a random place and yaw, and another object or a distractor beside it: their
    footprints' circles 3-15 cm apart, so that the other is partly in view and never touches it."""
    xz = rng.uniform(-0.25, 0.25, 2)
    target = PlacedObject(
        model, 1, rotation_about_y(rng.uniform(0, 2 * np.pi)), np.r_[xz[0], model.size[1] / 2, xz[1]]
    )
    other = make_object(int(rng.integers(1, 7)), rng) if rng.random() < 0.6 else distractor(rng)
    angle = rng.uniform(0, 2 * np.pi)
    gap = footprint_radius(model) + footprint_radius(other) + rng.uniform(0.03, 0.15)
    oxz = xz + gap * np.array([np.cos(angle), np.sin(angle)])
    clutter = PlacedObject(
        other, 2, rotation_about_y(rng.uniform(0, 2 * np.pi)), np.r_[oxz[0], other.size[1] / 2, oxz[1]]
    )
    scene = Scene(
        [target, clutter], rng.uniform(0.3, 0.8, 3), rng.uniform(0.3, 0.9, 3), int(rng.integers(1 << 31))
    )
    return scene, target


def make_recording(
    class_id: int,
    rng: np.random.Generator,
    frames: int,
    size: tuple[int, int],
    sensor: SensorConfig | None = None,
) -> Recording:
    """A new instance of class_id recorded on an orbit by one of the camera models; ``sensor``:
    a real camera's and arm's faults (None: ideal, noise-free depth and exact TF)."""
    model = make_object(class_id, rng)
    scene, target = cluttered_table(model, rng)
    camera = str(rng.choice(sorted(CAMERA_MODELS)))
    k = camera_k(camera, size)
    poses = orbit_poses(rng, target.t + rng.normal(0, 0.01, 3), frames)  # the arm aims roughly
    renderer = SceneRenderer(scene)
    views = [renderer.render(k, p[:3, :3], p[:3, 3], size) for p in poses]
    cam_to_base = np.stack([world_to_base(p) for p in poses])
    truth = {
        "category": GENERATOR_CLASSES.names[class_id],
        "object_to_world": world_to_base(rigid_transform(target.rot, target.t)).tolist(),
        "size": model.size.tolist(),
        "fixed_frame": "base_link",
        "world_up": BASE_UP.tolist(),
    }
    rec = Recording(
        GENERATOR_CLASSES.names[class_id],
        camera,
        k,
        np.stack([v.rgb for v in views]),
        np.stack([v.depth for v in views]).astype(np.float32),
        cam_to_base @ np.linalg.inv(WRIST_TO_OPTICAL),
        truth,
        np.stack([v.instance == target.instance_id for v in views]),
    )
    return rec if sensor is None else with_sensor(rec, cam_to_base, rng, sensor)


def blurred(rec: Recording, cam_to_base: np.ndarray, exposure_s: float) -> np.ndarray:
    """The recording's colour (F, H, W, 3) smeared by the camera's motion during the exposure
    (``sensor.py`` step 10), the motion to the next frame at RATE_HZ (the last frame's: to the
    one before)."""
    share = exposure_s * RATE_HZ
    out = []
    for f in range(len(rec.rgb)):
        g = f + 1 if f + 1 < len(rec.rgb) else max(f - 1, 0)
        motion = image_motion(rec.depth[f], rec.k, cam_to_base[f], cam_to_base[g]) * share
        out.append(motion_blur(rec.rgb[f], motion))
    return np.stack(out)


def with_sensor(
    rec: Recording, cam_to_base: np.ndarray, rng: np.random.Generator, cfg: SensorConfig
) -> Recording:
    """The recording as a real camera on a real arm gives it (``sensor.py``, steps 1-10): faulty
    depth and colour, and a wrist on /tf that puts the camera where the calibration says."""
    hand_eye = pose_error(rng, cfg.hand_eye_m, cfg.hand_eye_deg)  # true camera in the nominal one
    wrist = cam_to_base @ np.linalg.inv(WRIST_TO_OPTICAL @ hand_eye)
    joints = np.stack(
        [pose_error(rng, cfg.joint_m * rng.random(), cfg.joint_deg * rng.random()) for _ in wrist]
    )
    shift = misregistration(rng, cfg)
    red, blue = 1 + rng.uniform(-cfg.white_balance, cfg.white_balance, 2)
    balance = np.array([red, 1.0, blue])
    return replace(
        rec,
        rgb=colour_response(blurred(rec, cam_to_base, cfg.exposure_s), rng.uniform(*cfg.gain), balance),
        depth=np.stack([depth_faults(d, rng, cfg, shift) for d in rec.depth]),
        wrist_to_base=wrist @ joints,
        tf_offset_s=cfg.time_offset_s,
    )
