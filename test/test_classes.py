"""Classes as data: the class list in the config and checkpoint, a class added to a trained model,
names read from the model by the predictor, tracker, evaluation and converters."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from seqpose_core.categories import NOCS, Categories, Category
from seqpose_core.checkpoint import CheckpointError, load_model, save_model
from seqpose_core.data.nocs_io import read_classes, write_classes
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.results import image_result_from_poses
from seqpose_core.geometry import rotation_about_y
from seqpose_core.model.classes import add_class
from seqpose_core.model.config import ModelConfig, tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import Predictor
from seqpose_core.selflabel.labels import label_classes
from seqpose_core.selflabel.videos import VideoError

HW = (112, 154)
K = np.array([[120.0, 0, 77.0], [0, 120.0, 56.0], [0, 0, 1]])
DRILL = Category("drill")


def tiny(**kw) -> SeqPose:
    torch.manual_seed(0)
    return SeqPose(tiny_config(**{"input_size": HW, "dn_groups": 2, "dense_queries": 10, **kw})).eval()


def test_the_nocs_default_keeps_its_ids_and_symmetry_rule():
    assert NOCS.names == ("BG", "bottle", "bowl", "camera", "can", "laptop", "mug")
    ids = np.array([1, 2, 3, 4, 5, 6, 6])
    handle = np.array([True, True, True, True, True, True, False])
    expected = [True, True, False, True, False, False, True]  # a mug without a visible handle
    np.testing.assert_array_equal(NOCS.symmetric_about_y(ids, handle), expected)
    np.testing.assert_array_equal(
        NOCS.symmetric_about_y(torch.from_numpy(ids), torch.from_numpy(handle)).numpy(), expected
    )
    assert ModelConfig().classes == NOCS


def test_a_new_category_gets_the_next_id_its_rule_and_a_checked_name():
    classes = NOCS.plus(Category("spray_bottle", symmetric=True))
    assert classes.id("spray_bottle") == 7 and classes.names[1:7] == NOCS.names[1:]
    assert classes.is_symmetric(7) and not classes.plus(DRILL).is_symmetric(8)
    assert Categories.from_list(classes.to_list()) == classes
    for bad in ("Drill", "my drill", "", "bg"):
        with pytest.raises(ValueError):
            NOCS.plus(Category(bad))
    with pytest.raises(ValueError, match="unique"):
        NOCS.plus(Category("mug"))
    with pytest.raises(ValueError, match="unknown class 'drill'"):
        NOCS.id("drill")


def test_old_configs_load_as_nocs_and_a_wrong_class_count_is_refused():
    d = tiny_config().to_dict()
    del d["categories"]
    assert ModelConfig.from_dict({**d, "num_classes": 6}).classes == NOCS
    with pytest.raises(ValueError, match="num_classes 7"):
        ModelConfig.from_dict({**d, "num_classes": 7})


def test_adding_a_class_keeps_every_old_row_and_output_bit_for_bit(tmp_path):
    old = tiny(dense_queries=0, infer_queries=0)  # every query kept: no selection by class score
    new = add_class(old, DRILL)
    assert new.cfg.classes == NOCS.plus(DRILL) and old.cfg.classes == NOCS
    a, b = old.state_dict(), new.state_dict()
    grown = [k for k in a if a[k].shape != b[k].shape]
    assert sorted(grown) == sorted(
        [f"decoder.heads.{i}.cls.{p}" for i in range(3) for p in ("weight", "bias")]
        + ["decoder.label_embed.weight", "aux.seg.2.weight", "aux.seg.2.bias"]
    )
    for k in a:
        assert torch.equal(b[k][: len(a[k])], a[k]), k
    assert torch.equal(b["decoder.heads.0.cls.weight"][6], torch.zeros(64))  # starts at the least likely
    assert b["decoder.heads.0.cls.bias"][6] == a["decoder.heads.0.cls.bias"].min()
    image, k = torch.rand(1, 3, *HW), torch.from_numpy(K).float()[None]
    with torch.no_grad():
        out_old, out_new = old(image, k, with_aux=True), new(image, k, with_aux=True)
    last_old, last_new = out_old["layers"][-1], out_new["layers"][-1]
    assert last_new["logits"].shape[-1] == 7
    torch.testing.assert_close(last_new["logits"][..., :6], last_old["logits"], rtol=0, atol=0)
    torch.testing.assert_close(last_new["translation"], last_old["translation"], rtol=0, atol=0)
    torch.testing.assert_close(out_new["aux"]["seg"][:, :7], out_old["aux"]["seg"], rtol=0, atol=0)
    path = save_model(new, tmp_path / "seven.safetensors")
    assert yaml.safe_load(path.with_suffix(".yaml").read_text())["model"]["categories"][-1]["name"] == "drill"
    assert load_model(path).cfg.classes == NOCS.plus(DRILL)
    save_model(old, tmp_path / "six.safetensors")
    path.with_suffix(".yaml").replace(tmp_path / "six.yaml")  # a config that lost its weights
    with pytest.raises(CheckpointError, match="classes"):
        load_model(tmp_path / "six.safetensors")


def test_the_predictor_and_tracker_name_a_new_class_from_the_model():
    model = add_class(tiny(), DRILL)
    with torch.no_grad():
        for head in model.decoder.heads:
            head.cls.bias[6] = 10.0  # every query a drill
    predictor = Predictor(model, "cpu", multi_frame=True, score_threshold=0.5)
    rgb = np.random.default_rng(0).integers(0, 255, (*HW, 3), np.uint8)
    for stamp in (0.0, 0.1):
        result = predictor.step(rgb, K, stamp)
    assert result.estimates and {(e.class_id, e.class_name) for e in result.estimates} == {(7, "drill")}
    assert predictor.class_names[7] == "drill"


def test_evaluation_scores_the_model_classes():
    rot = rotation_about_y(np.zeros(1))
    gt = (np.array([7]), rot, np.array([[0.0, 0.0, 1.0]]), np.array([[0.1, 0.2, 0.1]]))
    results = [image_result_from_poses("a", gt, np.ones(1), gt, np.array([0.9]))]
    summary = evaluate(results, "exact", categories=NOCS.plus(DRILL)).summary()
    assert summary["IoU25"]["drill"] == pytest.approx(1.0) and np.isnan(summary["IoU25"]["mug"])


def test_a_label_folder_lists_its_classes(tmp_path):
    assert read_classes(tmp_path) == NOCS
    assert label_classes(tmp_path, NOCS.items[5]).id("mug") == 6  # a NOCS class: nothing to add
    assert not (tmp_path / "classes.yaml").exists()
    assert label_classes(tmp_path, DRILL).id("drill") == 7
    assert label_classes(tmp_path, Category("kettle")).id("kettle") == 8
    assert read_classes(tmp_path) == NOCS.plus(DRILL).plus(Category("kettle"))
    with pytest.raises(VideoError, match="drill"):
        label_classes(tmp_path, Category("drill", symmetric=True))


def test_training_refuses_data_whose_class_ids_the_model_lacks(tmp_path):
    from training.config import load_config
    from training.data import check_classes

    write_classes(tmp_path, NOCS.plus(DRILL))
    cfg = load_config(Path(__file__).resolve().parents[1] / "training" / "configs" / "synthetic_tiny.yaml")
    with pytest.raises(ValueError, match="drill"):
        check_classes(str(tmp_path), cfg)
    cfg.model.categories = NOCS.plus(DRILL).plus(Category("kettle")).to_list()
    check_classes(str(tmp_path), cfg)  # the data's classes begin the model's
