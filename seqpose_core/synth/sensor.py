"""A real wrist RGB-D camera's faults, for the robot recordings (``seqpose-orbits --sensor``).

The generator's depth is otherwise noise-free and its TF exact. The realistic sensor, per
recording (one camera, one calibration) and per frame:

1. Depth noise: Gaussian, its standard deviation ``axial_noise`` x z² (a stereo camera's
   error grows with the square of the distance; Intel's D400 datasheet: under 2 % at 2 m).
2. A low-frequency bias: a smooth random field of amplitude ``bias_m`` (a stereo matcher's
   sub-pixel errors vary slowly across the image).
3. Holes: ``hole_share`` of the pixels lost in blobs, and every pixel beside a depth jump
   larger than ``edge_jump_m`` (drivers remove the flying pixels there).
4. Quantisation to ``quantisation_m`` (16UC1 millimetres).
5. Misregistration: the aligned depth shifted ``misregistration_px`` pixels against the
   colour image (a depth-to-colour extrinsic that is slightly off: one shift per recording).
6. A hand-eye calibration error: the TF's camera is off the true one by ``hand_eye_m`` and
   ``hand_eye_deg`` in a random direction, the same for the whole recording.
7. Joint noise: each frame's wrist pose on /tf off by up to ``joint_m`` and ``joint_deg``.
8. A time offset of ``time_offset_s`` between the images and TF (TF stamps late).
9. Exposure and white balance per recording (``camera_effects``, gain and balance only).
10. Motion blur: each colour image smeared along the image motion the camera makes during
    its exposure (``exposure_s``), from the scene's true depth and the camera's motion to the
    next frame at the recording's rate: a line kernel of the median motion's length and
    direction. An orbit at a real arm's pace (20-40 s a turn) blurs by under a pixel at
    160x120 and a few at 640x480; the 16-frame orbits of one second blur by many.

The numbers are those of a D435-class camera on an arm: the datasheet's depth RMS error, a
3 mm / 0.7 degree hand-eye residual as calibration toolboxes report them, encoders of 0.01
degree over a 6-joint chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seqpose_core.geometry import rigid_transform, rotation_from_vector


@dataclass(frozen=True)
class SensorConfig:
    axial_noise: float = 0.004  # sigma = axial_noise * z², metres (z in metres)
    bias_m: float = 0.0015  # amplitude of the low-frequency bias
    hole_share: float = 0.03  # of the pixels, in blobs
    edge_jump_m: float = 0.03  # a depth step beyond this drops the pixels on both sides
    quantisation_m: float = 0.001
    misregistration_px: int = 1
    hand_eye_m: float = 0.003
    hand_eye_deg: float = 0.7
    joint_m: float = 0.0005
    joint_deg: float = 0.05
    time_offset_s: float = 0.01
    gain: tuple[float, float] = (0.8, 1.2)  # per recording
    white_balance: float = 0.08  # red and blue gains in 1 +- this, per recording
    exposure_s: float = 0.015  # seconds the shutter is open (indoor auto-exposure)


REALISTIC = SensorConfig()
SENSORS = ("ideal", "realistic")


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int = 6) -> np.ndarray:
    """A field in [-1, 1] (H, W) that varies over about a sixth of the image."""
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC).clip(-1, 1)


def _holes(rng: np.random.Generator, shape: tuple[int, int], share: float) -> np.ndarray:
    """(H, W) bool: blobs covering about ``share`` of the image."""
    field = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 2.0)
    return field > np.quantile(field, 1 - share)


def _edges(depth: np.ndarray, jump: float) -> np.ndarray:
    """(H, W) bool: pixels with a neighbour more than ``jump`` nearer or farther."""
    out = np.zeros(depth.shape, bool)
    for axis in (0, 1):
        step = np.abs(np.diff(depth, axis=axis)) > jump
        pad = [(0, 0), (0, 0)]
        pad[axis] = (0, 1)
        out |= np.pad(step, pad)
        pad[axis] = (1, 0)
        out |= np.pad(step, pad)
    return out


def misregistration(rng: np.random.Generator, cfg: SensorConfig = REALISTIC) -> tuple[int, int]:
    """Step 5's shift (rows, columns) in pixels: drawn once per recording, as the depth-to-colour
    extrinsic it stands for is one calibration."""
    return tuple(int(v) for v in cfg.misregistration_px * rng.choice([-1, 1], 2))


def depth_faults(
    depth: np.ndarray,
    rng: np.random.Generator,
    cfg: SensorConfig = REALISTIC,
    shift: tuple[int, int] | None = None,
) -> np.ndarray:
    """Steps 1-5 on one metric depth image (H, W), 0 = no return -> the faulty image (float32);
    shift: the recording's misregistration (None: drawn for this image alone)."""
    valid = depth > 0
    z = depth.astype(np.float64)
    z = z + rng.normal(0.0, 1.0, z.shape) * cfg.axial_noise * z**2
    z = z + cfg.bias_m * _smooth_field(rng, z.shape)
    z = np.round(z / cfg.quantisation_m) * cfg.quantisation_m
    keep = valid & ~_holes(rng, z.shape, cfg.hole_share) & ~_edges(depth, cfg.edge_jump_m)
    out = np.where(keep, z, 0.0).astype(np.float32)
    return np.roll(out, shift if shift is not None else misregistration(rng, cfg), axis=(0, 1))


