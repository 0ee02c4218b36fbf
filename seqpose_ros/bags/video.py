"""``seqpose-video``: a recorded orbit around one object (Image, CameraInfo and TF) as one
object-centric video folder, the input of ``seqpose-align``.

On a robot, an arm circles the object with its wrist camera while ``ros2 bag record`` keeps the
camera's images, camera info and ``/tf`` (+ ``/tf_static``). TF gives the camera's pose in a
frame fixed in the world (the arm's ``base_link``, ``odom``); each kept image is written with
that pose. The video carries no depth and no masks: align it with ``seqpose-align --depth
network``, which takes both from the network's dense heads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from seqpose_core.categories import class_id
from seqpose_core.selflabel.videos import write_video
from seqpose_ros.bags.bag import BagError, read_camera_bag, typestore
from seqpose_ros.node.converters import ConversionError, to_stamped_transform
from seqpose_ros.node.tf_buffer import TransformBuffer, TransformUnavailable

TF_TOPICS = ("/tf", "/tf_static")


def read_tf(bag: Path) -> TransformBuffer:
    """Every transform of the bag's /tf and /tf_static, kept for the whole recording."""
    buffer = TransformBuffer(cache_seconds=1e9)
    ts = typestore()
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic in TF_TOPICS]
        if not conns:
            raise BagError(
                f"{bag}: no /tf topic: the camera's poses are needed (ros2 bag record /tf /tf_static)"
            )
        for conn, _, raw in reader.messages(connections=conns):
            for t in ts.deserialize_cdr(raw, conn.msgtype).transforms:
                try:
                    buffer.add(to_stamped_transform(t), static=conn.topic == "/tf_static")
                except ConversionError as exc:
                    raise BagError(f"{bag}: {conn.topic}: {exc}") from exc
    return buffer


def bag_to_video(
    bag: Path, out: Path, category: str, fixed_frame: str, every: int = 1, up: np.ndarray | None = None
) -> int:
    """Every ``every``-th image of the bag with its camera -> fixed_frame pose -> a video folder;
    up: the fixed frame's up direction, written for the alignment's up prior (None: unknown).
    Images whose pose TF cannot give are skipped. Returns the frames written."""
    tf = read_tf(bag)
    rgbs, poses, k = [], [], None
    for i, frame in enumerate(read_camera_bag(bag)):
        if i % every:
            continue
        try:
            poses.append(tf.lookup(fixed_frame, frame.frame_id, frame.stamp))  # camera -> fixed
        except TransformUnavailable:
            continue
        rgbs.append(frame.rgb)
        k = frame.k if k is None else k
    if not rgbs:
        raise BagError(f"{bag}: no image has a transform from its frame to {fixed_frame!r} in TF")
    write_video(out, category, k, np.stack(poses), rgbs, None, None, world_up=up)
    return len(rgbs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqpose-video", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("bag", type=Path, help="a bag with Image, CameraInfo and /tf")
    p.add_argument("--out", type=Path, required=True, help="the video folder to write")
    p.add_argument("--category", required=True, help="the object's category (bottle, ..., mug)")
    p.add_argument("--fixed-frame", required=True, help="a TF frame fixed in the world: base_link, odom")
    p.add_argument("--every", type=int, default=1, help="keep every n-th image")
    p.add_argument(
        "--up",
        type=float,
        nargs=3,
        default=[0.0, 0.0, 1.0],
        metavar=("X", "Y", "Z"),
        help="the fixed frame's up direction (REP-103 base_link, odom, map: 0 0 1)",
    )
    p.add_argument("--no-up", action="store_true", help="the object may not stand upright: no up prior")
    args = p.parse_args(argv)
    try:
        class_id(args.category)
        up = None if args.no_up else np.array(args.up)
        n = bag_to_video(args.bag, args.out, args.category, args.fixed_frame, max(1, args.every), up)
    except (BagError, OSError, ValueError) as exc:  # BagError is a ValueError; an unknown category too
        print(f"seqpose-video: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} frames of a {args.category} video to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
