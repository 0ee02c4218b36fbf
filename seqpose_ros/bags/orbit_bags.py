"""``seqpose-orbits``: synthetic object-centric recordings as a robot keeps them, as ROS 2 bags.

An arm circles one object on a cluttered table with an RGB-D camera on its wrist, while
``ros2 bag record`` keeps, as a RealSense driver and robot_state_publisher publish them:

* ``/camera/color/image_raw`` (rgb8) and ``/camera/color/camera_info``;
* ``/camera/aligned_depth_to_color/image_raw``: 16UC1 millimetres, or 32FC1 metres;
* ``/tf``: base_link (REP-103, z up) -> shoulder_link -> wrist_link, moving with the arm;
* ``/tf_static``: wrist_link -> camera_link -> camera_color_optical_frame.

No masks and no truth are in the bag; the truth (the object's pose in base_link, its size and
class) is written beside it as ``<bag>.truth.json``, for the evaluator alone. Recordings use
one of two camera models (``seqpose_core.synth.orbit.CAMERA_MODELS``).

    seqpose-orbits --out bags/mug --category mug --count 20 --seed 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from seqpose_core.geometry import rigid_transform
from seqpose_core.synth.orbit import RATE_HZ, WRIST_TO_OPTICAL, Recording, make_recording
from seqpose_core.synth.sensor import REALISTIC, SENSORS
from seqpose_core.synth.shapes import GENERATOR_CLASSES
from seqpose_ros.bags.bag import (
    BASE_TIME,
    FRAME_ID,
    IMAGE,
    INFO,
    TF,
    header_msg,
    image_msg,
    info_msg,
    tf_msg,
    typestore,
)
from seqpose_ros.node import pixels

TOPICS = {
    "image": "/camera/color/image_raw",
    "camera_info": "/camera/color/camera_info",
    "depth": "/camera/aligned_depth_to_color/image_raw",
}
FIXED_FRAME = "base_link"
SHOULDER_HEIGHT = 0.3  # metres above base_link


def shoulder_pose(wrist_to_base: np.ndarray) -> np.ndarray:
    """shoulder_link in base_link: above the base, turned about z towards the wrist."""
    x, y = wrist_to_base[:2, 3]
    yaw = np.arctan2(y, x)
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    return rigid_transform(rot, np.array([0.0, 0.0, SHOULDER_HEIGHT]))


def _depth_image(ts: object, header: object, depth: np.ndarray, encoding: str) -> object:
    data, step = pixels.encode_depth(depth, encoding)
    h, w = depth.shape
    return ts.types[IMAGE](
        header=header,
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=np.frombuffer(data, np.uint8),
    )


def _write_static(writer: Writer, ts: object, stamp: int) -> None:
    conn = writer.add_connection("/tf_static", TF, typestore=ts)
    wrist_to_link = rigid_transform(np.eye(3), WRIST_TO_OPTICAL[:3, 3])
    link_to_optical = rigid_transform(WRIST_TO_OPTICAL[:3, :3], np.zeros(3))
    for parent, child, pose in (
        ("wrist_link", "camera_link", wrist_to_link),
        ("camera_link", FRAME_ID, link_to_optical),
    ):
        writer.write(
            conn, stamp, ts.serialize_cdr(tf_msg(ts, header_msg(ts, stamp, parent), pose, child), TF)
        )


def write_recording_bag(rec: Recording, out: Path, depth_encoding: str = "16UC1") -> Path:
    """One recording as the bag ``out`` (MCAP) and its truth beside it; returns the truth file."""
    ts = typestore()
    start = BASE_TIME * 1_000_000_000
    with Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        _write_static(writer, ts, start)
        tf = writer.add_connection("/tf", TF, typestore=ts)
        conns = {
            key: writer.add_connection(TOPICS[key], kind, typestore=ts)
            for key, kind in (("camera_info", INFO), ("image", IMAGE), ("depth", IMAGE))
        }
        for i, wrist in enumerate(rec.wrist_to_base):
            stamp = start + round(i / RATE_HZ * 1e9)
            tf_stamp = stamp + round(rec.tf_offset_s * 1e9)  # a late TF clock (sensor model)
            shoulder = shoulder_pose(wrist)
            for parent, child, pose in (
                (FIXED_FRAME, "shoulder_link", shoulder),
                ("shoulder_link", "wrist_link", np.linalg.inv(shoulder) @ wrist),
            ):
                msg = tf_msg(ts, header_msg(ts, tf_stamp, parent), pose, child)
                writer.write(tf, tf_stamp, ts.serialize_cdr(msg, TF))
            header = header_msg(ts, stamp, FRAME_ID)
            for key, msg in (
                ("camera_info", info_msg(ts, header, rec.k, rec.rgb.shape[1:3])),
                ("image", image_msg(ts, header, rec.rgb[i])),
                ("depth", _depth_image(ts, header, rec.depth[i], depth_encoding)),
            ):
                writer.write(conns[key], stamp, ts.serialize_cdr(msg, msg.__msgtype__))
    truth = Path(f"{out}.truth.json")
    truth.write_text(json.dumps({**rec.truth, "camera": rec.camera}, indent=1))
    return truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqpose-orbits", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True, help="folder of the bags (OUT/orbit_000, ...)")
    p.add_argument(
        "--category", required=True, help="a NOCS class, or kettle: a family no training data uses"
    )
    p.add_argument("--count", type=int, default=20, help="recordings, one new object each")
    p.add_argument("--frames", type=int, default=16, help="frames per orbit (one turn)")
    p.add_argument(
        "--seconds",
        type=float,
        help=f"an orbit of this many seconds at {RATE_HZ:g} Hz instead of --frames (a real arm: 20-40)",
    )
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--depth-encoding", choices=sorted(pixels.DEPTH_ENCODINGS), default="16UC1")
    p.add_argument(
        "--sensor",
        choices=SENSORS,
        default="ideal",
        help="realistic: a D435-class camera's depth noise, holes and misregistration, a hand-eye"
        " error, joint noise, a TF time offset, exposure and white balance (seqpose_core/synth/sensor.py)",
    )
    args = p.parse_args(argv)
    try:
        cls = GENERATOR_CLASSES.id(args.category)
    except ValueError as exc:
        print(f"seqpose-orbits: error: {exc}", file=sys.stderr)
        return 2
    frames = round(args.seconds * RATE_HZ) if args.seconds else args.frames
    if frames < 4:
        print(f"seqpose-orbits: error: an orbit needs at least 4 frames, got {frames}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i in range(args.count):
        bag = args.out / f"orbit_{i:03d}"
        if bag.exists():
            print(f"seqpose-orbits: error: {bag} exists", file=sys.stderr)
            return 2
        sensor = REALISTIC if args.sensor == "realistic" else None
        rec = make_recording(cls, rng, frames, (args.height, args.width), sensor)
        write_recording_bag(rec, bag, args.depth_encoding)
    print(
        f"wrote {args.count} {args.category} recordings to {args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
