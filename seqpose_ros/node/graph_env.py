"""A private ROS graph for one process and its children (tests, demo, benchmarks): set before
rclpy creates its first participant. ROS-free, so that it can run before rclpy is imported."""

from __future__ import annotations

import os
import random
from collections.abc import MutableMapping
from pathlib import Path


def dds_profile() -> Path | None:
    """config/fastdds.xml of a source checkout, else of the installed ROS package, else None."""
    source = Path(__file__).resolve().parents[2] / "config" / "fastdds.xml"
    if source.is_file():
        return source
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        installed = Path(get_package_share_directory("seqpose")) / "config" / "fastdds.xml"
    except (PackageNotFoundError, OSError):  # not installed, or no ament index at all
        return None
    return installed if installed.is_file() else None


def private_graph(env: MutableMapping[str, str] = os.environ, force: bool = False) -> int:
    """Put this process on a domain drawn from its pid, discovered on localhost only, so that
    concurrent runs on one machine do not see each other's topics, with the Fast DDS profile that
    README documents (config/fastdds.xml: camera-sized images over best effort) unless one is
    set. ``force``: override the domain values already set (tests); otherwise a user's own
    ROS_DOMAIN_ID is kept. Returns the domain id."""
    values = {
        "ROS_DOMAIN_ID": str(random.Random(os.getpid()).randint(1, 100)),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    for name, value in values.items():
        if force:
            env[name] = value
        else:
            env.setdefault(name, value)
    profile = dds_profile()
    if profile is not None:
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    return int(env["ROS_DOMAIN_ID"])
