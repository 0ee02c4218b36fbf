"""Reduced precision: bf16 and int8 against fp32 on the same frames, with memory."""

import numpy as np
import pytest
import torch

from seqpose_core.assets import default_checkpoint
from seqpose_core.checkpoint import load_model
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import Predictor

# Stated tolerances on the embedded model's 10 best queries per frame, over this test's 4
# frames with the memory carried: translation median and max (m), class probability median
# and max, size median (m), rotation median (deg). Measured on the embedded model (ImageNet
# EfficientNet-Lite0, #36): bf16 (encoder) 0.45 / 8.8 cm, probability 0.006 / 0.073, size 0.35
# mm, rotation 0.53 deg; bf16-all (the whole network under bf16 autocast, for GPUs; measured on
# this CPU) 0.29 / 13.0 cm, probability 0.007 / 0.062, size 0.31 mm, rotation 0.49 deg. The
# bounds are about twice those. The #45 model stays within them but for bf16-all's largest
# probability change, 0.144 (bf16: 0.31 / 5.9 cm, 0.005 / 0.064, 0.27 mm, 0.45 deg; bf16-all
# 0.23 / 6.0 cm, 0.004 / 0.144, 0.26 mm, 0.43 deg): that bound is twice it. int8 quantises
# linear layers, which Lite0 has none of: it is refused
# there and measured on the tiny ViT (random weights, seeded), where it moved nothing by more
# than 1 mm.
TOLERANCE = {
    "bf16": (0.01, 0.18, 0.012, 0.15, 0.0007, 1.1),
    "int8": (0.01, 0.08, 0.02, 0.2, 0.005, 2.0),
    "bf16-all": (0.006, 0.26, 0.014, 0.29, 0.0007, 1.0),
}


def model_for(precision: str) -> SeqPose:
    if precision == "int8":
        torch.manual_seed(0)
        return SeqPose(tiny_config(input_size=(168, 224)))
    return load_model(default_checkpoint())


def outputs(precision: str, frames: list) -> list[dict[str, torch.Tensor]]:
    """The last decoder layer's outputs per frame; "fp32-tiny": int8's reference."""
    model = model_for("int8" if precision == "fp32-tiny" else precision)
    precision = "fp32" if precision == "fp32-tiny" else precision
    predictor = Predictor(model, "cpu", multi_frame=True, precision=precision)
    seen: list = []
    predictor.model.decoder.register_forward_hook(lambda _m, _i, out: seen.append(out["layers"][-1]))
    for i, f in enumerate(frames):
        predictor.step(f.rgb, f.k, 0.1 * i)
    return seen


@pytest.mark.parametrize("precision", ["bf16", "int8", "bf16-all"])
def test_reduced_precision_stays_within_tolerance_of_fp32(synth_root, precision):
    data = NocsSubset(synth_root, "real_test")
    frames = [data.load(ref) for ref in data.frames]
    ref = outputs("fp32" if precision != "int8" else "fp32-tiny", frames)
    low = outputs(precision, frames)
    median_t, max_t, median_p, max_p, median_s, median_r = TOLERANCE[precision]
    dists, probs, sizes, angles = [], [], [], []
    for a, b in zip(ref, low, strict=True):
        # queries may come in another order (the memory's top-K, the dense heads' peaks), so
        # each of fp32's 10 best queries is compared with its counterpart: the nearest query
        best = a["logits"][0].sigmoid().amax(-1).topk(10).indices
        dist, match = torch.cdist(a["translation"][0, best], b["translation"][0].float()).min(1)
        dists.append(dist)
        diff = a["logits"][0, best].sigmoid() - b["logits"][0, match].float().sigmoid()
        probs.append(diff.abs().amax(-1))
        sizes.append((a["size"][0, best] - b["size"][0, match].float()).abs())
        angles.append(rotation_angle(a["rotation"][0, best], b["rotation"][0, match].float()))
    dist = torch.cat(dists)
    assert dist.median() < median_t and dist.max() < max_t
    prob = torch.cat(probs)
    assert prob.median() < median_p and prob.max() < max_p and torch.cat(sizes).median() < median_s
    assert torch.cat(angles).median() < median_r


