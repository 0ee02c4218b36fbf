"""The training step's mixed precision, its batched matching and its host reads."""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from test_model import HW, fake_targets, inputs

from seqpose_core.categories import symmetric_about_y
from seqpose_core.model.config import tiny_config
from seqpose_core.model.criterion import SetCriterion
from seqpose_core.model.matcher import HungarianMatcher, rotation_distance
from seqpose_core.model.position import position_code
from seqpose_core.model.seqpose import SeqPose
from training.engine import train_step

# Measured on this test's batch: the largest relative change of a loss term under bf16 autocast
# was 0.05 (most are below 0.01); bf16 keeps 8 bits of mantissa, so 0.1 is the stated bound.
BF16_LOSS_TOLERANCE = 0.1


def dense_model():
    torch.manual_seed(0)
    return SeqPose(tiny_config(input_size=HW, dense_queries=6, train_groups=2, dn_groups=2))


def clip(frames=2, b=2):
    batches = []
    for t in range(frames):
        image, k = inputs(b, seed=t)
        batches.append({**fake_targets(b), "image": image, "k": k, "stamp": torch.full((b,), 0.1 * t)})
    batches[-1]["valid"][1, 2] = False  # padded slot
    return batches


def step(model, amp_cpu):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)  # the denoising noise
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp_cpu):
        losses = train_step(model, SetCriterion(), clip(), torch.device("cpu"), amp=True)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return losses, grads


def test_a_training_step_under_bf16_autocast_has_finite_gradients_and_losses_near_fp32():
    model = dense_model()
    model.train()
    fp32, _ = step(model, amp_cpu=False)
    bf16, grads = step(model, amp_cpu=True)
    assert grads and all(torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("decoder.layers.0.geometric"))
    for name, value in fp32.items():
        a, b = float(value), float(bf16[name])
        assert abs(a - b) <= BF16_LOSS_TOLERANCE * max(abs(a), 1e-3), f"{name}: fp32 {a} vs bf16 {b}"
        assert bf16[name].dtype == torch.float32, f"{name} is not kept in fp32"


def reference_cost(m, pred, t, b):
    """The matching cost of one image written plainly, one term at a time."""
    valid = t["valid"][b]
    cls, tr, rot, size = (t[k][b][valid] for k in ("class_ids", "translations", "rotations", "sizes"))
    prob = pred["logits"][b].sigmoid()[:, cls - 1]
    neg = 0.75 * prob**2 * -(1 - prob + 1e-8).log()
    pos = 0.25 * (1 - prob) ** 2 * -(prob + 1e-8).log()
    sym = symmetric_about_y(cls, t["handle_visible"][b][valid])
    r = rotation_distance(pred["rotation"][b][:, None], rot[None], sym[None])
    p_pos, t_pos = position_code(pred["translation"][b]), position_code(tr)
    p_size, t_size = pred["size"][b].log(), size.log()
    return pos - neg + 10 * torch.cdist(p_pos, t_pos, p=1) + r + torch.cdist(p_size, t_size, p=1)


def test_batched_matching_of_every_layer_equals_the_plain_per_image_assignment():
    m = dense_model()
    m.train()
    image, k = inputs(3)
    t = fake_targets(3)
    t["valid"][1] = False
    t["valid"][2, 1:] = False
    out = m(image, k, targets={**t, "image": image, "k": k})
    preds = [{n: v.detach() for n, v in layer.items()} for layer in out["layers"]]
    matched = HungarianMatcher().match_all(preds, t)
    assert len(matched) == len(preds)
    for pred, per_image in zip(preds, matched, strict=True):
        for b in range(3):
            cost = reference_cost(HungarianMatcher(), pred, t, b)
            rows, cols = linear_sum_assignment(cost.numpy()) if cost.shape[1] else ([], [])
            assert np.array_equal(per_image[b][0], rows) and np.array_equal(per_image[b][1], cols)


def test_a_training_step_reads_nothing_on_the_host():
    """Counted by the profiler, which sees the backward's reads too (a dispatch mode does not:
    prod()'s backward once read the host on every call)."""
    model = dense_model()
    model.train()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        train_step(model, SetCriterion(), clip(frames=3), torch.device("cpu"), amp=False)
    names = [e.name for e in prof.events()]
    assert "aten::embedding_bag" in names or "aten::_embedding_bag" in names  # the step was seen
    assert names.count("aten::_local_scalar_dense") == 0


def test_dense_every_supervises_the_dense_heads_on_the_last_frame_of_a_clip_with_its_weight():
    model = dense_model()
    model.train()
    calls = []
    model.aux.normal.register_forward_hook(lambda *_: calls.append(1))
    batches = clip(frames=2)
    torch.manual_seed(3)
    every = train_step(model, SetCriterion(), batches, torch.device("cpu"), amp=False, dense_every=2)
    assert len(calls) == 1  # the first frame computed no normal map
    with torch.no_grad():  # the dense heads see the image alone: the last frame's terms, directly
        feats = model.features(batches[1]["image"])
        last = SetCriterion().dense_losses(model.aux(feats["z"][0], feats["g0"]), batches[1])
    for name in ("depth", "normal", "seg"):
        # averaged over the 2 frames of the clip, weighted 2 on the one frame that has them
        torch.testing.assert_close(every[name], last[name], rtol=1e-5, atol=1e-6)


def test_features_every_trains_the_encoder_on_the_last_frame_alone_and_the_rest_on_every_frame():
    model = dense_model()
    model.train()
    batches = clip(frames=3)

    def grads(every):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)
        train_step(model, SetCriterion(), batches, torch.device("cpu"), amp=False, features_every=every)
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    every_frame, last_only = grads(1), grads(3)
    model.zero_grad(set_to_none=True)  # the reference: the clip run by hand, only its last frame's
    torch.manual_seed(3)  # loss backpropagated (over the clip's 3 frames, as train_step weighs it)
    memory = model.new_memory()
    for t, frame in enumerate(batches):
        out = model(frame["image"], frame["k"], memory, frame["stamp"], targets=frame)
        loss = SetCriterion()(out, frame)["total"] / len(batches)
        if t == len(batches) - 1:
            loss.backward()
        model.remember(memory, out, frame["stamp"])
    encoder = [n for n in last_only if n.startswith("features.")]
    assert encoder
    for n in encoder:
        torch.testing.assert_close(last_only[n], dict(model.named_parameters())[n].grad, rtol=1e-4, atol=1e-7)
    assert any(not torch.allclose(last_only[n], every_frame[n]) for n in encoder)
    for n in every_frame:  # the heads and the decoder see the same features either way
        if not n.startswith("features."):
            torch.testing.assert_close(last_only[n], every_frame[n], rtol=1e-4, atol=1e-7)
