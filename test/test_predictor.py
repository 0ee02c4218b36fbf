"""The streaming Predictor: numpy in, 9-DoF estimates out, memory per stream."""

import numpy as np
import pytest
import torch

from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import UNTRACKED, Predictor

FIELDS = ("translation", "rotation", "size")
K640 = np.array([[591.0, 0, 320.0], [0, 590.0, 240.0], [0, 0, 1]])


@pytest.fixture
def predictor():
    torch.manual_seed(0)
    model = SeqPose(tiny_config(input_size=(112, 154)))
    return Predictor(model, device="cpu", score_threshold=0.0, max_detections=5, max_gap=0.5)


def frame(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (480, 640, 3), dtype=np.uint8)


def test_step_returns_bounded_metric_estimates(predictor):
    out = predictor.step(frame(), K640, 0.0).estimates
    assert len(out) == 5
    assert [e.score for e in out] == sorted((e.score for e in out), reverse=True)
    for e in out:
        assert e.class_name in ("bottle", "bowl", "camera", "can", "laptop", "mug") and 1 <= e.class_id <= 6
        np.testing.assert_allclose(e.rotation @ e.rotation.T, np.eye(3), atol=1e-5)
        assert e.translation.shape == (3,) and e.size.shape == (3,) and (e.size > 0).all()
        assert 0.2 <= e.translation[2] <= 2.5  # anchors live in the configured depth range
        assert e.track_id > 0


def test_track_ids_persist_on_identical_frames(predictor):
    first = {e.track_id for e in predictor.step(frame(), K640, 0.0).estimates}
    second = predictor.step(frame(), K640, 0.1).estimates
    assert first & {e.track_id for e in second}, "no detection kept its id on an identical frame"
    remembered = set(predictor.memory.latest.track_ids[0].tolist())
    assert remembered & {e.query_id for e in second}, "no published estimate came from a remembered query"


def test_time_jumps_and_gaps_reset_the_memory(predictor):
    assert predictor.step(frame(), K640, 1.0).reset_reason == ""
    assert predictor.step(frame(), K640, 1.1).reset_reason == ""
    assert len(predictor.memory) == 2
    assert "time went back" in predictor.step(frame(), K640, 0.5).reset_reason
    assert len(predictor.memory) == 1
    assert "gap of 1.500 s exceeds 0.500 s" in predictor.step(frame(), K640, 2.0).reset_reason
    assert predictor.step(frame(), K640, 2.1).reset_reason == ""  # said once, by the step that reset
    predictor.reset()
    assert len(predictor.memory) == 0 and predictor.last_stamp is None


@pytest.mark.parametrize("multi_frame", [True, False])
def test_late_frames_are_refused_in_either_mode(multi_frame):
    p = Predictor(SeqPose(tiny_config(input_size=(112, 154))), "cpu", multi_frame, late_tolerance=0.3)
    p.step(frame(), K640, 1.0)
    for late in (1.0, 0.8):  # the same stamp again, or within the tolerance before it
        with pytest.raises(ValueError, match="stamp: out-of-order stamp"):
            p.step(frame(), K640, late)
    went_back = "time went back from 1.000 s to 0.500 s"
    assert p.step(frame(), K640, 0.5).reset_reason == (went_back if multi_frame else "")


def test_single_frame_mode_keeps_no_memory():
    torch.manual_seed(0)
    p = Predictor(SeqPose(tiny_config(input_size=(112, 154))), "cpu", multi_frame=False, score_threshold=0.0)
    a = p.step(frame(), K640, 0.0).estimates
    b = p.step(frame(), K640, 0.1).estimates
    assert len(p.memory) == 0 and all(e.track_id == UNTRACKED for e in a + b)
    np.testing.assert_allclose([e.translation for e in a], [e.translation for e in b])


@pytest.mark.parametrize(
    ("rgb", "k", "stamp", "message"),
    [
        (np.zeros((480, 640), np.uint8), K640, 0.0, "rgb must be a uint8 H x W x 3"),
        (np.zeros((480, 640, 3), np.float32), K640, 0.0, "rgb must be a uint8 H x W x 3"),
        (np.zeros((0, 640, 3), np.uint8), K640, 0.0, "rgb of 640 x 0 pixels is outside the accepted"),
        (np.zeros((2, 16000, 3), np.uint8), K640, 0.0, "rgb of 16000 x 2 pixels is outside the accepted"),
        (np.zeros((480, 4000, 3), np.uint8), K640, 0.0, "aspect ratio of at most 8"),
        (frame(), np.zeros((3, 3)), 0.0, "last row must be"),
        (frame(), np.full((3, 3), np.nan), 0.0, "K must be a finite 3 x 3"),
        (frame(), K640 * [[1, 1, 1], [1, 1, 1], [1, 1, 0]], 0.0, "last row must be"),
        (frame(), K640 * [[1e-12, 1, 1], [1, 1, 1], [1, 1, 1]], 0.0, "implausible for an image 640"),
        (frame(), K640 * [[1e12, 1, 1], [1, 1e12, 1], [1, 1, 1]], 0.0, "implausible for an image 640"),
        (frame(), np.add(K640, [[0, 0, 1e9], [0, 0, 0], [0, 0, 0]]), 0.0, "principal point"),
        (frame(), K640, float("nan"), "stamp must be a finite time"),
    ],
)
def test_bad_inputs_are_named(predictor, rgb, k, stamp, message):
    with pytest.raises(ValueError, match=message):
        predictor.step(rgb, k, stamp)


def test_epoch_stamps_keep_their_gaps(predictor):
    predictor.step(frame(), K640, 1_700_000_000.0)
    predictor.step(frame(), K640, 1_700_000_000.1)
    stamps = predictor.memory.gather().stamp[0]
    assert stamps.dtype == torch.float64
    assert float(stamps[-1] - stamps[0]) == pytest.approx(0.1, abs=1e-6)


# torch.compile (inductor, CPU) of the whole per-frame network against eager, over 10 frames
# with the memory carried from replay to replay: the same estimates to 1e-4 (measured: 3e-7,
# the same ids).
COMPILE_TOLERANCE = 1e-4


NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=NO_CUDA)])  # cuda: CUDA graphs
def test_the_compiled_network_gives_the_estimates_of_eager_over_10_frames(device):
    torch.manual_seed(0)
    cfg = tiny_config(input_size=(112, 154), dense_queries=20, infer_queries=30)
    eager_model = SeqPose(cfg)
    compiled_model = SeqPose(cfg)
    compiled_model.load_state_dict(eager_model.state_dict())
    eager = Predictor(eager_model, device, score_threshold=0.0, max_detections=20)
    compiled = Predictor(compiled_model, device, score_threshold=0.0, max_detections=20, compile=True)
    compiles = dict(torch._dynamo.utils.counters["stats"])  # compiled when built: frames compile nothing
    worst = 0.0
    for i in range(10):
        a, b = (p.step(frame(i % 3), K640, 0.1 * i).estimates for p in (eager, compiled))
        assert [(e.class_id, e.track_id, e.query_id) for e in a] == [
            (e.class_id, e.track_id, e.query_id) for e in b
        ]
        for x, y in zip(a, b, strict=True):
            worst = max(
                worst, abs(x.score - y.score), *(np.abs(getattr(x, n) - getattr(y, n)).max() for n in FIELDS)
            )
    assert len(compiled.memory) == 3 and worst < COMPILE_TOLERANCE
    assert dict(torch._dynamo.utils.counters["stats"]) == compiles
    with pytest.raises(ValueError, match="compile applies to the torch backend"):
        Predictor(eager_model, "cpu", backend="onnxruntime", compile=True)
