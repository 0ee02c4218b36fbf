"""The documented set-up receives a camera's images: the node started with exactly README's
commands (its Fast DDS profile and nothing else transport-related in the environment) answers
640x480 images that another process publishes at 15 Hz with sensor-data QoS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

ROOT = Path(__file__).resolve().parents[1]
TEST_DIR = Path(__file__).parent


def readme_venv_commands() -> str:
    """The README's shell block that runs the node in this venv (the export and the command)."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    venv = [b for b in blocks if ".venv/bin/seqpose_node" in b]
    assert len(venv) == 1, "README should show one block that runs the node in the venv"
    return venv[0]


def documented_env() -> dict[str, str]:
    """This process's environment without any DDS or RMW setting: the README's export is the
    only transport set-up the node and the camera get."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FASTDDS_", "FASTRTPS_", "RMW_"))}


def test_readme_set_up_answers_camera_sized_images_at_15_hz(background):
    commands = readme_venv_commands()
    assert "export FASTDDS_DEFAULT_PROFILES_FILE=$PWD/config/fastdds.xml" in commands
    env = documented_env()
    node = background(["bash", "-ec", commands], cwd=str(ROOT), env=env)
    exported = {"FASTDDS_DEFAULT_PROFILES_FILE": str(ROOT / "config" / "fastdds.xml")}  # README's export
    camera = subprocess.run(
        [sys.executable, "-m", "support.camera_stream", "--frames", "60", "--rate", "15"],
        cwd=str(TEST_DIR),
        env=env | exported,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert camera.returncode == 0, camera.stderr
    result = json.loads(camera.stdout.strip().splitlines()[-1])
    assert result["warmed_up"], f"the node never answered; its log:\n{node.output()}"
    assert result["received"] == 60, f"images lost in transport: {result}"
    assert result["answered"] >= 30, f"the node answered too few of the 60 images: {result}"
