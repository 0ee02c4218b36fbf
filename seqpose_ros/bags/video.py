"""``seqpose-video``: a recorded orbit around one object (Image, CameraInfo and TF) as one
object-centric video folder, the input of ``seqpose-align``.

On a robot, an arm circles the object with its wrist camera while ``ros2 bag record`` keeps the
camera's images, camera info, aligned depth and ``/tf`` (+ ``/tf_static``). TF gives the
camera's pose in a frame fixed in the world (the arm's ``base_link``, ``odom``). Each keyframe
(the camera turned or moved far enough since the last one) is written with that pose, its
depth (16UC1 millimetres or 32FC1 metres; an RGB-only bag gives none) and the camera's
intrinsics, and the video records the fixed frame's up direction. Only keyframes are held in
memory, so a long recording costs no more than its views. The
video has no masks: ``seqpose-align`` finds the object from depth and geometry, or with RGB
only from the network's heads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from seqpose_core.categories import Category
from seqpose_core.inputs import InputError, check_intrinsics
from seqpose_core.selflabel.keyframes import KeyframeConfig, KeyframeSelector
from seqpose_core.selflabel.videos import write_video
from seqpose_ros.bags.bag import IMAGE, INFO, BagError, read_camera_bag, stamp_ns, typestore
from seqpose_ros.node import pixels
from seqpose_ros.node.converters import ConversionError, to_stamped_transform
from seqpose_ros.node.tf_buffer import TransformBuffer, TransformUnavailable

TF_TOPICS = ("/tf", "/tf_static")
DEPTH_MATCH = 0.02  # seconds: a depth image belongs to the colour image nearest in time within this
PROGRESS_EVERY = 150  # images: a progress line every 10 s of a 15 Hz recording
K_TOLERANCE = 1e-6  # relative: the intrinsics must not change within one recording


def bag_topics(bag: Path) -> dict[str, str]:
    """Topic -> message type of a bag; a path that is not a ROS 2 bag is a BagError naming it."""
    if not bag.exists():
        raise BagError(f"{bag}: no such bag")
    try:
        with Reader(bag) as reader:
            return {c.topic: c.msgtype for c in reader.connections}
    except Exception as exc:  # rosbags raises its own ReaderError, or OSError, for what is not a bag
        raise BagError(f"{bag}: not a readable ROS 2 bag ({exc.__class__.__name__}: {exc})") from exc


def _one(candidates: list[str], bag: Path, what: str, flag: str) -> str | None:
    """The single candidate topic; several: a BagError naming them and the flag that chooses."""
    if len(candidates) > 1:
        raise BagError(f"{bag}: several {what} topics could be meant: {candidates}; choose one with {flag}")
    return candidates[0] if candidates else None


def image_topics(bag: Path, image: str | None, depth: str | None) -> tuple[str, str | None]:
    """The colour and depth Image topics: the given ones, else the one without / with "depth"
    in its name (no depth topic: an RGB-only recording). Where several could be meant (a
    RealSense bag recorded with -a: infra-red images, aligned and unaligned depth), refuse and
    name them."""
    topics = sorted(t for t, kind in bag_topics(bag).items() if kind == IMAGE)
    for topic in (image, depth):
        if topic is not None and topic not in topics:
            raise BagError(f"{bag}: no Image topic {topic}; the bag's are {topics}")
    colour = image or _one([t for t in topics if "depth" not in t], bag, "colour Image", "--image-topic")
    if colour is None:
        raise BagError(f"{bag}: no colour Image topic (have {topics}); name it with --image-topic")
    candidates = [t for t in topics if "depth" in t and t != colour]
    aligned = [t for t in candidates if "align" in t]  # depth registered to the colour camera
    return colour, depth or _one(aligned or candidates, bag, "depth Image", "--depth-topic")


def info_topic(bag: Path, colour: str, info: str | None) -> str:
    """The colour camera's CameraInfo topic: the given one, else the one beside the colour images
    (same namespace), else the only one; several that could be meant are refused by name."""
    infos = sorted(t for t, kind in bag_topics(bag).items() if kind == INFO)
    if info is not None:
        if info not in infos:
            raise BagError(f"{bag}: no CameraInfo topic {info}; the bag's are {infos}")
        return info
    beside = [t for t in infos if t.rsplit("/", 1)[0] == colour.rsplit("/", 1)[0]]
    found = _one(beside or infos, bag, f"CameraInfo (for {colour})", "--info-topic")
    if found is None:
        raise BagError(f"{bag}: no CameraInfo topic for {colour}")
    return found


def _decode_depth(bag: Path, topic: str, msg: object) -> np.ndarray:
    try:
        return pixels.decode_depth(
            msg.data, msg.encoding, msg.width, msg.height, msg.step, bool(msg.is_bigendian)
        )
    except pixels.PixelError as exc:
        raise BagError(f"{bag}: topic {topic}: {exc}") from exc


def depth_stamps(bag: Path, topic: str) -> np.ndarray:
    """The stamps (N,) seconds of a depth topic's images, in bag order; no image is kept."""
    ts, stamps = typestore(), []
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(connections=conns):
            stamps.append(stamp_ns(ts.deserialize_cdr(raw, conn.msgtype).header) * 1e-9)
    return np.array(stamps)


