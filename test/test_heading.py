"""The classified heading: its geometry, its decoding, its loss and its place in the model."""

import math

import pytest
import torch
from test_model import fake_targets, inputs, model

from seqpose_core.geometry import rotation_about_y
from seqpose_core.model.config import tiny_config
from seqpose_core.model.criterion import SetCriterion
from seqpose_core.model.heading import (
    apply_heading,
    bin_centres,
    decode_heading,
    heading_angle,
    heading_targets,
)
from seqpose_core.model.rotation import ray_rotation, rot6d_to_matrix


def wrap(a: torch.Tensor) -> torch.Tensor:
    return torch.remainder(a + math.pi, 2 * math.pi) - math.pi


def random_poses(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    rot = rot6d_to_matrix(torch.randn(n, 6, generator=g))
    t = torch.randn(n, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 1.0])
    return rot, t


def test_setting_a_rotations_own_heading_gives_it_back_and_keeps_the_up_axis():
    rot, t = random_poses()
    assert torch.allclose(apply_heading(rot, t, heading_angle(rot, t)), rot, atol=1e-5)
    turned = apply_heading(rot, t, heading_angle(rot, t) + 0.7)
    assert torch.allclose(turned[..., :, 1], rot[..., :, 1])
    change = wrap(heading_angle(turned, t) - heading_angle(rot, t))
    assert torch.allclose(change, torch.full((len(t),), 0.7), atol=1e-5)
    assert torch.allclose(torch.linalg.det(turned), torch.ones(len(t)), atol=1e-5)


def test_heading_is_what_the_view_shows_and_survives_a_top_down_view():
    # Moving an object sideways while it keeps its camera-frame rotation changes the view of it:
    # the allocentric heading changes by the angle the viewing ray turned about the up axis.
    rot = torch.from_numpy(rotation_about_y(0.4)).float()
    ahead, aside = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 1.0])
    change = float(wrap(heading_angle(rot, ahead) - heading_angle(rot, aside)))
    assert change == pytest.approx(math.pi / 4, abs=1e-5)
    down = torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # up axis along the viewing ray
    angle = heading_angle(down, torch.tensor([0.0, 0.0, 1.0]))
    assert torch.isfinite(angle)
    assert torch.allclose(apply_heading(down, torch.tensor([0.0, 0.0, 1.0]), angle), down, atol=1e-5)


def test_soft_targets_decode_to_their_angle_within_a_twentieth_of_a_bin():
    angles = torch.linspace(-math.pi, math.pi, 97)
    for bins in (12, 24, 36):
        decoded = decode_heading(heading_targets(angles, bins).clamp_min(1e-9).log())
        assert wrap(decoded - angles).abs().max() < 0.05 * 2 * math.pi / bins
        assert torch.allclose(heading_targets(angles, bins).sum(-1), torch.ones(len(angles)))


def test_two_headings_decode_to_the_likelier_one_not_to_their_average():
    bins = 24
    logits = torch.full((bins,), -10.0)
    logits[0], logits[bins // 2] = 3.0, 2.5  # front 0 rad, back pi: the view leaves both open
    assert abs(float(decode_heading(logits))) < math.radians(1)
    logits[bins // 2] = 3.5
    assert abs(abs(float(decode_heading(logits))) - math.pi) < math.radians(1)
    assert bin_centres(bins)[bins // 2] == pytest.approx(math.pi)


def test_heading_loss_skips_symmetric_objects_and_is_lowest_at_the_true_heading():
    t = fake_targets()
    t["class_ids"][:] = 3  # cameras: they have a heading
    b_idx, gt_idx = torch.tensor([0, 0, 1]), torch.tensor([0, 2, 1])
    angle = heading_angle(t["rotations"][b_idx, gt_idx], t["translations"][b_idx, gt_idx])
    crit = SetCriterion()
    right = crit.heading_error(heading_targets(angle, 24).clamp_min(1e-9).log(), t, b_idx, gt_idx).sum()
    wrong = crit.heading_error(heading_targets(angle + 1.0, 24).clamp_min(1e-9).log(), t, b_idx, gt_idx).sum()
    assert right < wrong
    t["class_ids"][:] = 1  # bottles: no heading, no loss
    assert crit.heading_error(torch.randn(3, 24), t, b_idx, gt_idx).sum() == 0


def test_model_with_heading_bins_trains_the_classifier_and_infers_with_it():
    with pytest.raises(ValueError, match="heading_bins"):
        tiny_config(heading_bins=2)
    m = model(heading_bins=24)
    image, k = inputs()
    out = m(image, k, with_aux=False)
    layer = out["layers"][-1]
    assert layer["heading_logits"].shape == (*layer["logits"].shape[:2], 24)
    crit = SetCriterion()
    targets = fake_targets()
    targets["class_ids"][:] = 3
    losses = crit(out, targets)
    assert "heading" in losses and losses["heading"] > 0
    losses["total"].backward()
    assert m.decoder.heads[-1].heading.weight.grad.abs().sum() > 0
    m.eval()
    with torch.no_grad():
        last = m(image, k, with_aux=False)["layers"][-1]
    six_d = rot6d_to_matrix(last["rot6d"])
    assert torch.allclose(last["rotation"][..., :, 1], six_d[..., :, 1], atol=1e-6)
    decoded = decode_heading(last["heading_logits"])
    got = heading_angle(last["rotation"], last["translation"])
    assert wrap(got - decoded).abs().max() < 1e-4
    assert not torch.allclose(last["rotation"], six_d, atol=1e-3)  # the heading is the classifier's
    assert model().decoder.heads[0].heading is None  # off by default: the shipped weights load as they are


def test_ray_rotation_turns_the_optical_axis_onto_the_ray_and_is_a_rotation():
    _, t = random_poses()
    ray = ray_rotation(t)
    assert torch.allclose(ray[..., :, 2], torch.nn.functional.normalize(t, dim=-1), atol=1e-5)
    assert torch.allclose(ray @ ray.transpose(-1, -2), torch.eye(3).expand_as(ray), atol=1e-5)
    assert torch.allclose(torch.linalg.det(ray), torch.ones(len(t)), atol=1e-5)
    assert torch.allclose(ray_rotation(torch.tensor([0.0, 0.0, 2.0])), torch.eye(3))


def test_rotation_read_relative_to_the_ray_keeps_what_the_view_shows():
    # The same rotation read in the ray's frame, for an object ahead and one aside: the
    # allocentric heading (what the image shows) is the same, the camera-frame one is not.
    with pytest.raises(ValueError, match="rotation_frame"):
        tiny_config(rotation_frame="object")
    m, image, k = model(rotation_frame="ray"), *inputs()
    m.eval()
    with torch.no_grad():
        last = m(image, k, with_aux=False)["layers"][-1]
    read = rot6d_to_matrix(last["rot6d"])
    assert torch.allclose(last["rotation"], ray_rotation(last["translation"]) @ read, atol=1e-5)
    rot = torch.from_numpy(rotation_about_y(0.4)).float()
    ahead, aside = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 0.0, 1.0])
    seen = [heading_angle(ray_rotation(t) @ rot, t) for t in (ahead, aside)]
    assert float(wrap(seen[0] - seen[1])) == pytest.approx(0.0, abs=1e-5)
