"""Are self-produced labels good enough to learn from? (#27)

One category's training labels come from ``seqpose-align`` over its object-centric videos; the
same recipe is trained once on those labels and once on the videos' true labels, at an equal
number of steps, with the other categories' scenes labelled as they are; both are evaluated on
held-out scenes of all categories and on held-out videos of the category (true labels).

    python -m training.selflabel_experiment labels --videos VIDEOS --alignment VIDEOS/alignment.json \\
        --self data/sl/laptop_self --truth data/sl/laptop_truth
    python -m training.selflabel_experiment evaluate --test data/sl/test --category laptop \\
        --checkpoints runs/selflabel_laptop/final.safetensors runs/selflabel_laptop_truth/final.safetensors
    python -m training.selflabel_experiment test-labels --videos HELD_OUT_VIDEOS --out data/sl/laptop_test

The discovered canonical frame is the NOCS frame up to one rotation (its heading is arbitrary).
The self-labels are written in the NOCS frame by that one global rotation, the one the
alignment metric forgives (``selflabel.evaluate.global_rotation``, taken from truth.json by the
evaluator): so the held-out NOCS labels can score the trained network. Everything else of a
self-label (each video's rotation, the centre and metric size of its box) is the alignment's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from seqpose_core.categories import CLASS_NAMES, class_id, is_symmetric
from seqpose_core.checkpoint import load_model, read_meta
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import predict_subset
from seqpose_core.predictor import Predictor
from seqpose_core.selflabel.align import Similarity
from seqpose_core.selflabel.evaluate import global_rotation
from seqpose_core.selflabel.labels import object_in_world, write_video_labels
from seqpose_core.selflabel.reconstruct import build_cloud
from seqpose_core.selflabel.videos import ObjectVideo, read_category, read_truth_instance

METRICS = ("IoU25", "10deg10cm", "5deg5cm", "10deg", "10cm")  # the three, then context


def read_alignment(path: Path, videos: list[ObjectVideo]) -> list[Similarity]:
    """Each video's world -> canonical similarity from seqpose-align's JSON, in video order."""
    doc = json.loads(path.read_text())
    out = []
    for v in videos:
        m = np.asarray(doc["videos"][v.name]["world_to_canonical"], float)
        scale = float(np.cbrt(np.linalg.det(m[:3, :3])))
        out.append(Similarity(scale, m[:3, :3] / scale, m[:3, 3]))
    return out


def in_nocs_frame(found: list[Similarity], videos: list[ObjectVideo]) -> list[Similarity]:
    """The transforms turned by the one global rotation from the canonical to the true frame."""
    truth = np.stack([read_truth_instance(v.path)[0] for v in videos])
    sym = is_symmetric(class_id(videos[0].category))
    g = global_rotation(np.stack([t.rot for t in found]), truth, sym)
    return [Similarity(t.scale, g.T @ t.rot, g.T @ t.t) for t in found]


def write_labels(videos_dir: Path, alignment: Path, self_root: Path, truth_root: Path) -> int:
    """Both label sets of the videos (self-produced and true); returns the frames per set."""
    videos = read_category(videos_dir)
    transforms = in_nocs_frame(read_alignment(alignment, videos), videos)
    frames = 0
    for i, (video, transform) in enumerate(zip(videos, transforms, strict=True)):
        cls = class_id(video.category)
        write_video_labels(self_root, i + 1, video, object_in_world(build_cloud(video, None), transform), cls)
        frames += write_video_labels(truth_root, i + 1, video, read_truth_instance(video.path), cls)
    return frames


def write_test_labels(videos_dir: Path, root: Path) -> int:
    """Held-out videos' true labels as root/Real/test (the evaluate command's --test)."""
    videos = read_category(videos_dir)
    return sum(
        write_video_labels(root, i + 1, v, read_truth_instance(v.path), class_id(v.category), split="test")
        for i, v in enumerate(videos)
    )


def scores(checkpoint: Path, test: NocsSubset, multi_frame: bool) -> dict[str, dict[str, float]]:
    """Exact-IoU APs (%) per metric, per class and mean."""
    predictor = Predictor(load_model(checkpoint), "cpu", multi_frame, 0.05)
    summary = evaluate(predict_subset(predictor, test), iou_mode="exact").summary()
    return {m: {k: 100 * float(v) for k, v in summary[m].items()} for m in METRICS}


def table(rows: dict[str, dict], category: str) -> str:
    head = ["checkpoint", "steps", "mode"] + [f"{category} {m}" for m in METRICS] + ["mean 10deg10cm"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, r in rows.items():
        for mode in ("SF", "MF"):
            cells = [f"{r[mode][m][category]:.1f}" for m in METRICS] + [f"{r[mode]['10deg10cm']['mean']:.1f}"]
            lines.append(f"| {name} | {r['steps']} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.selflabel_experiment",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("labels", help="write the self-produced and the true labels of the videos")
    lab.add_argument("--videos", type=Path, required=True, help="one category's video folders")
    lab.add_argument("--alignment", type=Path, required=True, help="seqpose-align's JSON for them")
    lab.add_argument("--self", dest="self_root", type=Path, required=True)
    lab.add_argument("--truth", type=Path, required=True)
    held = sub.add_parser("test-labels", help="held-out videos' true labels as a test subset")
    held.add_argument("--videos", type=Path, required=True)
    held.add_argument("--out", type=Path, required=True)
    ev = sub.add_parser("evaluate", help="score checkpoints on held-out scenes, one category's row")
    ev.add_argument("--test", type=Path, required=True, help="dataset root with held-out real_test")
    ev.add_argument("--category", required=True, choices=CLASS_NAMES[1:])
    ev.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    ev.add_argument("--out", type=Path, help="also write the table and the figures (JSON) here")
    args = p.parse_args(argv)
    if args.command == "labels":
        n = write_labels(args.videos, args.alignment, args.self_root, args.truth)
        print(f"wrote {n} frames of self-produced labels to {args.self_root}, of true ones to {args.truth}")
        return 0
    if args.command == "test-labels":
        print(f"wrote {write_test_labels(args.videos, args.out)} held-out frames to {args.out}/Real/test")
        return 0
    test = NocsSubset(args.test, "real_test")
    rows = {}
    for c in args.checkpoints:
        steps = int(read_meta(c).get("step", 0))
        rows[str(c)] = {"steps": steps, "SF": scores(c, test, False), "MF": scores(c, test, True)}
    text = table(rows, args.category)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.md").write_text(text + "\n")
        (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
