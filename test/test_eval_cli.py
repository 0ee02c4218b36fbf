"""Result files in, report out: the community pickle, the project's JSON, and seqpose-eval."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from seqpose_core.evaluation.cli import main
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.results import ResultsFormatError, load_results, save_results_json
from seqpose_core.evaluation.simulate import simulate_results


def as_dict(r):
    keys = (
        "gt_class_ids",
        "gt_RTs",
        "gt_scales",
        "gt_handle_visibility",
        "pred_class_ids",
        "pred_scores",
        "pred_RTs",
        "pred_scales",
        "pred_bboxes",
    )
    return {"image_path": r.image_path, **{k: getattr(r, k) for k in keys}}


@pytest.fixture
def results():
    return simulate_results(30, seed=4, max_predictions=12)


def test_pickle_and_json_give_the_same_metrics(tmp_path, results):
    for k, r in enumerate(results):  # one pickle per image, as published result folders hold
        with open(tmp_path / f"results_{k:04d}.pkl", "wb") as f:
            pickle.dump(as_dict(r), f)
    from_pkl = [x for k in range(len(results)) for x in load_results(tmp_path / f"results_{k:04d}.pkl")]
    save_results_json(results, tmp_path / "preds.json")
    from_json = load_results(tmp_path / "preds.json")
    a, b = evaluate(from_pkl, "exact"), evaluate(from_json, "exact")
    np.testing.assert_array_equal(a.iou_aps, b.iou_aps)
    np.testing.assert_array_equal(a.pose_aps, b.pose_aps)
    assert 0.0 < a.summary()["IoU25"]["mean"] < 1.0


def test_missing_key_and_bad_shape_are_named(tmp_path, results):
    record = as_dict(results[0])
    del record["pred_scores"]
    with open(tmp_path / "results_a.pkl", "wb") as f:
        pickle.dump([record], f)
    with pytest.raises(ResultsFormatError, match=r"results_a\.pkl.*missing keys \['pred_scores'\]"):
        load_results(tmp_path / "results_a.pkl")
    record = as_dict(results[0])
    record["gt_scales"] = record["gt_scales"][:, :2]
    with open(tmp_path / "results_b.pkl", "wb") as f:
        pickle.dump(record, f)
    with pytest.raises(ResultsFormatError, match=r"results_b\.pkl: gt_scales has shape"):
        load_results(tmp_path / "results_b.pkl")
    record = as_dict(results[0])
    record["pred_class_ids"] = record["pred_class_ids"][:-1]
    with open(tmp_path / "results_c.pkl", "wb") as f:
        pickle.dump(record, f)
    with pytest.raises(ResultsFormatError, match=r"pred_scores has \d+ rows but pred_class_ids has \d+"):
        load_results(tmp_path / "results_c.pkl")


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickles_cannot_run_code(tmp_path):
    with open(tmp_path / "results_evil.pkl", "wb") as f:
        pickle.dump({"gt_class_ids": Payload()}, f)
    with pytest.raises(ResultsFormatError, match=r"refusing to load builtins\.print"):
        load_results(tmp_path / "results_evil.pkl")


def test_missing_handle_visibility_means_visible(tmp_path, results):
    record = as_dict(results[0])
    del record["gt_handle_visibility"]
    with open(tmp_path / "results_x.pkl", "wb") as f:
        pickle.dump(record, f)
    assert load_results(tmp_path / "results_x.pkl")[0].gt_handle_visibility.tolist() == [1.0] * len(
        record["gt_class_ids"]
    )


def test_cli_writes_json_markdown_and_curves(tmp_path, results, capsys):
    save_results_json(results, tmp_path / "preds.json")
    assert main([str(tmp_path / "preds.json"), "--out", str(tmp_path / "report"), "--iou", "exact"]) == 0
    doc = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert doc["iou_mode"] == "exact"
    assert len(doc["iou_aps"]) == 7 and len(doc["iou_aps"][0]) == 101
    assert np.array(doc["pose_aps"], dtype=float).shape == (7, 62, 42)
    assert set(doc["summary"]) >= {"IoU25", "IoU50", "IoU75", "10cm", "10deg", "10deg10cm", "5deg5cm"}
    table = (tmp_path / "report" / "metrics.md").read_text()
    assert "`exact`" in table and "| mean |" in table and "| mug |" in table
    png = (tmp_path / "report" / "ap_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "| mean |" in capsys.readouterr().out


def test_cli_names_a_missing_file():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "seqpose_core.evaluation.cli",
            "/nonexistent/results_1.pkl",
            "--out",
            "/tmp/x",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "/nonexistent/results_1.pkl: no such file" in out.stderr
