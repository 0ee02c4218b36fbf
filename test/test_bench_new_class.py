"""The new-class benchmark's heading score: in the labels' own frame, one global rotation away."""

import importlib.util
from pathlib import Path

import numpy as np

from seqpose_core.evaluation.results import image_result_from_poses
from seqpose_core.geometry import rotation_about_y

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_new_class.py"


def bench():
    spec = importlib.util.spec_from_file_location("bench_new_class", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results(turns: np.ndarray, offset: np.ndarray, far: bool = False) -> list:
    """One image per truth rotation about y; the found box rotated by ``offset`` in the object
    frame (the labels' frame), 2 cm away, or 30 cm away when ``far``."""
    out = []
    for a in turns:
        rot = rotation_about_y(a)
        t = np.array([0.0, 0.0, 0.8])
        gt = (np.array([7]), rot[None], t[None], np.array([[0.2, 0.15, 0.18]]))
        moved = t + np.array([0.3 if far else 0.02, 0.0, 0.0])
        pred = (np.array([7]), (rot @ offset)[None], moved[None], gt[3])
        out.append(image_result_from_poses("x", gt, np.ones(1), pred, np.ones(1)))
    return out


def test_a_heading_off_by_one_global_rotation_scores_zero_and_random_headings_do_not():
    b, rng = bench(), np.random.default_rng(0)
    offset = rotation_about_y(0.3) @ np.array([[1.0, 0, 0], [0, 0.9998, -0.02], [0, 0.02, 0.9998]])
    offset = np.linalg.svd(offset)[0] @ np.linalg.svd(offset)[2]
    row = b.heading(results(rng.uniform(0, 6.28, 12), offset), 7)
    assert row["found"] == 12 and row["heading median deg"] < 1e-3 and row["within 20deg"] == 100
    assert abs(row["frame offset deg"] - 17.2) < 0.5
    scattered = [rotation_about_y(a) for a in rng.uniform(0, 6.28, 12)]
    rows = results(np.zeros(12), np.eye(3))
    for r, s in zip(rows, scattered, strict=True):
        r.pred_RTs[0, :3, :3] = r.pred_RTs[0, :3, :3] @ s  # headings about up scattered
    row = b.heading(rows, 7)
    assert row["heading median deg"] > 40 and row["up axis median deg"] < 1e-3
    assert b.heading(results(np.zeros(5), np.eye(3), far=True), 7) == {"found": 0.0}
