"""Every console script answers --help with its usage and exits 0."""

import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

ENTRY_POINTS = distribution("seqpose-python").entry_points
SCRIPTS = sorted(ep.name for ep in ENTRY_POINTS if ep.group == "console_scripts")


def test_the_package_declares_the_console_scripts_of_its_readme():
    assert {"seqpose_node", "seqpose-align", "seqpose-eval", "seqpose-synth", "seqpose-bag"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_console_script_prints_its_usage_for_help(name):
    script = Path(sys.executable).parent / name
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.lower().startswith("usage:") and name in done.stdout.splitlines()[0]
