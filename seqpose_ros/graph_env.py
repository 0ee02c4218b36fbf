"""A private ROS graph for one process and its children (tests, demo, benchmarks): set before
rclpy creates its first participant. ROS-free, so that it can run before rclpy is imported."""

from __future__ import annotations

import os
import random
from collections.abc import MutableMapping


def private_graph(env: MutableMapping[str, str] = os.environ, force: bool = False) -> int:
    """Put this process on a domain drawn from its pid, discovered on localhost only, so that
    concurrent runs on one machine do not see each other's topics. ``force``: override values
    already set (tests); otherwise a user's own ROS_DOMAIN_ID is kept. Returns the domain id."""
    values = {
        "ROS_DOMAIN_ID": str(random.Random(os.getpid()).randint(1, 100)),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    for name, value in values.items():
        if force:
            env[name] = value
        else:
            env.setdefault(name, value)
    return int(env["ROS_DOMAIN_ID"])
