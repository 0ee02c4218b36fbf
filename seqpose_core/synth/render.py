"""Ray-cast rendering of a scene with Intel Embree (through trimesh): colour, depth, masks, NOCS map.

One ray per pixel through the pixel centre (OpenCV convention: pixel (u, v) at K^-1 [u, v, 1]).
The scene's meshes are joined once into a world-frame mesh and its BVH built once, so a
video re-uses them for every camera pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from trimesh.ray.ray_pyembree import RayMeshIntersector

from seqpose_core.geometry import rigid_transform
from seqpose_core.synth.randomize import PLAIN_LIGHT, Lighting
from seqpose_core.synth.scene import Scene
from seqpose_core.synth.shapes import PART_HANDLE
from seqpose_core.synth.textures import lookup

BACKGROUND_ID = 255  # NOCS masks: 255 is background
_ENV_TABLE, _ENV_ROOM = -1, -2


@dataclass
class RenderedFrame:
    """One view: rgb uint8 (H, W, 3); depth float32 metres (H, W); instance uint8 (H, W), 255 = none;
    coord float32 (H, W, 3) NOCS coordinates in [0, 1] (0 off objects); handle_pixels {instance: count}."""

    rgb: np.ndarray
    depth: np.ndarray
    instance: np.ndarray
    coord: np.ndarray
    handle_pixels: dict[int, int]


class SceneRenderer:
    """Renders views of one static scene."""

    def __init__(self, scene: Scene):
        self.scene = scene
        meshes, owner, parts = [], [], []
        for k, obj in enumerate(scene.objects):
            m = obj.model.mesh.copy()
            m.apply_transform(rigid_transform(obj.rot, obj.t))
            meshes.append(m)
            owner.append(np.full(len(m.faces), k))
            parts.append(obj.model.face_parts)
        table = trimesh.creation.box([1.6, 0.02, 1.2])
        table.apply_translation([0, -0.01, 0])
        room = trimesh.creation.box([8.0, 6.0, 8.0])
        room.apply_translation([0, 2.2, 0])
        for env, m in ((_ENV_TABLE, table), (_ENV_ROOM, room)):
            meshes.append(m)
            owner.append(np.full(len(m.faces), env))
            parts.append(np.zeros(len(m.faces), int))
        self.mesh = trimesh.util.concatenate(meshes)
        self.face_owner = np.concatenate(owner)
        self.face_part = np.concatenate(parts)
        self.intersector = RayMeshIntersector(self.mesh)

    def render(
        self,
        k: np.ndarray,
        cam_rot: np.ndarray,
        cam_pos: np.ndarray,
        size: tuple[int, int],
        light: Lighting = PLAIN_LIGHT,
    ) -> RenderedFrame:
        """k (3, 3); cam_rot (3, 3) camera -> world; cam_pos (3,) world; size (H, W)."""
        h, w = size
        v, u = np.mgrid[0:h, 0:w]
        rays_cam = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(k).T
        dirs = rays_cam @ cam_rot.T
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        origins = np.broadcast_to(cam_pos, dirs.shape)
        tri, ray, loc = self.intersector.intersects_id(
            origins, dirs, multiple_hits=False, return_locations=True
        )
        depth = np.zeros(h * w, np.float32)
        depth[ray] = (loc - cam_pos) @ cam_rot[:, 2]
        owner = np.full(h * w, _ENV_ROOM)
        owner[ray] = self.face_owner[tri]
        instance = np.full(h * w, BACKGROUND_ID, np.uint8)
        coord = np.zeros((h * w, 3), np.float32)
        rgb = np.zeros((h * w, 3))
        shade = light.shade(self.mesh.face_normals[tri])
        handle_pixels: dict[int, int] = {}
        for idx, obj in enumerate(self.scene.objects):
            hit = owner[ray] == idx
            rays_o = ray[hit]
            instance[rays_o] = obj.instance_id
            local = (loc[hit] - obj.t) @ obj.rot
            coord[rays_o] = local / np.linalg.norm(obj.model.size) + 0.5
            part = self.face_part[tri[hit]]
            rgb[rays_o] = self._object_colour(idx, local, part)
            handle_pixels[obj.instance_id] = int(np.sum(part == PART_HANDLE))
        for env, colour in ((_ENV_TABLE, self._table_colour), (_ENV_ROOM, self._room_colour)):
            hit = owner[ray] == env
            rgb[ray[hit]] = colour(loc[hit])
        rgb[ray] *= shade
        noise = np.random.default_rng(self.scene.texture_seed + int(1e3 * cam_pos.sum()) % 1000).normal(
            0, 0.01, rgb.shape
        )
        rgb = np.clip(rgb + noise, 0, 1)
        return RenderedFrame(
            rgb=(255 * rgb).round().astype(np.uint8).reshape(h, w, 3),
            depth=depth.reshape(h, w),
            instance=instance.reshape(h, w),
            coord=coord.reshape(h, w, 3),
            handle_pixels=handle_pixels,
        )

    def _object_colour(self, idx: int, local: np.ndarray, part: np.ndarray) -> np.ndarray:
        """(N, 3) object-frame points of object ``idx`` and their part ids -> (N, 3) RGB."""
        obj = self.scene.objects[idx]
        look = self.scene.look
        if look is not None and idx in look.objects:
            texture, scale = look.objects[idx]
            return lookup(texture, scale * (local[:, 0] + local[:, 2]), scale * local[:, 1])
        return obj.model.colors[part] * _stripes(local, obj.model.size)[:, None]

    def _table_colour(self, p: np.ndarray) -> np.ndarray:
        look = self.scene.look
        if look is not None:
            return lookup(look.table, look.table_scale * p[:, 0], look.table_scale * p[:, 2])
        grain = 0.85 + 0.15 * np.sin(40 * p[:, 0] + 6 * np.sin(7 * p[:, 2] + self.scene.texture_seed % 7))
        return self.scene.table_tint[None] * grain[:, None]

    def _room_colour(self, p: np.ndarray) -> np.ndarray:
        look = self.scene.look
        if look is not None:
            u = np.arctan2(p[:, 0], p[:, 2]) * 4.0  # metres along a wall 4 m away
            return lookup(look.wall, look.wall_scale * u, look.wall_scale * p[:, 1])
        band = 0.75 + 0.25 * np.sin(3 * p[:, 1] + np.arctan2(p[:, 0], p[:, 2]) * 5)
        return self.scene.wall_tint[None] * band[:, None]


def _stripes(local: np.ndarray, size: np.ndarray) -> np.ndarray:
    """A darker label band around the middle of each object, so texture varies with pose."""
    y = local[:, 1] / size[1]
    return np.where(np.abs(y) < 0.15, 0.7, 1.0)
