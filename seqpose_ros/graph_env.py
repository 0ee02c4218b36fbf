"""A private ROS graph for one process and its children (tests, demo, benchmarks): set before
rclpy creates its first participant. ROS-free, so that it can run before rclpy is imported."""

from __future__ import annotations

import os
import random
from collections.abc import MutableMapping
from pathlib import Path

DDS_PROFILE = Path(__file__).resolve().parents[1] / "config" / "fastdds.xml"


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
    if DDS_PROFILE.is_file():  # a source checkout; a ROS install's launch file sets its own
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(DDS_PROFILE))
    return int(env["ROS_DOMAIN_ID"])