def read_depths(bag: Path, topic: str, wanted: set[int]) -> dict[int, np.ndarray]:
    """The depth images (metres, (H, W)) of a topic at the bag-order indices ``wanted``."""
    ts, out = typestore(), {}
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for i, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
            if i in wanted:
                out[i] = _decode_depth(bag, topic, ts.deserialize_cdr(raw, conn.msgtype))
    return out


def depth_index(stamps: np.ndarray, stamp: float) -> int | None:
    """The index of the depth image nearest in time to stamp within DEPTH_MATCH, else None."""
    if not len(stamps):
        return None
    i = int(np.abs(stamps - stamp).argmin())
    return i if abs(stamps[i] - stamp) <= DEPTH_MATCH else None


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


def check_k(bag: Path, topic: str, k: np.ndarray, shape: tuple[int, ...]) -> None:
    """A CameraInfo's K must be a pinhole matrix for the images (a zero K is a driver's fault)."""
    try:
        check_intrinsics(k, shape[1], shape[0])
    except InputError as exc:
        raise BagError(f"{bag}: topic {topic}: {exc}") from exc


def same_k(bag: Path, k: np.ndarray | None, new: np.ndarray, stamp: float) -> np.ndarray:
    """The recording's intrinsics: every frame's must be the first frame's."""
    if k is not None and not np.allclose(new, k, rtol=K_TOLERANCE, atol=0):
        raise BagError(
            f"{bag}: the camera info changes at t={stamp:.3f} s ({np.round(new, 3).tolist()} after"
            f" {np.round(k, 3).tolist()}): record one camera setting per video"
        )
    return new


