"""Meshes of the six NOCS categories, and of one family no training data uses, with
per-instance variation, in metres.

Each object frame follows the NOCS canonical convention: y up, the object centred on its
tight bounding box. The mug's handle points along +x, the camera's lens along +z, and
the laptop's hinge runs along x with the screen at -z. Parts carry an id so that the
renderer can colour them and tell whether a mug's handle is visible.

The kettle (``GENERATOR_CLASSES`` id 7, after the NOCS six) stands in for a robot team's own
category: a bulging body with a lid, a spout rising along +x and a handle on the -x side. No
default scene draws it; it is there to be taught to a model (robot bags) and to test that model
(tabletop scenes with ``--categories ... kettle``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from seqpose_core.categories import NOCS, Category

PART_BODY, PART_DETAIL, PART_HANDLE = 0, 1, 2
GENERATOR_CLASSES = NOCS.plus(Category("kettle"))  # what make_object draws, by these ids


@dataclass
class ObjectModel:
    """A category instance: its mesh (object frame, metres) and per-face part ids."""

    class_id: int
    name: str
    mesh: trimesh.Trimesh
    face_parts: np.ndarray  # (F,) PART_* per face
    colors: np.ndarray  # (3, 3) RGB in [0, 1] per part

    @property
    def size(self) -> np.ndarray:
        """Tight metric extents (x, y, z)."""
        return self.mesh.extents.copy()


_Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # revolve's z axis -> y


def _revolve(profile: list[tuple[float, float]], sections: int = 48) -> trimesh.Trimesh:
    """Solid of revolution about y from (radius, height) points."""
    return trimesh.creation.revolve(np.array(profile), sections=sections, transform=_Y_UP)


def _bottle(rng: np.random.Generator) -> list[tuple[trimesh.Trimesh, int]]:
    h, r = rng.uniform(0.16, 0.30), rng.uniform(0.03, 0.045)
    neck_r, shoulder = r * rng.uniform(0.3, 0.45), rng.uniform(0.55, 0.75)
    body = _revolve([(0, 0), (r, 0), (r, h * shoulder), (neck_r, h * 0.85), (neck_r, h), (0, h)])
    cap = _revolve([(0, h), (neck_r * 1.1, h), (neck_r * 1.1, h * 1.05), (0, h * 1.05)])
    return [(body, PART_BODY), (cap, PART_DETAIL)]


def _bowl(rng: np.random.Generator) -> list[tuple[trimesh.Trimesh, int]]:
    r, h, wall = rng.uniform(0.06, 0.10), rng.uniform(0.045, 0.08), 0.005
    a = np.linspace(0, np.pi / 2, 12)
    outer = [(r * 0.45 + (r * 0.55) * np.sin(t), h * (1 - np.cos(t))) for t in a]
    inner = [(max(x - wall, 0.0), max(y, wall) + wall) for x, y in outer[::-1]]
    return [(_revolve([(0, 0), *outer, *inner, (0, 2 * wall)]), PART_BODY)]


def _can(rng: np.random.Generator) -> list[tuple[trimesh.Trimesh, int]]:
    h, r = rng.uniform(0.10, 0.16), rng.uniform(0.03, 0.04)
    body = _revolve([(0, 0), (r * 0.9, 0), (r, 0.01), (r, h - 0.01), (r * 0.9, h), (0, h)])
    top = _revolve([(0, h), (r * 0.85, h), (r * 0.85, h + 0.002), (0, h + 0.002)])
    return [(body, PART_BODY), (top, PART_DETAIL)]


def _mug(rng: np.random.Generator) -> list[tuple[trimesh.Trimesh, int]]:
    h, r, wall = rng.uniform(0.08, 0.11), rng.uniform(0.035, 0.045), 0.005
    cup = _revolve([(0, 0), (r, 0), (r, h), (r - wall, h), (r - wall, wall), (0, wall)])
    major, minor = h * rng.uniform(0.25, 0.32), rng.uniform(0.006, 0.009)
    ring = trimesh.creation.torus(major, minor, major_sections=32, minor_sections=12)
    ring.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    ring.apply_translation([r, h * 0.5, 0])
    ring.update_faces(ring.triangles_center[:, 0] > r - wall / 2)  # the outer half only
    ring.remove_unreferenced_vertices()
    return [(cup, PART_BODY), (ring, PART_HANDLE)]


def _camera(rng: np.random.Generator) -> list[tuple[trimesh.Trimesh, int]]:
    w, h, d = rng.uniform(0.10, 0.15), rng.uniform(0.06, 0.09), rng.uniform(0.04, 0.07)
    body = trimesh.creation.box([w, h, d])
    lens_r, lens_l = h * rng.uniform(0.3, 0.4), rng.uniform(0.03, 0.07)
    lens = trimesh.creation.cylinder(lens_r, lens_l, sections=32)
    lens.apply_translation([w * rng.uniform(-0.1, 0.1), -h * 0.05, d / 2 + lens_l / 2])
    finder = trimesh.creation.box([w * 0.3, h * 0.25, d * 0.6])
    finder.apply_translation([0, h / 2 + h * 0.125, 0])
    return [(body, PART_BODY), (lens, PART_DETAIL), (finder, PART_BODY)]


def _laptop(rng: np.random.Generator) -> list[tuple[trimesh.Trimesh, int]]:
    w, d, t = rng.uniform(0.28, 0.38), rng.uniform(0.19, 0.26), 0.015
    base = trimesh.creation.box([w, t, d])
    base.apply_translation([0, t / 2, 0])
    screen_h, opening = d * rng.uniform(0.9, 1.0), np.radians(rng.uniform(95, 130))
    screen = trimesh.creation.box([w, screen_h, t * 0.6])
    screen.apply_translation([0, screen_h / 2, 0])
    screen.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2 - opening, [1, 0, 0]))
    screen.apply_translation([0, t, -d / 2])
    keys = trimesh.creation.box([w * 0.85, 0.002, d * 0.45])
    keys.apply_translation([0, t + 0.001, -d * 0.1])
    return [(base, PART_BODY), (screen, PART_BODY), (keys, PART_DETAIL)]


def _kettle(rng: np.random.Generator) -> list[tuple[trimesh.Trimesh, int]]:
    h, r = rng.uniform(0.13, 0.20), rng.uniform(0.065, 0.09)
    neck = r * rng.uniform(0.5, 0.65)
    body = _revolve([(0, 0), (r * 0.9, 0), (r, h * 0.35), (r * 0.92, h * 0.7), (neck, h), (0, h)])
    knob = _revolve([(0, h), (neck * 0.3, h), (neck * 0.2, h + 0.02), (0, h + 0.02)])
    spout_r, spout_l = rng.uniform(0.010, 0.016), rng.uniform(0.07, 0.10)
    tilt = np.radians(rng.uniform(35, 55))  # the spout rises at this angle along +x
    spout = trimesh.creation.cylinder(spout_r, spout_l, sections=16)  # along z
    spout.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2 - tilt, [0, 0, -1]) @ _Z_TO_Y)
    spout.apply_translation([r * 0.8 + np.cos(tilt) * spout_l / 2, h * 0.3 + np.sin(tilt) * spout_l / 2, 0])
    major, minor = h * rng.uniform(0.3, 0.38), rng.uniform(0.008, 0.012)
    ring = trimesh.creation.torus(major, minor, major_sections=32, minor_sections=12)
    ring.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    ring.apply_translation([-r * 0.85, h * 0.55, 0])
    ring.update_faces(ring.triangles_center[:, 0] < -r * 0.85)  # the outer half only
    ring.remove_unreferenced_vertices()
    return [(body, PART_BODY), (knob, PART_DETAIL), (spout, PART_BODY), (ring, PART_HANDLE)]


_Z_TO_Y = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # a z-axis part -> along y
_BUILDERS = {
    "bottle": _bottle,
    "bowl": _bowl,
    "camera": _camera,
    "can": _can,
    "laptop": _laptop,
    "mug": _mug,
    "kettle": _kettle,
}


def make_object(class_id: int, rng: np.random.Generator, name: str | None = None) -> ObjectModel:
    """Draw one instance of class ``class_id`` (``GENERATOR_CLASSES``: 1..6 NOCS, 7 the kettle),
    centred on its tight bounding box."""
    parts = _BUILDERS[GENERATOR_CLASSES.names[class_id]](rng)
    mesh = trimesh.util.concatenate([m for m, _ in parts])
    face_parts = np.concatenate([np.full(len(m.faces), p) for m, p in parts])
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    base = rng.uniform(0.1, 0.9, 3)
    colors = np.stack([base, rng.uniform(0.05, 0.95, 3), np.clip(base * rng.uniform(0.6, 1.2), 0, 1)])
    return ObjectModel(class_id, name or GENERATOR_CLASSES.names[class_id], mesh, face_parts, colors)
