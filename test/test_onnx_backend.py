"""The network exported to ONNX and run by ONNX Runtime, against torch, frame after frame with memory."""

import numpy as np
import pytest
import torch

from seqpose_core.assets import default_checkpoint
from seqpose_core.checkpoint import load_model
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.onnx_backend import OnnxSeqPose, export_onnx, onnx_model, weights_digest
from seqpose_core.predictor import Predictor

# Stated tolerances, torch fp32 against ONNX Runtime fp32 (the same arithmetic, reordered):
# translation (m), score, size (m), rotation matrix entries. Measured: about 1e-6 each.
TOL_T, TOL_SCORE, TOL_SIZE, TOL_R = 1e-4, 1e-4, 1e-4, 1e-3


def run(predictor: Predictor, frames: list) -> list[list]:
    return [predictor.step(f.rgb, f.k, 0.1 * i).estimates for i, f in enumerate(frames)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.parametrize("multi_frame", [True, False])
def test_onnxruntime_gives_torchs_estimates_over_5_frames_with_memory(synth_root, exported, multi_frame):
    data = NocsSubset(synth_root, "real_train")  # 2 scenes of 4 frames: the first 5 as one stream
    frames = [data.load(ref) for ref in data.frames][:5]
    assert len(frames) == 5
    model = load_model(default_checkpoint())
    kw = dict(multi_frame=multi_frame, score_threshold=0.05)
    ref = run(Predictor(model, "cpu", **kw), frames)
    ort = run(Predictor(model, "cpu", backend="onnxruntime", onnx_cache=str(exported), **kw), frames)
    assert sum(map(len, ref)) > 5  # the comparison has estimates to compare
    for a_frame, b_frame in zip(ref, ort, strict=True):
        assert len(a_frame) == len(b_frame)
        for a, b in zip(a_frame, b_frame, strict=True):
            assert (a.class_id, a.track_id, a.query_id) == (b.class_id, b.track_id, b.query_id)
            assert abs(a.score - b.score) < TOL_SCORE
            assert np.abs(a.translation - b.translation).max() < TOL_T
            assert np.abs(a.size - b.size).max() < TOL_SIZE
            assert np.abs(a.rotation - b.rotation).max() < TOL_R


def test_export_is_kept_per_weights_and_redone_for_other_weights(exported):
    model = load_model(default_checkpoint())
    folder = exported / weights_digest(model)
    Predictor(model, "cpu", backend="onnxruntime", onnx_cache=str(exported))
    stamp = (folder / "stream.onnx").stat().st_mtime_ns
    Predictor(model, "cpu", backend="onnxruntime", onnx_cache=str(exported))
    assert (folder / "stream.onnx").stat().st_mtime_ns == stamp  # not exported again
    with torch.no_grad():
        model.decoder.heads[-1].cls.bias.add_(0.1)
    assert weights_digest(model) != folder.name


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        (dict(backend="tensorrt"), "backend 'tensorrt'"),
        (dict(backend="onnxruntime", precision="int8"), "runs fp32 on cpu"),
    ],
)
def test_a_bad_backend_is_refused_by_name(kw, words):
    with pytest.raises(ValueError, match=words):
        Predictor(load_model(default_checkpoint()), "cpu", **kw)


def test_export_of_a_model_without_dense_queries_keeps_no_traced_state(tmp_path):
    """The single-frame constant of the first layer is traced into the graph, not cached by it."""
    torch.manual_seed(0)
    model = SeqPose(tiny_config(dense_queries=0)).eval()
    ort = OnnxSeqPose(export_onnx(model, tmp_path))
    assert model.decoder._first is None
    h, w = model.cfg.input_size
    k = torch.tensor([[[200.0, 0, w / 2], [0, 200.0, h / 2], [0, 0, 1]]])
    image, stamp = torch.rand(1, 3, h, w), torch.tensor([1.0], dtype=torch.float64)
    with torch.inference_mode():
        ref = model(image, k, None, stamp, with_aux=False)["layers"][-1]["translation"]
    got = ort(image, k, stamp)[1]
    assert (ref - got).abs().max() < TOL_T


def test_export_of_a_ray_frame_model_gives_torchs_rotations(tmp_path):
    """The ray's turn (rotation_frame: ray) is traced into the graph with the rest."""
    torch.manual_seed(0)
    model = SeqPose(tiny_config(rotation_frame="ray")).eval()
    ort = OnnxSeqPose(export_onnx(model, tmp_path))
    h, w = model.cfg.input_size
    k = torch.tensor([[[200.0, 0, w / 2], [0, 200.0, h / 2], [0, 0, 1]]])
    image, stamp = torch.rand(1, 3, h, w), torch.tensor([1.0], dtype=torch.float64)
    with torch.inference_mode():
        ref = model(image, k, None, stamp, with_aux=False)["layers"][-1]["rotation"]
    got = torch.as_tensor(ort(image, k, stamp)[2])
    assert (ref - got).abs().max() < TOL_R


def test_exported_graphs_have_only_static_shapes(exported):
    """What TensorRT and ONNX Runtime's CUDA provider need: every input, output and
    intermediate value has a fixed shape (no symbolic dimension) in both graphs."""
    import onnx

    model = load_model(default_checkpoint())
    onnx_model(model, exported)
    for name in ("single", "stream"):
        graph = onnx.shape_inference.infer_shapes(
            onnx.load(exported / weights_digest(model) / f"{name}.onnx")
        ).graph
        values = [*graph.input, *graph.output, *graph.value_info]
        dims = [d for v in values for d in v.type.tensor_type.shape.dim]
        assert len(values) > 100 and dims
        symbolic = [
            v.name for v in values for d in v.type.tensor_type.shape.dim if not d.HasField("dim_value")
        ]
        assert symbolic == [], f"{name}.onnx: symbolic shapes in {symbolic[:5]}"


def test_auto_takes_onnx_runtime_where_it_runs_and_torch_elsewhere():
    from seqpose_core.onnx_backend import resolve_backend

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_backend("auto", cpu, "fp32", compile=False) == "onnxruntime"
    assert resolve_backend("auto", cpu, "bf16", compile=False) == "torch"
    assert resolve_backend("auto", cpu, "fp32", compile=True) == "torch"
    assert resolve_backend("auto", cuda, "fp32", compile=False) == "torch"
    assert resolve_backend("torch", cpu, "fp32", compile=False) == "torch"
