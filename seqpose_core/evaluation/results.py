"""Per-image results in the NOCS ``results_*.pkl`` format: loading, validation, writing.

Keys (the format every category-level pose method publishes): ``image_path``,
``gt_class_ids`` (G,), ``gt_RTs`` (G, 4, 4), ``gt_scales`` (G, 3),
``gt_handle_visibility`` (G,), ``pred_class_ids`` (P,), ``pred_scores`` (P,),
``pred_RTs`` (P, 4, 4), ``pred_scales`` (P, 3), ``pred_bboxes`` (P, 4) as (y1, x1, y2, x2).
RTs carry the scale in their 3x3 block (sRT); scales are normalized box extents.

The project's own files hold the same keys as JSON (``{"format": "seqpose-results/1",
"images": [...]}``), so no pickle is needed to exchange them. Community pickles are read
with an unpickler that admits only numpy arrays and plain containers.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqpose_core.geometry import pose_to_srt
from seqpose_core.safe_pickle import safe_load

JSON_FORMAT = "seqpose-results/1"
_SHAPES = {
    "gt_class_ids": ("G",),
    "gt_RTs": ("G", 4, 4),
    "gt_scales": ("G", 3),
    "gt_handle_visibility": ("G",),
    "pred_class_ids": ("P",),
    "pred_scores": ("P",),
    "pred_RTs": ("P", 4, 4),
    "pred_scales": ("P", 3),
    "pred_bboxes": ("P", 4),
}
REQUIRED_KEYS = tuple(k for k in _SHAPES if k != "gt_handle_visibility")


class ResultsFormatError(ValueError):
    """A results file or record that does not follow the format; the message names it."""


@dataclass
class ImageResult:
    """Ground truth and predictions of one image (arrays as in the module docstring)."""

    image_path: str
    gt_class_ids: np.ndarray
    gt_RTs: np.ndarray
    gt_scales: np.ndarray
    gt_handle_visibility: np.ndarray
    pred_class_ids: np.ndarray
    pred_scores: np.ndarray
    pred_RTs: np.ndarray
    pred_scales: np.ndarray
    pred_bboxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))

    def to_record(self) -> dict:
        return {k: getattr(self, k).tolist() if k != "image_path" else self.image_path for k in _KEYS}


_KEYS = ("image_path", *_SHAPES)


def _array(raw: dict, key: str, sizes: dict[str, tuple[int, str]], where: str) -> np.ndarray:
    value = raw[key]
    arr = np.asarray(value, dtype=np.float64)
    spec = _SHAPES[key]
    if arr.size == 0:
        arr = arr.reshape((0, *spec[1:]))
    if arr.ndim != len(spec) or arr.shape[1:] != spec[1:]:
        raise ResultsFormatError(f"{where}: {key} has shape {arr.shape}, expected {spec}")
    rows, first_key = sizes.setdefault(spec[0], (arr.shape[0], key))
    if rows != arr.shape[0]:
        raise ResultsFormatError(f"{where}: {key} has {arr.shape[0]} rows but {first_key} has {rows}")
    if not np.all(np.isfinite(arr)):
        raise ResultsFormatError(f"{where}: {key} contains non-finite values")
    return arr


def validate(raw: dict, where: str) -> ImageResult:
    """Check one record's keys, shapes and values; ``where`` names it in errors."""
    if not isinstance(raw, dict):
        raise ResultsFormatError(f"{where}: expected a dict per image, got {type(raw).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ResultsFormatError(f"{where}: missing keys {missing}")
    raw = dict(raw)
    if "gt_handle_visibility" not in raw:  # as the reference code: all handles visible
        raw["gt_handle_visibility"] = np.ones(len(np.atleast_1d(raw["gt_class_ids"])))
    sizes: dict[str, tuple[int, str]] = {}
    arrays = {k: _array(raw, k, sizes, where) for k in _SHAPES}
    for key in ("gt_RTs", "pred_RTs"):
        rts = arrays[key]
        if len(rts) and not np.allclose(rts[:, 3], [0.0, 0.0, 0.0, 1.0]):
            raise ResultsFormatError(f"{where}: {key} has a last row other than [0, 0, 0, 1]")
        if len(rts) and np.any(np.linalg.det(rts[:, :3, :3]) <= 0):
            raise ResultsFormatError(f"{where}: {key} has a 3x3 block with non-positive determinant")
    for key in ("gt_class_ids", "pred_class_ids"):
        arrays[key] = arrays[key].astype(np.int64)
        if np.any((arrays[key] < 1) | (arrays[key] > 6)):
            raise ResultsFormatError(f"{where}: {key} holds ids outside 1..6")
    return ImageResult(image_path=str(raw.get("image_path", where)), **arrays)


def _read(path: Path) -> list[dict]:
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
            raise ResultsFormatError(f"{path}: not a {JSON_FORMAT} file")
        return doc["images"]
    with open(path, "rb") as f:
        data = safe_load(f)
    return data if isinstance(data, list) else [data]


def load_results(path: str | Path) -> list[ImageResult]:
    """Read a ``results_*.pkl`` (one dict or a list of dicts) or a project JSON file."""
    path = Path(path)
    if not path.is_file():
        raise ResultsFormatError(f"{path}: no such file")
    try:
        records = _read(path)
    except (pickle.UnpicklingError, json.JSONDecodeError, EOFError, KeyError) as exc:
        raise ResultsFormatError(f"{path}: unreadable ({exc})") from exc
    return [validate(r, f"{path}[{i}]" if len(records) > 1 else str(path)) for i, r in enumerate(records)]


def save_results_json(results: list[ImageResult], path: str | Path) -> None:
    """Write results in the project's JSON form of the format."""
    doc = {"format": JSON_FORMAT, "images": [r.to_record() for r in results]}
    Path(path).write_text(json.dumps(doc))


def image_result_from_poses(
    image_path: str,
    gt: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    gt_handle_visible: np.ndarray,
    pred: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    pred_scores: np.ndarray,
) -> ImageResult:
    """Build a record from metric poses.

    gt, pred: (class_ids (N,), R (N, 3, 3), t (N, 3) metres, size (N, 3) metres).
    """
    (gc, gr, gt_t, gs), (pc, pr, pt, ps) = gt, pred
    g_srt, g_scales = pose_to_srt(np.asarray(gr), np.asarray(gt_t), np.asarray(gs))
    p_srt, p_scales = pose_to_srt(np.asarray(pr), np.asarray(pt), np.asarray(ps))
    return ImageResult(
        image_path=image_path,
        gt_class_ids=np.asarray(gc, dtype=np.int64),
        gt_RTs=g_srt,
        gt_scales=g_scales,
        gt_handle_visibility=np.asarray(gt_handle_visible, dtype=np.float64),
        pred_class_ids=np.asarray(pc, dtype=np.int64),
        pred_scores=np.asarray(pred_scores, dtype=np.float64),
        pred_RTs=p_srt,
        pred_scales=p_scales,
        pred_bboxes=np.zeros((len(pc), 4)),
    )
