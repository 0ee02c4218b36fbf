"""ROS 2 bags (MCAP by default) with rosbags, no ROS install needed.

``write_nocs_bag`` turns a NOCS-layout sequence (REAL or synthetic) into a bag with
sensor_msgs/Image, sensor_msgs/CameraInfo and the ground truth as seqpose/FrameAnnotations,
and, where the scene knows its camera poses (synthetic scenes), /tf from ``world`` to the
camera's optical frame at each image's stamp (for the node's ``fixed_frame: world``).
``read_camera_bag`` reads any bag with image and camera_info topics, pairing them by stamp.
Errors name the bag and the topic.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from seqpose_core.data.frame import Objects
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.data.nocs_io import read_classes
from seqpose_core.geometry import matrix_to_quaternion, quaternion_to_matrix
from seqpose_ros.node import pixels
from seqpose_ros.node.converters import camera_info_fields, image_fields

IMAGE, INFO, GT = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "seqpose/msg/FrameAnnotations"
TF = "tf2_msgs/msg/TFMessage"
DEFAULT_TOPICS = {
    "image": "/camera/color/image_raw",
    "camera_info": "/camera/color/camera_info",
    "ground_truth": "/seqpose/ground_truth",
    "tf": "/tf",
}
FRAME_ID = "camera_color_optical_frame"
WORLD_FRAME = "world"  # the synthetic scenes' table frame, parent of the camera on /tf
BASE_TIME = 1_700_000_000  # bag stamps: this epoch second plus the frame's time in its video


class BagError(ValueError):
    """A bag that lacks what replay needs; the message names the bag and topic."""


def _msg_folder(package: str) -> Path:
    """A package's msg/ folder: the ament index's (a ROS install), else the source tree's
    (this project) or the environment's share/ (the pip wheels install it there)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        folder = Path(get_package_share_directory(package)) / "msg"
        if folder.is_dir():
            return folder
    except (ImportError, LookupError, ValueError, OSError):  # no ament index
        pass
    if package == "seqpose":
        return Path(__file__).resolve().parents[2] / "msg"
    return Path(sys.prefix) / "share" / package / "msg"


# Message types that rosbags' Kilted store lacks: the project's own and the node's output.
EXTRA_TYPES = {
    "seqpose": ("ObjectAnnotation", "FrameAnnotations", "FrameStatus", "FusedObject", "FusedObjects"),
    "vision_msgs": (
        "ObjectHypothesis",
        "ObjectHypothesisWithPose",
        "BoundingBox3D",
        "Detection3D",
        "Detection3DArray",
    ),
}


def typestore() -> object:
    """Kilted's types plus the project's messages and vision_msgs' 3D detections."""
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for package, names in EXTRA_TYPES.items():
        folder = _msg_folder(package)
        for name in names:
            types.update(get_types_from_msg((folder / f"{name}.msg").read_text(), f"{package}/msg/{name}"))
    store.register(types)
    return store


def header_msg(ts: object, stamp_ns: int, frame_id: str) -> object:
    t = ts.types["builtin_interfaces/msg/Time"](
        sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000
    )
    return ts.types["std_msgs/msg/Header"](stamp=t, frame_id=frame_id)


def image_msg(ts: object, header: object, rgb: np.ndarray, encoding: str = "rgb8") -> object:
    fields = image_fields(rgb, encoding)
    fields["data"] = np.frombuffer(fields["data"], np.uint8)  # rosbags serialises numpy arrays
    return ts.types[IMAGE](header=header, **fields)


