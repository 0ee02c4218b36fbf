"""Replay evaluation of a bag: offline (Predictor, no DDS) or live (the node, through the graph).

Both produce the NOCS report (metrics, curves), tracking metrics of the published boxes
(MOTA, IDF1, ID switches, boxes and ids per object), per-frame latency statistics, the
count of dropped frames and annotated frames (predictions red, ground truth green).

    seqpose-replay BAG --out DIR [--mode offline|live] [--checkpoint CKPT] [--rate 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from seqpose_core.assets import load_or_random, model_classes, model_path
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import DEFAULT_SCORE_THRESHOLD, Predictor
from seqpose_ros.bags.bag import WORLD_FRAME, BagError, read_camera_bag
from seqpose_ros.bags.report import FrameRecord, Replay, write_replay_report
from seqpose_ros.bags.video import TF_TOPICS, read_tf
from seqpose_ros.node.tf_buffer import TransformUnavailable


def model_name(checkpoint: str | None) -> str:
    """The model a replay runs, for its report: a path, or RANDOM WEIGHTS said plainly."""
    path = model_path(checkpoint)
    return str(path) if path else "RANDOM WEIGHTS (no trained model ships in this checkout)"


def camera_poses(bag: Path, fixed_frame: str) -> Callable[[str, float], np.ndarray | None]:
    """The camera's pose in ``fixed_frame`` from the bag's /tf at an image's frame and stamp (None
    where TF cannot give it, and always for '' or a bag without /tf)."""
    with Reader(bag) as reader:
        has_tf = any(c.topic in TF_TOPICS for c in reader.connections)
    if not fixed_frame or not has_tf:
        return lambda frame, stamp: None
    tf = read_tf(bag)

    def pose(frame: str, stamp: float) -> np.ndarray | None:
        try:
            return tf.lookup(fixed_frame, frame, stamp)
        except TransformUnavailable:
            return None

    return pose


def replay_offline(
    bag: Path, model: SeqPose, multi_frame: bool, score_threshold: float, fixed_frame: str = WORLD_FRAME
) -> Replay:
    """fixed_frame: the camera's poses in it, from the bag's /tf, move the memory and tracks and
    fuse the objects, as the node does with the same parameter."""
    predictor = Predictor(model, "cpu", multi_frame=multi_frame, score_threshold=score_threshold)
    pose_at = camera_poses(bag, fixed_frame)
    records = []
    for f in read_camera_bag(bag):
        start = time.perf_counter()
        estimates = predictor.step(f.rgb, f.k, f.stamp, camera_pose=pose_at(f.frame_id, f.stamp)).estimates
        records.append(FrameRecord(f.stamp, estimates, f.gt, time.perf_counter() - start))
    return Replay("offline", records, len(records))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqpose-replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("bag", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mode", choices=("offline", "live"), default="offline")
    p.add_argument("--checkpoint", default=None, help="model (.safetensors); default: the embedded model")
    p.add_argument("--single-frame", action="store_true", help="disable the temporal memory")
    p.add_argument("--score-threshold", type=float, default=DEFAULT_SCORE_THRESHOLD)
    p.add_argument("--rate", type=float, default=1.0, help="live: playback rate (0: as fast as possible)")
    p.add_argument(
        "--fixed-frame",
        default=WORLD_FRAME,
        help="a frame fixed in the world on the bag's /tf: the camera's poses in it move the memory and"
        " fuse the objects, as the node's fixed_frame does ('' for none; default: %(default)s,"
        " the frame seqpose-bag writes)",
    )
    args = p.parse_args(argv)
    name = model_name(args.checkpoint)
    try:
        if args.mode == "offline":  # live replay: the node loads the model
            model, _ = load_or_random(args.checkpoint)
            replay = replay_offline(
                args.bag, model, not args.single_frame, args.score_threshold, args.fixed_frame
            )
        else:
            from seqpose_ros.bags.live import replay_live

            replay = replay_live(
                args.bag,
                args.checkpoint,
                not args.single_frame,
                args.score_threshold,
                args.rate,
                fixed_frame=args.fixed_frame,
            )
    except BagError as exc:
        print(f"seqpose-replay: error: {exc}", file=sys.stderr)
        return 2
    summary = write_replay_report(args.bag, replay, args.out, name, model_classes(args.checkpoint))
    print(json.dumps({k: v for k, v in summary.items() if k != "notes"}, indent=1))
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
