"""A class the network has never seen, end to end: robot bags of kettles -> video -> alignment ->
labels (class id 7) -> two training steps from a six-class checkpoint -> a seven-class checkpoint
that the node loads and whose class name it publishes."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from seqpose_core.categories import NOCS, Category
from seqpose_core.checkpoint import load_model, save_model
from seqpose_core.data.nocs_dataset import NocsFrames
from seqpose_core.data.nocs_io import read_classes
from seqpose_core.model.config import ModelConfig
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.synth.orbit import make_recording
from seqpose_core.synth.shapes import GENERATOR_CLASSES, make_object

ROOT = Path(__file__).resolve().parents[1]
KETTLE = GENERATOR_CLASSES.id("kettle")
HW = (112, 154)


def test_the_kettle_is_a_seventh_family_past_the_nocs_ids():
    assert GENERATOR_CLASSES.names[:7] == NOCS.names and GENERATOR_CLASSES.names[KETTLE] == "kettle"
    rng = np.random.default_rng(0)
    kettle = make_object(KETTLE, rng)
    np.testing.assert_allclose(kettle.mesh.bounds.mean(0), 0, atol=1e-9)  # centred on its box
    spout = kettle.mesh.vertices[kettle.mesh.vertices[:, 0] > 0.8 * kettle.mesh.bounds[1, 0]]
    assert spout[:, 1].mean() > 0  # the spout rises along +x: the heading is visible


def recipe() -> dict:
    """The synthetic recipe, small: the source model and the run share its network."""
    doc = yaml.safe_load((ROOT / "training" / "configs" / "synthetic_tiny.yaml").read_text())
    doc["model"].update(input_size=list(HW), memory_frames=1)
    return doc


def train_config(tmp_path: Path, labels: Path, source: Path) -> Path:
    doc = recipe()
    doc["model"]["categories"] = read_classes(labels).to_list()
    doc["data"].update(root=str(labels), extra_roots=[], val_root="", clip_length=2, workers=0)
    doc["optim"].update(batch_size=2, warmup_steps=1)
    doc["run"].update(
        out_dir=str(tmp_path / "runs"),
        name="kettle",
        init_from=str(source),
        max_steps=2,
        eval_every_epochs=0,
        allow_test_validation=True,
    )
    path = tmp_path / "kettle.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_bags_of_a_new_category_to_a_seven_class_model_the_node_publishes(background, tmp_path):
    pytest.importorskip("rclpy")
    from support.rosgraph import CameraRig

    from seqpose_core.selflabel.cli import main as align
    from seqpose_ros.bags.orbit_bags import write_recording_bag
    from seqpose_ros.bags.video import main as video
    from seqpose_ros.node.converters import detections_to_estimates
    from training.train import main as train

    rng = np.random.default_rng(7)
    for i in range(3):
        write_recording_bag(make_recording(KETTLE, rng, 6, (96, 128)), tmp_path / "bags" / f"orbit_{i}")
        args = [str(tmp_path / "bags" / f"orbit_{i}"), "--out", str(tmp_path / "videos" / f"orbit_{i}")]
        assert video([*args, "--category", "kettle", "--fixed-frame", "base_link"]) == 0
    labels = tmp_path / "labels"
    assert align([str(tmp_path / "videos"), "--features", "none", "--labels", str(labels)]) == 0
    assert read_classes(labels) == NOCS.plus(Category("kettle"))
    frames = NocsFrames(labels, "real_train")
    assert len(frames) > 0 and set(frames[0].objects.class_ids) == {KETTLE}

    torch.manual_seed(0)
    six = save_model(SeqPose(ModelConfig.from_dict(recipe()["model"])), tmp_path / "six")
    assert train(["--config", str(train_config(tmp_path, labels, six))]) == 0
    seven = load_model(tmp_path / "runs" / "kettle" / "final.safetensors")
    assert seven.cfg.classes.names[KETTLE] == "kettle"
    with torch.no_grad():  # plumbing, not accuracy: two steps cannot find kettles, so every query is one
        for head in seven.decoder.heads:
            head.cls.bias[KETTLE - 1] = 10.0
    forced = save_model(seven, tmp_path / "forced")

    rig = CameraRig()
    try:
        node = background(
            [
                *(sys.executable, "-m", "seqpose_ros.node.node", "--ros-args"),
                *("--params-file", str(ROOT / "config" / "seqpose.yaml"), "-p", f"checkpoint:={forced}"),
                *("-p", "qos:=reliable", "-p", "diagnostics_period:=0.5", "-p", "backend:=torch"),
                *("-r", "image:=/test/image", "-r", "camera_info:=/test/camera_info"),
            ],
            cwd=str(ROOT),
        )
        rig.wait_for_node()
        rig.send(frames[0].rgb, frames[0].k, 100.0)
        rig.wait_for(lambda: rig.got["/detections"] or node.proc.poll() is not None, 60, "detections")
        rig.spin(0.3)
        assert node.proc.poll() is None, node.output()
        names = seven.cfg.classes.names
        published = detections_to_estimates(rig.got["/detections"][-1], names)
        assert published and {e.class_name for e in published} == {"kettle"}
        rig.wait_for(lambda: rig.got["/tf"], 10, "tf")  # a loaded machine may deliver it after the detections
        assert all(t.child_frame_id.startswith("seqpose/kettle_") for t in rig.got["/tf"][-1].transforms)
        rig.wait_for(lambda: rig.got["/diagnostics"], 10, "diagnostics")
        values = {kv.key: kv.value for kv in rig.got["/diagnostics"][-1].status[0].values}
        assert values["classes"] == ",".join(names[1:])  # what a subscriber can expect
        texts = [m.text for m in rig.got["/markers"][-1].markers if m.ns == "labels"]
        assert texts and all(t.startswith("kettle_") for t in texts)
    finally:
        rig.close()
