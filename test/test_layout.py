"""Package boundaries: the core stays free of ROS, and the ROS package description is complete."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_import_loads_no_ros_module():
    code = (
        "import sys, seqpose_core, seqpose_core.categories\n"
        "ros = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'rclpy', 'rosidl_parser', 'std_msgs', 'sensor_msgs', 'seqpose_ros', 'training'})\n"
        "print(','.join(ros))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import seqpose_core loaded {out.stdout.strip()}"


def test_core_sources_name_no_ros_or_training_module():
    offenders = []
    for path in (ROOT / "seqpose_core").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                top = words[1].split(".")[0]
                if top in {"rclpy", "seqpose_ros", "training"} or top.endswith("_msgs"):
                    offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offenders


def test_package_xml_declares_what_the_code_uses():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    declared = {e.text for e in root if e.tag.endswith("depend")}
    needed = {
        "rclpy",
        "sensor_msgs",
        "vision_msgs",
        "tf2_ros",
        "tf2_msgs",
        "visualization_msgs",
        "geometry_msgs",
        "std_msgs",
        "std_srvs",
        "diagnostic_msgs",
        "lifecycle_msgs",
        "rosidl_default_generators",
        "rosidl_default_runtime",
        "python3-torch",
        "python3-numpy",
    }
    assert needed <= declared, f"package.xml lacks {sorted(needed - declared)}"


def test_every_msg_file_is_built():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for msg in (ROOT / "msg").glob("*.msg"):
        assert f"msg/{msg.name}" in cmake, f"{msg.name} is not in rosidl_generate_interfaces"


def test_the_node_side_never_imports_the_bag_tools():
    offenders = []
    for path in (ROOT / "seqpose_ros" / "node").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if (
                words[:1] in (["import"], ["from"])
                and len(words) > 1
                and words[1].startswith("seqpose_ros.bags")
            ):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offenders
    bag_side = [p.name for p in (ROOT / "seqpose_ros" / "bags").glob("*.py")]
    assert {"bag.py", "live.py", "replay.py", "demo.py"} <= set(bag_side)
