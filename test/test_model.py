"""The network, its memory, matcher, losses and checkpoints."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqpose_core.categories import symmetric_about_y
from seqpose_core.checkpoint import CheckpointError, load_model, save_model
from seqpose_core.geometry import rotation_about_y
from seqpose_core.model.anchors import anchors_to_points, points_to_anchors, project_to_grid
from seqpose_core.model.config import tiny_config
from seqpose_core.model.criterion import SetCriterion
from seqpose_core.model.matcher import HungarianMatcher, rotation_distance
from seqpose_core.model.sampling import build_pyramid, sample_pyramid
from seqpose_core.model.seqpose import SeqPose

HW = (112, 154)
K = torch.tensor([[120.0, 0, 77.0], [0, 120.0, 56.0], [0, 0, 1]])


def model(**kw):
    torch.manual_seed(0)
    return SeqPose(tiny_config(input_size=HW, **kw))


def inputs(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, *HW, generator=g), K.repeat(b, 1, 1)


def fake_targets(b=2, n=3):
    g = torch.Generator().manual_seed(1)
    rot = torch.from_numpy(rotation_about_y(np.linspace(0, 2, b * n))).float().view(b, n, 3, 3)
    return {
        "class_ids": torch.randint(1, 7, (b, n), generator=g),
        "translations": torch.rand(b, n, 3, generator=g) * 0.2 + torch.tensor([0, 0, 0.8]),
        "rotations": rot,
        "sizes": torch.rand(b, n, 3, generator=g) * 0.1 + 0.05,
        "handle_visible": torch.ones(b, n, dtype=torch.bool),
        "valid": torch.ones(b, n, dtype=torch.bool),
        "depth": torch.rand(b, 1, *HW, generator=g) + 0.5,
        "normals": torch.nn.functional.normalize(torch.randn(b, 3, *HW, generator=g), dim=1),
        "class_mask": torch.randint(0, 7, (b, *HW), generator=g),
    }


def test_output_shapes_single_and_multi_frame():
    m = model()
    image, k = inputs()
    sf = m(image, k)
    q = m.cfg.num_queries
    assert len(sf["layers"]) == m.cfg.num_layers
    last = sf["layers"][-1]
    assert last["logits"].shape == (2, q, 6) and last["translation"].shape == (2, q, 3)
    assert last["rotation"].shape == (2, q, 3, 3) and last["size"].shape == (2, q, 3)
    assert sf["aux"]["depth"].shape == (2, 1, 32, 44) and sf["aux"]["seg"].shape == (2, 7, 32, 44)
    memory = m.new_memory()
    for t in range(3):
        out = m(image, k, memory, torch.full((2,), 0.1 * t))
        m.remember(memory, out, torch.full((2,), 0.1 * t))
    # the previous frame's top-K join the learnable queries
    assert out["layers"][-1]["logits"].shape == (2, q + m.cfg.memory_topk, 6)
    rot = out["layers"][-1]["rotation"]
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), torch.eye(3).expand_as(rot), atol=1e-5, rtol=0)


def test_gradients_reach_every_trainable_part_and_not_the_frozen_encoder():
    m = model(freeze_encoder=True)
    image, k = inputs()
    memory = m.new_memory()
    crit = SetCriterion()
    out = m(image, k, memory, torch.zeros(2))
    m.remember(memory, out, torch.zeros(2))
    out = m(image, k, memory, torch.full((2,), 0.1))  # memory in use: the pose-aware norm runs
    crit(out, fake_targets())["total"].backward()
    for name, p in m.named_parameters():
        if name.startswith("features.encoder."):
            assert not p.requires_grad and p.grad is None, name
        elif p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert any(n.startswith("features.decoder.") for n in trainable)


def test_matcher_batched_equals_one_by_one_and_handles_empty_images():
    m = model()
    image, k = inputs(3)
    pred = {k_: v.detach() for k_, v in m(image, k)["layers"][-1].items()}
    t = fake_targets(3)
    t["valid"][1] = False  # an image with no objects
    t["valid"][2, 2] = False
    matcher = HungarianMatcher()
    batched = matcher(pred, t)
    assert len(batched[1][0]) == 0 and len(batched[2][0]) == 2 and len(batched[0][0]) == 3
    for b in range(3):
        single = matcher(
            {k_: v[b : b + 1] for k_, v in pred.items()}, {k_: v[b : b + 1] for k_, v in t.items()}
        )
        assert torch.equal(single[0][0], batched[b][0]) and torch.equal(single[0][1], batched[b][1])
    losses = SetCriterion()(m(image, k), t)
    assert torch.isfinite(losses["total"])


def test_rotation_loss_of_a_bottle_ignores_turns_about_y_but_a_cameras_does_not():
    base = torch.from_numpy(
        rotation_about_y(0.3) @ np.array([[1.0, 0, 0], [0, 0.8, -0.6], [0, 0.6, 0.8]])
    ).float()
    turned = base @ torch.from_numpy(rotation_about_y(1.2)).float()
    pred = torch.from_numpy(rotation_about_y(0.1)).float() @ base
    for cls, invariant in ((1, True), (3, False)):
        sym = symmetric_about_y(torch.tensor(cls), torch.tensor(True))
        a, b = rotation_distance(pred, base, sym), rotation_distance(pred, turned, sym)
        assert torch.isclose(a, b, atol=1e-6) == invariant
    mug_hidden = symmetric_about_y(torch.tensor(6), torch.tensor(False))
    assert mug_hidden and not symmetric_about_y(torch.tensor(6), torch.tensor(True))


def test_a_3d_sampling_point_projects_to_the_pixel_computed_by_hand():
    k = torch.tensor([[[500.0, 0, 160.0], [0, 400.0, 120.0], [0, 0, 1]]])
    point = torch.tensor([[[0.1, -0.05, 2.0]]])
    pixels, grid, in_front = project_to_grid(point, k, (240, 320))
    # u = 500 * 0.1 / 2 + 160 = 185; v = 400 * -0.05 / 2 + 120 = 110
    torch.testing.assert_close(pixels, torch.tensor([[[185.0, 110.0]]]))
    torch.testing.assert_close(grid, torch.tensor([[[(185.5 / 320) * 2 - 1, (110.5 / 240) * 2 - 1]]]))
    assert in_front.all()
    assert not project_to_grid(torch.tensor([[[0.1, 0.0, -1.0]]]), k, (240, 320))[2].any()
    logits = points_to_anchors(point, k, (240, 320), (0.2, 2.5))
    torch.testing.assert_close(anchors_to_points(logits, k, (240, 320), (0.2, 2.5)), point, atol=1e-4, rtol=0)


def test_memory_keeps_n_times_k_entries_in_frame_order_and_empties_on_reset():
    m = model()
    image, k = inputs()
    memory = m.new_memory()
    n, top = m.cfg.memory_frames, m.cfg.memory_topk
    previous_ids = None
    for t in range(5):
        stamp = torch.full((2,), 0.1 * t)
        out = m(image, k, memory, stamp)
        if previous_ids is not None:  # propagated queries keep their ids
            assert torch.equal(out["track_ids"][:, :top], previous_ids)
        m.remember(memory, out, stamp)
        previous_ids = memory.latest.track_ids.clone()
        assert len(memory) == min(t + 1, n)
    entries = memory.gather()
    assert entries.embed.shape == (2, n * top, m.cfg.d_model)
    stamps = entries.stamp[0].view(n, top)[:, 0].tolist()
    assert stamps == pytest.approx([0.2, 0.3, 0.4])
    assert not entries.embed.requires_grad
    memory.reset()
    assert len(memory) == 0 and memory.gather() is None


def test_checkpoint_round_trip_reproduces_outputs_exactly(tmp_path):
    m = model().eval()
    image, k = inputs()
    path = save_model(m, tmp_path / "tiny")
    assert path.suffix == ".safetensors" and path.with_suffix(".yaml").is_file()
    loaded = load_model(path, expected=m.cfg).eval()
    with torch.no_grad():
        a, b = m(image, k), loaded(image, k)
    for key in ("logits", "translation", "rotation", "size"):
        assert torch.equal(a["layers"][-1][key], b["layers"][-1][key])
    with pytest.raises(
        CheckpointError, match=r"config does not match: num_queries: checkpoint 60 vs expected 61"
    ):
        load_model(path, expected=tiny_config(input_size=HW, num_queries=61))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"tiny\.safetensors: corrupt"):
        load_model(path)
    path.with_suffix(".yaml").unlink()  # corrupt weights without a config: the weights are named
    with pytest.raises(CheckpointError, match=r"tiny\.safetensors: corrupt"):
        load_model(path)
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors: no such file"):
        load_model(tmp_path / "nothing.safetensors")
    save_model(m, tmp_path / "lonely").with_suffix(".yaml").unlink()
    with pytest.raises(CheckpointError, match=r"lonely\.yaml: no such file"):
        load_model(tmp_path / "lonely.safetensors")


def test_inference_pruning_keeps_the_best_first_layer_queries_and_every_carried_one():
    image, k = inputs()
    pruned = model(infer_queries=12).eval()
    seen: dict[str, torch.Tensor] = {}
    dec = pruned.decoder
    dec.heads[0].cls.register_forward_hook(lambda _m, _i, o: seen.update(score=o.amax(-1)))
    dec.layers[0].norms[2].register_forward_hook(lambda _m, _i, o: seen.update(out0=o))  # layer 0's output
    # without memory the second layer's attention takes its input queries as values
    dec.layers[1].temporal.register_forward_pre_hook(lambda _m, i: seen.update(in1=i[2]))
    memory, stamps = pruned.new_memory(), torch.zeros(2)
    with torch.no_grad():
        for t in range(3):
            carried = memory.latest.track_ids.clone() if memory.latest is not None else None
            out = pruned(image, k, memory, stamps + 0.1 * t, with_aux=False)
            pruned.remember(memory, out, stamps + 0.1 * t)
            assert out["layers"][-1]["logits"].shape == (2, 12, 6) and out["embed"].shape[1] == 12
            if carried is None:  # the second layer gets the first layer's 12 best, in order
                best = seen["score"].topk(12, dim=1).indices.sort(dim=1).values
                expect = seen["out0"].gather(1, best[..., None].expand(-1, -1, seen["out0"].shape[-1]))
                assert torch.equal(seen["in1"], expect)
            else:  # every query carried from the previous frame survives, in front
                assert torch.equal(out["track_ids"][:, : carried.shape[1]], carried)
        pruned.train()
        assert pruned(image, k)["layers"][-1]["logits"].shape[1] == 60  # training never prunes
        a = model(infer_queries=0).eval()(image, k, with_aux=False)["layers"][-1]["translation"]
        b = model(infer_queries=60).eval()(image, k, with_aux=False)["layers"][-1]["translation"]
    assert torch.equal(a, b)


def test_pyramid_sampling_equals_grid_sample_in_value_and_gradient():
    """Points on, between and beyond the map edges (zero padding) on 2 levels, 2 heads."""
    torch.manual_seed(0)
    b, q, h, d, p = 2, 5, 2, 6, 3
    feats = [torch.randn(b, d, 7, 9, requires_grad=True), torch.randn(b, d, 4, 5, requires_grad=True)]
    grid = (torch.rand(b, q, h, 2, p, 2) * 2.6 - 1.3).requires_grad_()
    weights = torch.rand(b, q, h, 2, p, requires_grad=True)
    ours = sample_pyramid(build_pyramid(feats, h), grid, weights)
    ref = torch.zeros(b, q, h, d // h)
    for lvl, feat in enumerate(feats):
        per_head = feat.reshape(b * h, d // h, *feat.shape[2:])
        g = grid[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(b * h, q, p, 2)
        s = F.grid_sample(per_head, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        w = weights[:, :, :, lvl].permute(0, 2, 1, 3).reshape(b * h, 1, q, p)
        ref = ref + (s * w).sum(-1).view(b, h, d // h, q).permute(0, 3, 1, 2)
    ref = ref.reshape(b, q, d)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    upstream = torch.randn(b, q, d)
    leaves = [*feats, grid, weights]
    got = torch.autograd.grad((ours * upstream).sum(), leaves)
    want = torch.autograd.grad((ref * upstream).sum(), leaves)
    for g_ours, g_ref in zip(got, want, strict=True):
        torch.testing.assert_close(g_ours, g_ref, atol=1e-4, rtol=1e-4)


def test_single_frame_first_attention_is_kept_per_weights_and_recomputed_when_they_change():
    net = model(dense_queries=0).eval()  # without memory and dense queries layer 0's attention is constant
    image, k = inputs()

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():  # the kept constant
            kept = net(image, k, with_aux=False)["layers"][-1]["translation"]
        computed = net(image, k, with_aux=False)["layers"][-1]["translation"]  # grad on: computed
        return kept, computed.detach()

    kept, computed = both()
    torch.testing.assert_close(kept, computed, rtol=0, atol=1e-6)
    assert net.decoder._first is not None
    with torch.no_grad():
        net.decoder.content.weight.add_(0.5)
        net.decoder.layers[0].temporal.out_proj.weight.mul_(2.0)
    kept_after, computed_after = both()
    torch.testing.assert_close(kept_after, computed_after, rtol=0, atol=1e-6)
    assert not torch.allclose(kept_after, kept)  # the change mattered


def test_inference_computes_the_depth_head_at_the_selected_peaks_only_and_gives_the_same_queries():
    m = model(dense_queries=8)
    m.eval()
    image, k = inputs()
    with torch.no_grad():
        full = m(image, k, with_aux=True)
        calls = []
        hook = m.aux.depth.register_forward_hook(lambda *_: calls.append(1))
        sparse = m(image, k, with_aux=False)
        hook.remove()
        feats = m.features(image)
        x = m.aux.inputs(feats["z"][0], feats["g0"])
        idx = torch.randint(0, x.shape[2] * x.shape[3], (2, 20))
        at = m.aux.depth_at(x, idx)
    assert not calls  # the depth map is never computed whole at inference
    torch.testing.assert_close(at, full["aux"]["depth"].flatten(1).gather(1, idx), rtol=1e-5, atol=1e-5)
    for name in ("logits", "translation", "rotation", "size"):
        torch.testing.assert_close(sparse["layers"][-1][name], full["layers"][-1][name], rtol=1e-4, atol=1e-5)
