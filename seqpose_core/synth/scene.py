"""Tabletop scenes and camera trajectories for the synthetic videos.

World frame: y up, the table top at y = 0. Cameras use the REP-103 optical frame
(x right, y down, z forward). Objects stand upright on the table with a random yaw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from seqpose_core.geometry import rotation_about_y
from seqpose_core.synth.randomize import (
    RANDOMIZE,
    Look,
    RandomizeConfig,
    random_distractor,
    random_look,
    touching_spot,
)
from seqpose_core.synth.shapes import ObjectModel, make_object

DISTRACTOR_CLASS_ID = 0  # NOCS meta: class 0 marks an object of no evaluated category


@dataclass
class PlacedObject:
    model: ObjectModel
    instance_id: int
    rot: np.ndarray  # (3, 3) object -> world
    t: np.ndarray  # (3,) object centre in the world, metres


@dataclass
class Scene:
    objects: list[PlacedObject]
    table_tint: np.ndarray  # (3,) RGB in [0, 1]
    wall_tint: np.ndarray
    texture_seed: int
    look: Look | None = None  # None: the plain look (tints, a grain, bands); else textures


def distractor(rng: np.random.Generator) -> ObjectModel:
    if rng.random() < 0.5:
        mesh = trimesh.creation.icosphere(subdivisions=2, radius=rng.uniform(0.025, 0.05))
    else:
        mesh = trimesh.creation.box(rng.uniform(0.03, 0.12, 3))
    colors = np.tile(rng.uniform(0.1, 0.9, 3), (3, 1))
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return ObjectModel(DISTRACTOR_CLASS_ID, "distractor", mesh, np.zeros(len(mesh.faces), int), colors)


ALL_CLASS_IDS = (1, 2, 3, 4, 5, 6)


def sample_scene(
    rng: np.random.Generator,
    num_objects: tuple[int, int] = (3, 6),
    num_distractors: tuple[int, int] = (0, 2),
    class_ids: tuple[int, ...] = ALL_CLASS_IDS,
) -> Scene:
    """Objects of random classes among ``class_ids`` placed without overlap within 0.35 m of the
    table centre (all six classes draw the same scenes as before the choice existed)."""
    n = int(rng.integers(num_objects[0], num_objects[1] + 1))
    models = [make_object(class_ids[int(rng.integers(0, len(class_ids)))], rng) for _ in range(n)]
    models += [distractor(rng) for _ in range(int(rng.integers(num_distractors[0], num_distractors[1] + 1)))]
    placed = _place(models, rng)
    return Scene(placed, rng.uniform(0.3, 0.8, 3), rng.uniform(0.3, 0.9, 3), int(rng.integers(1 << 31)))


def sample_randomized_scene(
    rng: np.random.Generator,
    num_objects: tuple[int, int] = (3, 6),
    class_ids: tuple[int, ...] = ALL_CLASS_IDS,
    cfg: RandomizeConfig = RANDOMIZE,
) -> Scene:
    """A scene of the randomized look (``randomize.py``): more and varied distractors, some against
    the objects, textures from photos and patterns; with ``cfg.empty_scene_prob``, no class at all."""
    empty = rng.random() < cfg.empty_scene_prob
    n = 0 if empty else int(rng.integers(num_objects[0], num_objects[1] + 1))
    models = [make_object(class_ids[int(rng.integers(0, len(class_ids)))], rng) for _ in range(n)]
    lo, hi = cfg.empty_distractors if empty else cfg.num_distractors
    models += [random_distractor(rng) for _ in range(int(rng.integers(lo, hi + 1)))]
    placed = _place(models, rng, cfg.touch_prob)
    textured = [i for i, o in enumerate(placed) if o.model.class_id == DISTRACTOR_CLASS_ID]
    look = random_look(rng, textured, cfg)
    return Scene(placed, rng.uniform(0.3, 0.8, 3), rng.uniform(0.3, 0.9, 3), int(rng.integers(1 << 31)), look)


def _place(
    models: list[ObjectModel], rng: np.random.Generator, touch_prob: float = 0.0
) -> list[PlacedObject]:
    """Stand the models on the table with a random yaw, footprints apart within 0.35 m of its centre;
    a distractor touches a placed footprint with ``touch_prob`` (0 draws no extra numbers)."""
    placed: list[PlacedObject] = []
    footprints: list[tuple[np.ndarray, float]] = []
    for model in models:
        radius = 0.5 * float(np.hypot(model.size[0], model.size[2])) + 0.01
        spot = None
        if touch_prob > 0 and model.class_id == DISTRACTOR_CLASS_ID and rng.random() < touch_prob:
            spot = touching_spot(rng, radius, footprints)
        for _ in range(0 if spot is not None else 200):
            xz = rng.uniform(-0.35, 0.35, 2)
            if all(np.linalg.norm(xz - c) > radius + r for c, r in footprints):
                break
        else:
            if spot is None:
                continue  # no room left on the table
            xz = spot
        footprints.append((xz, radius))
        rot = rotation_about_y(rng.uniform(0, 2 * np.pi))
        t = np.array([xz[0], model.size[1] / 2, xz[1]])
        placed.append(PlacedObject(model, len(placed) + 1, rot, t))
    return placed


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera -> world rotation of an optical frame at ``position`` looking at ``target``."""
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)


def orbit_trajectory(rng: np.random.Generator, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth orbit around the table: camera->world rotations (F, 3, 3) and positions (F, 3)."""
    radius = rng.uniform(0.6, 0.95)
    elevation = np.radians(rng.uniform(25, 55))
    start = rng.uniform(0, 2 * np.pi)
    sweep = np.radians(rng.uniform(20, 70)) * rng.choice([-1, 1])
    s = np.linspace(0, 1, num_frames)
    azimuth = start + sweep * s
    elev = elevation + np.radians(4) * np.sin(2 * np.pi * s * rng.uniform(0.5, 1.5))
    pos = np.stack(
        [
            radius * np.cos(elev) * np.cos(azimuth),
            radius * np.sin(elev),
            radius * np.cos(elev) * np.sin(azimuth),
        ],
        1,
    )
    target = rng.uniform(-0.05, 0.05, 3) * [1, 0, 1]
    rots = np.stack([look_at(p, target) for p in pos])
    return rots, pos