def info_msg(ts: object, header: object, k: np.ndarray, hw: tuple[int, int]) -> object:
    roi = ts.types["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    fields = camera_info_fields(k, width=hw[1], height=hw[0])
    return ts.types[INFO](header=header, binning_x=0, binning_y=0, roi=roi, **fields)


def _annotations(ts: object, header: object, o: Objects, names: tuple[str, ...]) -> object:
    geo = ts.types
    objs = []
    for i in range(len(o)):
        q = matrix_to_quaternion(o.rotations[i])
        t = o.translations[i]
        pose = geo["geometry_msgs/msg/Pose"](
            position=geo["geometry_msgs/msg/Point"](x=float(t[0]), y=float(t[1]), z=float(t[2])),
            orientation=geo["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3]),
        )
        size = geo["geometry_msgs/msg/Vector3"](
            x=float(o.sizes[i][0]), y=float(o.sizes[i][1]), z=float(o.sizes[i][2])
        )
        objs.append(
            geo["seqpose/msg/ObjectAnnotation"](
                class_id=int(o.class_ids[i]),
                class_name=names[int(o.class_ids[i])],
                instance_id=int(o.instance_ids[i]),
                pose=pose,
                size=size,
                handle_visible=bool(o.handle_visible[i]),
            )
        )
    return geo[GT](header=header, objects=objs)


def tf_msg(ts: object, header: object, pose: np.ndarray, child: str) -> object:
    """One TFMessage: header.frame_id -> child, p_parent = pose @ p_child."""
    q, t = matrix_to_quaternion(pose[:3, :3]), pose[:3, 3]
    transform = ts.types["geometry_msgs/msg/Transform"](
        translation=ts.types["geometry_msgs/msg/Vector3"](x=t[0], y=t[1], z=t[2]),
        rotation=ts.types["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3]),
    )
    stamped = ts.types["geometry_msgs/msg/TransformStamped"](
        header=header, child_frame_id=child, transform=transform
    )
    return ts.types[TF](transforms=[stamped])


def write_nocs_bag(root: str | Path, subset: str, scene: str, out: str | Path, mcap: bool = True) -> int:
    """One scene of a NOCS-layout subset -> a bag (image, camera_info, ground truth); returns frames."""
    data = NocsSubset(root, subset)
    refs = next((s for s in data.scenes if s[0].scene.name == scene), None)
    if refs is None:
        raise BagError(
            f"{root}/{data.spec.images}: no scene {scene!r} (have {[s[0].scene.name for s in data.scenes]})"
        )
    names = read_classes(root).names  # NOCS's, or the root's classes.yaml (a seventh family)
    ts = typestore()
    plugin = StoragePlugin.MCAP if mcap else StoragePlugin.SQLITE3
    with Writer(Path(out), version=9, storage_plugin=plugin) as writer:
        conns = {
            kind: writer.add_connection(DEFAULT_TOPICS[key], kind, typestore=ts)
            for key, kind in (("image", IMAGE), ("camera_info", INFO), ("ground_truth", GT))
        }
        if refs[0].file("camera_pose.txt").is_file():  # synthetic scenes know their camera poses
            conns[TF] = writer.add_connection(DEFAULT_TOPICS["tf"], TF, typestore=ts)
        for ref in refs:
            frame = data.load(ref)
            stamp = BASE_TIME * 1_000_000_000 + round(frame.stamp * 1e9)
            header = header_msg(ts, stamp, FRAME_ID)
            if TF in conns:  # first, so that the node has it when the image arrives
                msg = tf_msg(ts, header_msg(ts, stamp, WORLD_FRAME), frame.camera_pose, FRAME_ID)
                writer.write(conns[TF], stamp, ts.serialize_cdr(msg, TF))
            for kind, msg in (
                (INFO, info_msg(ts, header, frame.k, frame.size)),
                (IMAGE, image_msg(ts, header, frame.rgb)),
                (GT, _annotations(ts, header, frame.objects, names)),
            ):
                writer.write(conns[kind], stamp, ts.serialize_cdr(msg, kind))
    return len(refs)


@dataclass
class BagFrame:
    """One image of a bag with its camera info (and ground truth when the bag carries it)."""

    stamp: float  # seconds, from the image header
    frame_id: str
    rgb: np.ndarray
    k: np.ndarray
    gt: Objects | None
    handle_visible: np.ndarray | None = None


def _rgb(msg: object, topic: str, bag: Path) -> np.ndarray:
    try:
        return pixels.decode(msg.data, msg.encoding, msg.width, msg.height, msg.step)
    except pixels.PixelError as exc:
        raise BagError(f"{bag}: topic {topic}: {exc}") from exc


def bag_objects(msg: object) -> Objects:
    """A ground-truth annotations message -> Objects."""
    o = msg.objects
    quat = [
        [a.pose.orientation.x, a.pose.orientation.y, a.pose.orientation.z, a.pose.orientation.w] for a in o
    ]
    return Objects(
        class_ids=np.array([a.class_id for a in o], dtype=np.int64),
        rotations=np.array([quaternion_to_matrix(np.array(q)) for q in quat]).reshape(len(o), 3, 3),
        translations=np.array([[a.pose.position.x, a.pose.position.y, a.pose.position.z] for a in o]).reshape(
            -1, 3
        ),
        sizes=np.array([[a.size.x, a.size.y, a.size.z] for a in o]).reshape(-1, 3),
        instance_ids=np.array([a.instance_id for a in o], dtype=np.int64),
        handle_visible=np.array([a.handle_visible for a in o], dtype=bool),
    )


def pick_topic(topics: dict[str, str], kind: str, wanted: str | None, bag: Path, what: str) -> str | None:
    """The topic of ``kind`` (the wanted one, else the first); missing images or infos: BagError."""
    have = [t for t, k in topics.items() if k == kind]
    if wanted is not None:
        if wanted not in topics:
            raise BagError(f"{bag}: no topic {wanted} ({what}); the bag has {sorted(topics)}")
        return wanted
    if not have and kind != GT:
        raise BagError(f"{bag}: no {kind} topic ({what} needed); the bag has {sorted(topics)}")
    return have[0] if have else None


def stamp_ns(header: object) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def read_camera_bag(
    path: str | Path,
    image_topic: str | None = None,
    info_topic: str | None = None,
    gt_topic: str | None = None,
) -> Iterator[BagFrame]:
    """Images of a bag in order, each with the latest camera info at or before its stamp."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    ts = typestore()
    with Reader(path) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        image_topic = pick_topic(topics, IMAGE, image_topic, path, "images")
        info_topic = pick_topic(topics, INFO, info_topic, path, f"camera_info for {image_topic}")
        gt_topic = pick_topic(topics, GT, gt_topic, path, "ground truth")
        counts = {c.topic: c.msgcount for c in reader.connections}
        if counts.get(info_topic, 0) == 0:
            raise BagError(f"{path}: topic {info_topic} has no camera_info messages for {image_topic}")
        infos: dict[int, np.ndarray] = {}
        gts: dict[int, Objects] = {}
        side = [c for c in reader.connections if c.topic in {info_topic, gt_topic}]
        for conn, _, raw in reader.messages(connections=side):
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == info_topic:
                infos[stamp_ns(msg.header)] = np.asarray(msg.k, np.float64).reshape(3, 3)
            else:
                gts[stamp_ns(msg.header)] = bag_objects(msg)
        info_stamps = np.array(sorted(infos))
        images = [c for c in reader.connections if c.topic == image_topic]
        for conn, _, raw in reader.messages(connections=images):
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            ns = stamp_ns(msg.header)
            # the camera info of this stamp, else the latest before it, else the first one
            k = infos[int(info_stamps[max(0, np.searchsorted(info_stamps, ns, side="right") - 1)])]
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9  # as the node reads it
            yield BagFrame(stamp, msg.header.frame_id, _rgb(msg, image_topic, path), k, gts.get(ns))


def main(argv: list[str] | None = None) -> int:
    """``seqpose-bag ROOT --subset real_test --scene scene_1 --out BAG``: a NOCS sequence as a bag."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="seqpose-bag", description=main.__doc__)
    p.add_argument("root", type=Path, help="dataset root in the NOCS layout")
    p.add_argument("--subset", default="real_test")
    p.add_argument("--scene", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sqlite3", action="store_true", help="sqlite3 storage instead of MCAP")
    args = p.parse_args(argv)
    try:
        n = write_nocs_bag(args.root, args.subset, args.scene, args.out, mcap=not args.sqlite3)
    except (BagError, OSError, ValueError) as exc:
        print(f"seqpose-bag: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} frames to {args.out}")
    return 0
