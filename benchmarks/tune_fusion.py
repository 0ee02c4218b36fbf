"""Choose the fusion's settings on validation scenes (#46): the network runs once per mode, then each
setting fuses the same tracked estimates.

For each mode (SF: the network sees each frame alone; MF: with its memory), the Predictor tracks
without fusing, given the camera's motion; its estimates and the camera poses are kept. Each
``FusionConfig`` variant then fuses them as the Predictor would, and is scored: exact-IoU mean
APs (%), jitter, track ids per object at the node's threshold, and the share of tracked objects'
rotations within 10 degrees (per frame, each GT object's nearest same-class estimate).

Usage: python benchmarks/tune_fusion.py --data data/synth_val2 [--checkpoint FILE]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from seqpose_core.assets import load_or_random
from seqpose_core.data.frame import Frame
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.estimates import PoseEstimate
from seqpose_core.evaluation.jitter import pose_jitter
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import motion_since, to_result
from seqpose_core.evaluation.tracking import track_frame, tracking_metrics
from seqpose_core.geometry import rotation_error_deg
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, Predictor
from seqpose_core.tracking.fusion import FUSION, Fusion, FusionConfig

Run = list[tuple[Frame, list[PoseEstimate]]]
VARIANTS = {  # the settings compared on data/synth_val2 (docs/benchmarks.md); the first is the default
    "default": FUSION,
    "vote 15": replace(FUSION, vote_deg=15.0),
    "vote 40": replace(FUSION, vote_deg=40.0),
    "vote 180 (a mean)": replace(FUSION, vote_deg=180.0),
    "no hysteresis": replace(FUSION, keep_bonus=1.0),
    "gate 10 cm": replace(FUSION, move_gate_m=0.10),
    "re-id 0.5": replace(FUSION, reid_gate_rel=0.5),
    "re-id 1.5": replace(FUSION, reid_gate_rel=1.5),
    "window 6": replace(FUSION, window=6),
}


def tracked(model: object, subset: NocsSubset, memory: bool, threshold: float) -> Run:
    """Every frame with the tracker's estimates, camera motion given, nothing fused."""
    predictor = Predictor(model, "cpu", True, threshold, fusion=None, network_memory=memory)
    out = []
    for scene in subset.scenes:
        predictor.reset()
        previous = None
        for ref in scene:
            frame = subset.load(ref)
            step = predictor.step(frame.rgb, frame.k, frame.stamp, motion_since(previous, frame))
            out.append((frame, step.estimates))
            previous = frame
    return out


def fused(run: Run, classes: object, cfg: FusionConfig | None) -> Run:
    out, fusion, scene = [], Fusion(classes, cfg or FUSION), None
    for frame, estimates in run:
        if frame.scene != scene:
            fusion.reset()
            scene = frame.scene
        out.append(
            (frame, estimates if cfg is None else fusion.update(estimates, frame.camera_pose, frame.stamp))
        )
    return out


def rotation_share(run: Run, classes: object) -> float:
    """Share (%) of GT objects whose nearest same-class estimate (within 10 cm) is within 10 degrees."""
    hits, total = 0, 0
    for frame, estimates in run:
        o = frame.objects
        for i in range(len(o)):
            near = [
                e
                for e in estimates
                if e.class_id == o.class_ids[i] and np.linalg.norm(e.translation - o.translations[i]) < 0.1
            ]
            if not near:
                continue
            e = min(near, key=lambda e: np.linalg.norm(e.translation - o.translations[i]))
            sym = classes.is_symmetric(int(o.class_ids[i]), bool(o.handle_visible[i]))
            err = rotation_error_deg(e.rotation[None], o.rotations[i][None], np.array([sym]))[0, 0]
            hits, total = hits + (err <= 10), total + 1
    return 100 * hits / max(total, 1)


def score(run: Run, subset: NocsSubset, classes: object) -> dict:
    results = [to_result(f, e, f"{subset.spec.images}/{f.scene}/{f.index:04d}") for f, e in run]
    s = evaluate(results, iou_mode="exact", categories=classes).summary()
    shown = [
        track_frame(f.scene, f.objects, [x for x in e if x.score >= DEFAULT_SCORE_THRESHOLD]) for f, e in run
    ]
    return {
        **{m: 100 * s[m]["mean"] for m in ("IoU25", "IoU50", "10deg10cm", "5deg5cm")},
        "rot10 %": rotation_share(run, classes),
        "jitter": pose_jitter(results),
        "ids/object": tracking_metrics(shown).get("ids_per_object", float("nan")),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tune_fusion.py", description=__doc__)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--checkpoint")
    p.add_argument("--score-threshold", type=float, default=0.05)
    args = p.parse_args(argv)
    model, _ = load_or_random(args.checkpoint)
    subset, classes = NocsSubset(args.data, "real_test"), model.cfg.classes
    head = ("mode", "fusion", "IoU25", "IoU50", "10deg10cm", "5deg5cm", "rot10 %", "jitter cm", "jitter deg")
    print("| " + " | ".join(head) + " | ids/object |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, memory in (("SF", False), ("MF", True)):
        run = tracked(model, subset, memory, args.score_threshold)
        for name, cfg in {"none": None, **VARIANTS}.items():
            r = score(fused(run, classes, cfg), subset, classes)
            j = r["jitter"]
            cells = [f"{r[k]:.1f}" for k in ("IoU25", "IoU50", "10deg10cm", "5deg5cm", "rot10 %")]
            cells += [f"{j['translation_cm']:.2f}", f"{j['rotation_deg']:.2f}", f"{r['ids/object']:.2f}"]
            print(f"| {mode} | {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