def bag_to_video(
    bag: Path,
    out: Path,
    category: str,
    fixed_frame: str,
    every: int = 1,
    up: np.ndarray | None = None,
    topics: tuple[str | None, str | None, str | None] = (None, None, None),
    keyframe: KeyframeConfig | None = None,
) -> tuple[int, bool]:
    """The bag's keyframes (``seqpose_core.selflabel.keyframes``: a camera turned or moved far
    enough since the last one; ``every``: look at every n-th image only), each with its
    camera -> fixed_frame pose and its aligned depth -> a video folder; up: the fixed frame's up
    direction, written for the alignment (None: unknown); topics: the colour, depth and
    CameraInfo topics (None: found by name, ``image_topics`` and ``info_topic``). Images whose
    pose TF cannot give, or whose depth is missing, are skipped. Only keyframes are held in
    memory. Returns the frames written and whether they have depth."""
    colour, depth_topic = image_topics(bag, *topics[:2])
    info = info_topic(bag, colour, topics[2])
    tf = read_tf(bag)
    stamps = depth_stamps(bag, depth_topic) if depth_topic else np.zeros(0)
    select = KeyframeSelector(keyframe or KeyframeConfig())
    rgbs, poses, depth_ids, k, seen = [], [], [], None, 0
    for i, frame in enumerate(read_camera_bag(bag, image_topic=colour, info_topic=info)):
        if i == 0:
            check_k(bag, info, frame.k, frame.rgb.shape)
        seen = i + 1
        if seen % PROGRESS_EVERY == 0:
            print(f"{bag}: {seen} images read, {len(rgbs)} keyframes", file=sys.stderr, flush=True)
        if i % every:
            continue
        d = depth_index(stamps, frame.stamp) if depth_topic else None
        if depth_topic and d is None:
            continue
        try:
            pose = tf.lookup(fixed_frame, frame.frame_id, frame.stamp)  # camera -> fixed
        except TransformUnavailable:
            continue
        if not select(pose):
            continue
        poses.append(pose)
        rgbs.append(frame.rgb)
        depth_ids.append(d)
        k = same_k(bag, k, frame.k, frame.stamp)
    depth = _kept_depths(bag, depth_topic, depth_ids) if depth_topic else None
    if depth is not None:
        same = [i for i, d in enumerate(depth) if d.shape == rgbs[i].shape[:2]]
        rgbs, poses, depth = [rgbs[i] for i in same], [poses[i] for i in same], [depth[i] for i in same]
    if not rgbs:
        raise BagError(
            f"{bag}: no image of {colour} has a transform to {fixed_frame!r} in TF"
            + (
                f" and a depth image of {depth_topic} of its size within {DEPTH_MATCH} s"
                if depth_topic
                else ""
            )
        )
    write_video(out, category, k, np.stack(poses), rgbs, depth, None, world_up=up)
    print(f"{bag}: {seen} images read, {len(rgbs)} keyframes written", file=sys.stderr, flush=True)
    return len(rgbs), depth is not None


def _kept_depths(bag: Path, topic: str, ids: list[int]) -> list[np.ndarray]:
    """The depth images of topic at the bag-order indices ids, in that order."""
    images = read_depths(bag, topic, set(ids))
    return [images[i] for i in ids]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqpose-video", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("bag", type=Path, help="a bag with Image, CameraInfo and /tf")
    p.add_argument("--out", type=Path, required=True, help="the video folder to write")
    p.add_argument(
        "--category",
        required=True,
        help="the object's category: a NOCS class (bottle, ..., mug) or a new name (lower-case, digits, _)",
    )
    p.add_argument("--fixed-frame", required=True, help="a TF frame fixed in the world: base_link, odom")
    p.add_argument("--every", type=int, default=1, help="look at every n-th image only")
    p.add_argument(
        "--keyframe-deg",
        type=float,
        default=KeyframeConfig.min_turn_deg,
        help="a keyframe each time the camera has turned this far (degrees; 0 and --keyframe-move 0:"
        " every image)",
    )
    p.add_argument(
        "--keyframe-move",
        type=float,
        default=KeyframeConfig.min_move,
        help="...or moved this far (metres) since the last keyframe",
    )
    p.add_argument("--image-topic", help="the colour images (default: the Image topic without 'depth')")
    p.add_argument(
        "--depth-topic",
        help="aligned depth, 16UC1 mm or 32FC1 m (default: the Image topic with 'depth', aligned first)",
    )
    p.add_argument("--info-topic", help="the colour camera's CameraInfo (default: the one beside the images)")
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
        Category(args.category)  # a name a model, a TF frame and a file can carry
        up = None if args.no_up else np.array(args.up)
        topics = (args.image_topic, args.depth_topic, args.info_topic)
        keyframe = KeyframeConfig(args.keyframe_deg, args.keyframe_move)
        n, depth = bag_to_video(
            args.bag, args.out, args.category, args.fixed_frame, max(1, args.every), up, topics, keyframe
        )
    except (BagError, OSError, ValueError) as exc:  # BagError is a ValueError; a bad category name too
        print(f"seqpose-video: error: {exc}", file=sys.stderr)
        return 2
    kind = "RGB-D" if depth else "RGB-only (no depth topic)"
    print(f"wrote {n} {kind} frames of a {args.category} video to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
