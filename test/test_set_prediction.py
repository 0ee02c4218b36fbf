"""Set-prediction training: anchor gradients, position-led matching, and the convergence switches."""

import numpy as np
import torch
from test_model import HW, fake_targets, inputs

from seqpose_core.model.config import tiny_config
from seqpose_core.model.criterion import SetCriterion
from seqpose_core.model.denoising import group_attention_mask
from seqpose_core.model.matcher import HungarianMatcher
from seqpose_core.model.position import QueryPositionEncoding, position_code
from seqpose_core.model.query_init import dense_anchors
from seqpose_core.model.seqpose import SeqPose


def build(**kw):
    torch.manual_seed(0)
    return SeqPose(tiny_config(input_size=HW, **kw))


def layer0_anchor_gradient(detach_first_ref: bool) -> float:
    m = build(detach_first_ref=detach_first_ref)
    image, k = inputs()
    out = m(image, k, with_aux=False)
    crit = SetCriterion()
    matches = crit.matcher(out["layers"][0], fake_targets())
    terms = crit.set_losses(out["layers"][0], fake_targets(), matches, 6.0)
    terms["translation"].backward()
    return float(m.decoder.anchors.weight.grad.abs().sum())


def test_anchor_embedding_gets_gradient_from_layer0_translation_loss():
    direct = layer0_anchor_gradient(detach_first_ref=False)
    detached = layer0_anchor_gradient(detach_first_ref=True)
    assert direct > 0
    assert direct > 20 * detached  # the first recipe's anchors learned almost nothing from the pose losses


ROT_B = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # 90 degrees about z: moves the y axis


def two_cans(positions):
    return {
        "class_ids": torch.full((1, 2), 4),
        "translations": torch.tensor([positions], dtype=torch.float32),
        "rotations": torch.stack([torch.eye(3), ROT_B])[None],  # object 0 upright, object 1 tipped
        "sizes": torch.full((1, 2, 3), 0.1),
        "handle_visible": torch.ones(1, 2, dtype=torch.bool),
        "valid": torch.ones(1, 2, dtype=torch.bool),
    }


def test_matching_follows_position_when_same_class_objects_swap():
    # Query 0 sits at a, upright and confident; query 1 at b, tipped. When the objects swap
    # positions (each keeping its rotation), position must win over rotation and class.
    a, b = [0.2, 0.0, 0.8], [-0.2, 0.05, 1.0]
    pred = {
        "logits": torch.tensor([[[-5, -5, -5, 3.0, -5, -5], [-5, -5, -5, -1.0, -5, -5]]]),
        "translation": torch.tensor([[[0.21, 0.01, 0.82], [-0.19, 0.04, 0.97]]]),
        "rotation": torch.stack([torch.eye(3), ROT_B])[None],
        "size": torch.full((1, 2, 3), 0.1),
    }
    for matcher, follows in (
        (HungarianMatcher(), True),
        (HungarianMatcher(1, 1, 10, 1, normalized=False), False),
    ):
        q, g = matcher(pred, two_cans([a, b]))[0]
        assert dict(zip(q.tolist(), g.tolist(), strict=True)) == {0: 0, 1: 1}
        q, g = matcher(pred, two_cans([b, a]))[0]
        swapped = dict(zip(q.tolist(), g.tolist(), strict=True)) == {0: 1, 1: 0}
        assert (
            swapped == follows
        )  # the first recipe's costs (rotation 10, metres) kept the rotation's pairing


def test_position_code_and_sine_encoding():
    t = torch.tensor([[0.4, -0.2, 2.0]])
    torch.testing.assert_close(position_code(t), torch.tensor([[0.2, -0.1, float(np.log(2.0))]]))
    enc = QueryPositionEncoding(64, "sine")
    near = enc(torch.tensor([[0.50, 0.5, 0.5], [0.51, 0.5, 0.5]]))
    assert not torch.allclose(near[0], near[1])


def test_group_mask_keeps_denoising_and_groups_apart():
    mask = group_attention_mask([3, 3, 2, 2], [True, False, True, True], torch.device("cpu"))
    assert not mask[:3, :3].any() and mask[:3, 3:].all()  # matching queries see only themselves
    assert mask[3:6, :3].all() and mask[3:6, 6:].all()  # an extra group sees only itself
    assert not mask[6:8, :3].any() and mask[6:8, 8:].all()  # denoising group 0: itself and matching
    assert mask[8:, 6:8].all()  # ... never another denoising group


def test_denoising_queries_cannot_influence_matching_queries():
    m = build(dn_groups=2, train_groups=2)
    image, k = inputs()
    targets = fake_targets()
    torch.manual_seed(5)
    out = m(image, k, targets=targets)
    with torch.no_grad():
        m.decoder.label_embed.weight.mul_(3.0)  # changes every denoising query, nothing else
    torch.manual_seed(5)
    changed = m(image, k, targets=targets)
    torch.testing.assert_close(out["layers"][-1]["logits"], changed["layers"][-1]["logits"])
    torch.testing.assert_close(out["groups"][0][-1]["translation"], changed["groups"][0][-1]["translation"])
    assert not torch.allclose(out["dn"]["layers"][-1]["logits"], changed["dn"]["layers"][-1]["logits"])