def test_bf16_publishes_the_boxes_of_fp32(synth_root):
    """What the node publishes (threshold 0.2, memory carried): measured on these 4 frames with
    the embedded Lite0 model, bf16 moved 11 of 18 boxes by less than 1.0 cm of fp32's and the
    farthest by 32 cm, and one box changed class: a CNN encoder in bf16 on this CPU is far less
    faithful than the tiny ViT was (docs/benchmarks.md). The bounds: half the boxes within twice
    1.0 cm, none beyond twice 32 cm."""
    data = NocsSubset(synth_root, "real_test")
    frames = [data.load(ref) for ref in data.frames]
    published = {}
    for precision in ("fp32", "bf16"):
        predictor = Predictor(load_model(default_checkpoint()), "cpu", multi_frame=True, precision=precision)
        published[precision] = [predictor.step(f.rgb, f.k, 0.1 * i).estimates for i, f in enumerate(frames)]
    moves = []
    for a, b in zip(published["fp32"], published["bf16"], strict=True):
        assert abs(len(a) - len(b)) <= 1
        moves += [min(float(np.linalg.norm(x.translation - y.translation)) for y in b) for x in a]
    assert len(moves) > 10 and np.mean(np.array(moves) < 0.02) >= 0.5 and max(moves) < 0.65


def test_int8_is_refused_for_an_encoder_without_linear_layers():
    with pytest.raises(ValueError, match=r"int8.*LiteEncoder.*has none"):
        Predictor(load_model(default_checkpoint()), "cpu", precision="int8")


def rotation_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) rotations -> (N,) angles between them in degrees."""
    trace = (a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.rad2deg(torch.acos(((trace - 1) / 2).clamp(-1, 1)))


def test_unknown_or_unsupported_precision_is_refused():
    model = load_model(default_checkpoint())
    with pytest.raises(ValueError, match="precision 'fp16'"):
        Predictor(model, "cpu", precision="fp16")
    with pytest.raises(ValueError, match=r"int8.*cpu only"):
        Predictor(model, "meta", precision="int8")
    with pytest.raises(ValueError, match=r"fp16-all.*cuda only"):
        Predictor(model, "cpu", precision="fp16-all")


def test_the_noise_yardstick_stays_under_half_a_grey_level_and_is_seeded(synth_root):
    from training.synthetic_benchmark import InputNoisePredictor

    data = NocsSubset(synth_root, "real_test")
    frame = data.load(data.frames[0])
    model = load_model(default_checkpoint())
    clean = Predictor(model, "cpu").prepare(frame.rgb, frame.k)[0]
    noisy = [InputNoisePredictor(model, "cpu", seed=3).prepare(frame.rgb, frame.k)[0] for _ in range(2)]
    change = (noisy[0] - clean).abs()
    assert 0 < change.max() <= 0.5 / 255 + 1e-7 and change.mean() > 0.1 / 255
    assert torch.equal(noisy[0], noisy[1])


def test_the_change_table_takes_each_rows_largest_change_against_fp32_of_its_mode():
    from training.synthetic_benchmark import COLUMNS, change_table

    def row(method: str, shift: dict[str, float]) -> dict:
        return {"method": method, "exact": {c: 0.5 + shift.get(c, 0.0) for c in COLUMNS}}

    rows = [
        row("trained, SF", {}),
        row("trained, MF", {"5deg5cm": 0.1}),
        row("trained, SF, bf16", {"IoU25": -0.012, "5deg5cm": 0.004}),
        row("trained, MF, int8", {"5deg5cm": 0.1 + 0.03}),
        row("untrained, SF", {"IoU25": -0.5}),
    ]
    lines = change_table(rows).splitlines()[2:]
    assert lines == ["| trained, SF, bf16 | 1.2 |", "| trained, MF, int8 | 3.0 |"]
