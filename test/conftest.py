"""Test-session set-up: each run gets its own ROS 2 graph and log folder.

The variables are set at import, before any test imports rclpy, so every node of
this run (in-process or a subprocess inheriting the environment) shares one
domain that parallel runs on the same machine do not see.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator

import pytest
from support.processes import Background, start_background

from seqpose_ros.node.graph_env import private_graph

_ROS_HOME = tempfile.mkdtemp(prefix="seqpose-test-ros-")
private_graph(force=True)
os.environ["ROS_HOME"] = _ROS_HOME
os.environ["ROS_LOG_DIR"] = os.path.join(_ROS_HOME, "log")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_ROS_HOME, ignore_errors=True)


@pytest.fixture
def background(tmp_path: os.PathLike) -> Iterator[Callable[..., Background]]:
    """Start processes in the background; all are stopped (SIGTERM, then SIGKILL) after the test."""
    started: list[Background] = []

    def start(args: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> Background:
        proc = start_background(args, log_dir=tmp_path, cwd=cwd, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> os.PathLike:
    """A small synthetic dataset in the NOCS REAL layout (2 train scenes, 1 test scene, 4 frames each)."""
    from seqpose_core.synth.writer import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth")
    generate(
        root,
        SynthConfig(train_scenes=2, test_scenes=1, frames=4, height=240, width=320, seed=11, look="plain"),
    )
    return root


@pytest.fixture
def tiny_samples(synth_root: os.PathLike) -> Callable[..., object]:
    """(TrainSamples over synth_root's 2-frame training clips, its config): synthetic_tiny.yaml
    with overrides."""
    from pathlib import Path

    from seqpose_core.data.nocs_dataset import NocsClips
    from training.config import load_config
    from training.data import TrainSamples

    config = Path(__file__).resolve().parents[1] / "training" / "configs" / "synthetic_tiny.yaml"

    def build(*overrides: str) -> tuple[TrainSamples, object]:
        cfg = load_config(config, [f"data.root={synth_root}", *overrides])
        return TrainSamples(NocsClips(synth_root, "real_train", 2), cfg), cfg

    return build
