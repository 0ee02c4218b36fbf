"""Which of a real camera's faults makes a self-labelled box too large, and what the pose
refinement takes back (#47).

Per recording (an orbit at a real arm's pace, keyframes as seqpose-video keeps them) and per
fault of ``seqpose_core/synth/sensor.py`` switched on alone, then all together: the object is
segmented from the faulty depth (``geometry_masks``), its surface fused and cleaned as the
labels do it (``clean_surface``), and the box measured in the *true* object frame, so that no
alignment error enters. Printed: the median over recordings of the box's largest horizontal
relative size error (%), through TF's poses and through the refined ones (``refine_poses``).

Usage: python benchmarks/label_faults.py [--category mug] [--recordings 4] [--seconds 30]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from seqpose_core.selflabel.keyframes import keyframes
from seqpose_core.selflabel.reconstruct import SURFACE_FRAMES, SURFACE_VOXEL, _backproject, clean_surface
from seqpose_core.selflabel.refine import refine_poses
from seqpose_core.selflabel.segment import geometry_masks
from seqpose_core.selflabel.videos import ObjectVideo
from seqpose_core.synth.orbit import BASE_UP, RATE_HZ, Recording, make_recording, with_sensor
from seqpose_core.synth.sensor import REALISTIC, SensorConfig
from seqpose_core.synth.shapes import GENERATOR_CLASSES

NONE = SensorConfig(
    axial_noise=0.0,
    bias_m=0.0,
    hole_share=0.0,
    edge_jump_m=1e9,
    quantisation_m=1e-9,
    misregistration_px=0,
    hand_eye_m=0.0,
    hand_eye_deg=0.0,
    joint_m=0.0,
    joint_deg=0.0,
    time_offset_s=0.0,
    white_balance=0.0,
    gain=(1.0, 1.0),
    exposure_s=0.0,
)
FAULTS = {
    "none": NONE,
    "depth noise": replace(NONE, axial_noise=REALISTIC.axial_noise),
    "bias": replace(NONE, bias_m=REALISTIC.bias_m),
    "holes and edges": replace(NONE, hole_share=REALISTIC.hole_share, edge_jump_m=REALISTIC.edge_jump_m),
    "misregistration": replace(NONE, misregistration_px=REALISTIC.misregistration_px),
    "hand-eye": replace(NONE, hand_eye_m=REALISTIC.hand_eye_m, hand_eye_deg=REALISTIC.hand_eye_deg),
    "hand-eye rotation": replace(NONE, hand_eye_deg=REALISTIC.hand_eye_deg),
    "hand-eye translation": replace(NONE, hand_eye_m=REALISTIC.hand_eye_m),
    "all (realistic)": REALISTIC,
}


def size_error(rec: Recording, cams: np.ndarray, truth: Recording) -> float:
    """The largest horizontal relative size error of the cleaned surface's box, true frame."""
    video = ObjectVideo(Path("v"), rec.category, rec.k, cams, rec.rgb, rec.depth, None, BASE_UP)
    masks, _ = geometry_masks(video, rec.depth, BASE_UP)
    parts = [_backproject(d, m, rec.k, p, 1) for d, m, p in zip(rec.depth, masks, cams, strict=True)]
    frames = np.concatenate([np.full(len(p), f) for f, p in enumerate(parts)])
    surface = clean_surface(np.concatenate(parts), frames, SURFACE_VOXEL, SURFACE_FRAMES)
    to_object = np.linalg.inv(np.array(truth.truth["object_to_world"]))
    local = surface @ to_object[:3, :3].T + to_object[:3, 3]
    extent = np.percentile(local, 99.8, 0) - np.percentile(local, 0.2, 0)
    size = np.array(truth.truth["size"])
    return float(100 * np.abs((extent - size) / size)[[0, 2]].max())


def subset(rec: Recording, keep: list[int]) -> Recording:
    return replace(rec, rgb=rec.rgb[keep], depth=rec.depth[keep], wrist_to_base=rec.wrist_to_base[keep])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--category", default="mug")
    p.add_argument("--recordings", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=300)
    args = p.parse_args()
    cls, frames = GENERATOR_CLASSES.id(args.category), round(args.seconds * RATE_HZ)
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in FAULTS}
    for r in range(args.recordings):
        ideal = make_recording(cls, np.random.default_rng([args.seed, r]), frames, (120, 160))
        for name, cfg in FAULTS.items():
            rec = with_sensor(ideal, ideal.cam_to_base, np.random.default_rng([args.seed, r, 1]), cfg)
            rec = subset(rec, keyframes(rec.cam_to_base))
            video = ObjectVideo(
                Path("v"), rec.category, rec.k, rec.cam_to_base, rec.rgb, rec.depth, None, BASE_UP
            )
            refined = refine_poses(video, rec.depth).cam_to_world
            rows[name].append((size_error(rec, rec.cam_to_base, ideal), size_error(rec, refined, ideal)))
        print(f"recording {r + 1} of {args.recordings} done", flush=True)
    print(
        f"\n{args.category}, {args.recordings} recordings of {args.seconds:g} s:"
        " box size error %, median (worst)\n"
    )
    print("| fault | TF's poses | refined poses |\n|---|---:|---:|")
    for name, values in rows.items():
        tf, ref = np.array(values).T
        print(f"| {name} | {np.median(tf):.1f} ({tf.max():.1f}) | {np.median(ref):.1f} ({ref.max():.1f}) |")


if __name__ == "__main__":
    main()