def test_switches_change_the_loss_terms_and_vanish_at_inference():
    m = build(dn_groups=2, train_groups=3)
    image, k = inputs()
    targets = fake_targets()
    losses = SetCriterion()(m(image, k, targets=targets), targets)
    assert {"group_class", "dn_class", "dn_translation", "class_0"} <= set(losses)
    dn = m(image, k, targets=targets)["dn"]
    assert dn["queries"].valid.shape == (2, 2 * 3) and len(dn["layers"]) == m.cfg.num_layers
    plain = SetCriterion()(build()(image, k, targets=targets), targets)
    assert not any(key.startswith(("group_", "dn_")) for key in plain)
    m.eval()
    with torch.no_grad():
        out = m(image, k, targets=targets)
    assert "dn" not in out and "groups" not in out and len(out["layers"]) == 1
    assert out["layers"][-1]["logits"].shape[1] == m.cfg.num_queries


def test_denoising_loss_rewards_reconstructing_the_truth():
    m = build(dn_groups=1, dn_noise=0.0, dn_label_noise=0.0)
    image, k = inputs()
    targets = fake_targets()
    out = m(image, k, targets=targets)
    crit = SetCriterion()
    dn = out["dn"]
    layer = {key: v.detach().clone() for key, v in dn["layers"][-1].items()}
    before = crit.denoising_losses(layer, targets, dn["queries"], 6.0)["translation"]
    idx = dn["queries"].object_index
    layer["translation"] = targets["translations"][:, idx]
    after = crit.denoising_losses(layer, targets, dn["queries"], 6.0)["translation"]
    assert before > 0 and float(after) == 0.0


def test_dense_anchors_sit_on_segmentation_peaks_at_predicted_depth():
    seg = torch.full((1, 7, 8, 10), -5.0)
    seg[:, 0] = 5.0  # background everywhere ...
    seg[0, 0, 2, 3], seg[0, 4, 2, 3] = -5.0, 5.0  # ... but a can at row 2, column 3
    seg[0, 0, 6, 8], seg[0, 2, 6, 8] = -5.0, 3.0  # and a weaker bowl at row 6, column 8
    depth = torch.full((1, 1, 8, 10), 1.0)
    depth[0, 0, 2, 3] = 0.9
    frac = torch.sigmoid(dense_anchors(seg, depth, 2, (0.2, 2.5)))[0]
    torch.testing.assert_close(frac[0], torch.tensor([3.5 / 10, 2.5 / 8, 0.7 / 2.3]))
    torch.testing.assert_close(frac[1, :2], torch.tensor([8.5 / 10, 6.5 / 8]))


def test_dense_queries_follow_the_dense_heads():
    m = build(dense_queries=20)
    m.eval()
    image, k = inputs()
    with torch.no_grad():
        out = m(image, k, with_aux=False)
    assert out["layers"][-1]["translation"].shape == (2, m.cfg.num_queries, 3)
    assert m.decoder.anchors.weight.shape[0] == m.cfg.num_queries - 20


def test_the_batched_criterion_gives_each_sets_own_losses():
    """Every layer and query group (and every denoising layer) in one batch gives, term by
    term, what each set gives on its own; a padded object slot changes nothing."""
    m = build(dense_queries=6, train_groups=3, dn_groups=2)
    image, k = inputs()
    targets = fake_targets()
    targets["valid"][1, 2] = False  # image 1 has two objects and a padded slot
    targets["class_ids"][1, 2] = 0
    out = m(image, k, targets=targets)
    crit = SetCriterion()
    got = crit(out, targets)
    num = targets["valid"].sum().float()
    layers, groups = out["layers"], [layer for group in out["groups"] for layer in group]
    want: dict[str, torch.Tensor] = {}

    def add(prefix: str, suffix: str, terms: dict) -> None:
        for name, value in terms.items():
            key = prefix + name + suffix
            want[key] = want.get(key, 0.0) + crit.weights[name] * value

    for i, layer in enumerate(layers):
        add(
            "",
            "" if i == len(layers) - 1 else f"_{i}",
            crit.set_losses(layer, targets, crit.matcher(layer, targets), num),
        )
    for layer in groups:
        add("group_", "", crit.set_losses(layer, targets, crit.matcher(layer, targets), num))
    dn = out["dn"]["queries"]
    for layer in out["dn"]["layers"]:
        add("dn_", "", crit.denoising_losses(layer, targets, dn, num * dn.groups))
    assert len(groups) == 2 * len(layers) and set(want) < set(got)
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6)
