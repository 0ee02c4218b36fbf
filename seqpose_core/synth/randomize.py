"""Domain randomisation of the generated scenes (the ``randomized`` look, the default).

The practice: Tobin et al. 2017 (randomise what the network must not rely on, textures,
lighting, distractors, so that reality looks like one more variation), DOPE (Tremblay et al.
2018: randomised backgrounds and distractors mixed with photorealistic frames) and the NOCS
CAMERA set (rendered objects over real table photos). The algorithm, per scene:

1. With ``empty_scene_prob`` the scene holds none of the classes, only distractors.
2. Distractors: ``num_distractors`` of them, each a sphere, box, prism (an extruded regular
   polygon), cone, torus, capsule, plate or a pile of 3-6 small shapes; with ``touch_prob``
   one stands against an object already placed (footprints touching).
3. Textures (``textures.py``): the table, the walls and every distractor get one, cut from a
   training-side photo or procedural, at a random scale in texels per metre.
4. Per frame: a light from a random direction of the upper hemisphere with a random ambient
   share and colour (``random_lighting``); then the camera's effects on the image
   (``camera_effects.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from seqpose_core.synth.shapes import ObjectModel
from seqpose_core.synth.textures import random_texture


@dataclass(frozen=True)
class RandomizeConfig:
    empty_scene_prob: float = 0.08  # scenes with none of the classes
    num_distractors: tuple[int, int] = (2, 7)
    empty_distractors: tuple[int, int] = (3, 8)  # in a scene with none of the classes
    touch_prob: float = 0.3  # a distractor placed against an object
    table_scale: tuple[float, float] = (150.0, 900.0)  # texels per metre (256-texel textures)
    wall_scale: tuple[float, float] = (40.0, 200.0)
    object_scale: tuple[float, float] = (600.0, 3000.0)
    ambient: tuple[float, float] = (0.15, 0.55)  # share of the light that ignores the surface's normal
    light_elevation_deg: tuple[float, float] = (20.0, 90.0)
    light_tint: float = 0.15  # per-channel gain spread of the light's colour


RANDOMIZE = RandomizeConfig()


@dataclass
class Look:
    """A scene's randomized textures: (S, S, 3) float32 images and scales in texels per metre;
    ``objects`` maps an index of ``Scene.objects`` to its texture (the distractors)."""

    table: np.ndarray
    wall: np.ndarray
    table_scale: float
    wall_scale: float
    objects: dict[int, tuple[np.ndarray, float]]


@dataclass(frozen=True)
class Lighting:
    """One frame's light: direction (3,) unit, towards the light, world frame; ambient share; colour (3,)."""

    direction: np.ndarray
    ambient: float
    colour: np.ndarray

    def shade(self, normals: np.ndarray) -> np.ndarray:
        """(N, 3) unit normals -> (N, 3) RGB gains."""
        lam = self.ambient + (1 - self.ambient) * np.abs(normals @ self.direction)
        return lam[:, None] * self.colour[None]


PLAIN_LIGHT = Lighting(np.array([0.4, 1.0, 0.3]) / np.linalg.norm([0.4, 1.0, 0.3]), 0.35, np.ones(3))


def random_lighting(rng: np.random.Generator, cfg: RandomizeConfig = RANDOMIZE) -> Lighting:
    azimuth = rng.uniform(0, 2 * np.pi)
    elev = np.radians(rng.uniform(*cfg.light_elevation_deg))
    d = np.array([np.cos(elev) * np.cos(azimuth), np.sin(elev), np.cos(elev) * np.sin(azimuth)])
    colour = 1 + rng.uniform(-cfg.light_tint, cfg.light_tint, 3)
    return Lighting(d, float(rng.uniform(*cfg.ambient)), colour / colour.max())


def _z_up_to_y(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    return mesh


def _shape(rng: np.random.Generator, scale: float = 1.0) -> trimesh.Trimesh:
    """One random primitive, standing along y, about ``scale`` x 3-12 cm."""
    kind = int(rng.integers(7))
    r, h = scale * rng.uniform(0.015, 0.06), scale * rng.uniform(0.02, 0.14)
    if kind == 0:
        return trimesh.creation.icosphere(subdivisions=2, radius=r)
    if kind == 1:
        return trimesh.creation.box(scale * rng.uniform(0.02, 0.12, 3))
    if kind == 2:
        return _z_up_to_y(trimesh.creation.cylinder(r, h, sections=int(rng.integers(3, 9))))
    if kind == 3:
        return _z_up_to_y(trimesh.creation.cone(r, h, sections=24))
    if kind == 4:
        return _z_up_to_y(trimesh.creation.torus(r, r * rng.uniform(0.15, 0.4), 24, 10))
    if kind == 5:
        return _z_up_to_y(trimesh.creation.capsule(h, r * 0.6, count=[12, 12]))
    return _z_up_to_y(
        trimesh.creation.cylinder(scale * rng.uniform(0.06, 0.13), rng.uniform(0.008, 0.02), 32)
    )


def _pile(rng: np.random.Generator) -> trimesh.Trimesh:
    parts = []
    for _ in range(int(rng.integers(3, 7))):
        m = _shape(rng, 0.5)
        m.apply_translation(-m.bounds.mean(axis=0))
        m.apply_translation(
            [rng.uniform(-0.05, 0.05), m.extents[1] / 2 + rng.uniform(0, 0.03), rng.uniform(-0.05, 0.05)]
        )
        parts.append(m)
    return trimesh.util.concatenate(parts)


def random_distractor(rng: np.random.Generator) -> ObjectModel:
    """A distractor of the randomized look (class 0), centred on its bounding box."""
    mesh = _pile(rng) if rng.random() < 0.15 else _shape(rng)
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    colors = np.tile(rng.uniform(0.1, 0.9, 3), (3, 1))
    return ObjectModel(0, "distractor", mesh, np.zeros(len(mesh.faces), int), colors)


def touching_spot(
    rng: np.random.Generator, radius: float, footprints: list[tuple[np.ndarray, float]]
) -> np.ndarray | None:
    """A table position whose footprint of ``radius`` touches one placed footprint and overlaps none."""
    if not footprints:
        return None
    centre, r = footprints[int(rng.integers(len(footprints)))]
    for _ in range(20):
        a = rng.uniform(0, 2 * np.pi)
        xz = centre + (r + radius + 1e-3) * np.array([np.cos(a), np.sin(a)])
        if all(np.linalg.norm(xz - c) > radius + rr for c, rr in footprints if c is not centre):
            return xz
    return None


def random_look(rng: np.random.Generator, textured: list[int], cfg: RandomizeConfig = RANDOMIZE) -> Look:
    """Textures for the table, walls and the objects at the indices ``textured``."""
    return Look(
        table=random_texture(rng),
        wall=random_texture(rng),
        table_scale=float(rng.uniform(*cfg.table_scale)),
        wall_scale=float(rng.uniform(*cfg.wall_scale)),
        objects={i: (random_texture(rng), float(rng.uniform(*cfg.object_scale))) for i in textured},
    )