def pose_error(rng: np.random.Generator, metres: float, deg: float) -> np.ndarray:
    """A rigid error (4, 4): ``deg`` about a random axis and ``metres`` along a random direction."""
    d, axis = rng.normal(size=3), rng.normal(size=3)
    turn = rotation_from_vector(np.radians(deg) * axis / np.linalg.norm(axis))
    return rigid_transform(turn, metres * d / np.linalg.norm(d))


def colour_response(rgb: np.ndarray, gain: float, balance: np.ndarray) -> np.ndarray:
    """Step 9: uint8 (..., 3) under one exposure gain and (3,) white-balance gains."""
    return np.clip(rgb.astype(np.float32) * gain * balance, 0, 255).round().astype(np.uint8)


def image_motion(depth: np.ndarray, k: np.ndarray, cam_a: np.ndarray, cam_b: np.ndarray) -> np.ndarray:
    """The median image motion (2,) pixels (du, dv) of the scene points seen in depth (H, W)
    metres by camera pose cam_a (4, 4, camera -> world) when seen from cam_b."""
    v, u = np.nonzero(depth[::4, ::4] > 0)
    u, v = u * 4, v * 4
    if not len(u):
        return np.zeros(2)
    rays = np.stack([u, v, np.ones_like(u)], 1) @ np.linalg.inv(k).T
    rel = np.linalg.inv(cam_b) @ cam_a
    p = (rays * depth[v, u][:, None]) @ rel[:3, :3].T + rel[:3, 3]
    uv = p[:, :2] / np.maximum(p[:, 2:], 1e-6) * np.diag(k)[:2] + k[:2, 2]
    return np.median(uv - np.stack([u, v], 1), 0)


def motion_blur(rgb: np.ndarray, motion_px: np.ndarray) -> np.ndarray:
    """Step 10: uint8 (H, W, 3) smeared along motion_px (2,) pixels by a line kernel."""
    length = float(np.linalg.norm(motion_px))
    if length < 1.0:
        return rgb
    n = (int(np.ceil(length)) + 2) | 1  # odd, so that the line is centred, with a margin
    kernel = np.zeros((n, n), np.float32)
    c = (n - 1) / 2
    du, dv = motion_px / length
    for s in np.linspace(-length / 2, length / 2, 4 * n):
        kernel[int(np.rint(c + s * dv)), int(np.rint(c + s * du))] += 1.0
    return cv2.filter2D(rgb, -1, kernel / kernel.sum())
