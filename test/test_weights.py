"""Pretrained weights in the official formats: written with random values here, loaded back exactly."""

import pytest
import torch
from support.official_weights import dinov2_to_official
from transformers import DepthAnythingForDepthEstimation, Dinov2Model

from seqpose_core.model.backbone import depth_anything_config, dinov2_config
from seqpose_core.model.config import tiny_config
from seqpose_core.model.seqpose import build_model
from seqpose_core.model.weights import WeightsError

CFG = dict(input_size=(112, 154))


def random_dinov2(seed=0):
    torch.manual_seed(seed)
    return Dinov2Model(dinov2_config(tiny_config(**CFG))).eval()


def random_depth_anything(seed=1):
    torch.manual_seed(seed)
    return DepthAnythingForDepthEstimation(depth_anything_config(tiny_config(**CFG))).eval()


def official_depth_anything(da):
    """The official depth_anything_v2_*.pth layout of a transformers DepthAnything model."""
    sd = da.state_dict()
    out = {
        "pretrained." + k: v
        for k, v in dinov2_to_official(
            {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
        ).items()
    }
    refinenet = {0: 4, 1: 3, 2: 2, 3: 1}
    for k, v in sd.items():
        parts = k.split(".")
        if k.startswith("neck.reassemble_stage.layers."):
            kind = {"projection": "projects", "resize": "resize_layers"}[parts[4]]
            out[f"depth_head.{kind}.{parts[3]}.{parts[5]}"] = v
        elif k.startswith("neck.convs."):
            out[f"depth_head.scratch.layer{int(parts[2]) + 1}_rn.weight"] = v
        elif k.startswith("neck.fusion_stage.layers."):
            net = f"depth_head.scratch.refinenet{refinenet[int(parts[3])]}"
            if parts[4] == "projection":
                out[f"{net}.out_conv.{parts[5]}"] = v
            else:
                unit = parts[4][-1]
                out[f"{net}.resConfUnit{unit}.conv{parts[5][-1]}.{parts[6]}"] = v
        elif k.startswith("head."):  # the relative-depth output convolutions (skipped by our loader)
            out[
                f"depth_head.scratch.output_conv{1 if parts[1] == 'conv1' else 2}.{parts[1][-1]}.{parts[2]}"
            ] = v
    return out


def assert_same(module, reference_state, prefix=""):
    own = module.state_dict()
    for k, v in reference_state.items():
        if k.startswith(prefix):
            assert torch.equal(own[k[len(prefix) :]], v), k


@pytest.mark.parametrize("fmt", ["official", "huggingface"])
def test_dinov2_weights_load_in_both_formats(tmp_path, fmt):
    ref = random_dinov2()
    if fmt == "official":
        path = tmp_path / "dinov2_tiny14_pretrain.pth"
        torch.save(dinov2_to_official(ref.state_dict()), path)
    else:
        path = tmp_path / "dinov2-tiny"
        ref.save_pretrained(path)
    model = build_model(tiny_config(**CFG, encoder_weights=str(path)))
    assert_same(model.features.encoder, ref.state_dict())
    image = torch.rand(1, 3, 112, 154)
    with torch.no_grad():
        ours = model.features.encode(image)[-1]  # the last chosen layer is the final one for "tiny"
        theirs = ref((image - model.features.mean) / model.features.std).last_hidden_state
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("fmt", ["official", "huggingface"])
def test_depth_anything_weights_load_in_both_formats(tmp_path, fmt):
    ref = random_depth_anything()
    if fmt == "official":
        path = tmp_path / "depth_anything_v2_tiny.pth"
        torch.save(official_depth_anything(ref), path)
    else:
        path = tmp_path / "depth-anything-tiny"
        ref.save_pretrained(path)
    model = build_model(tiny_config(**CFG, decoder_weights=str(path)))
    assert_same(model.features.encoder, ref.state_dict(), "backbone.")
    assert_same(model.features.decoder, ref.state_dict(), "neck.")


def test_missing_and_mismatched_weights_are_named(tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.pth: no such file"):
        build_model(tiny_config(**CFG, encoder_weights=str(tmp_path / "nope.pth")))
    state = dinov2_to_official(random_dinov2().state_dict())
    state["blocks.0.mlp.fc1.weight"] = torch.zeros(7, 7)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"bad\.pth: does not fit .*shape mismatch .*mlp\.fc1\.weight"):
        build_model(tiny_config(**CFG, encoder_weights=str(tmp_path / "bad.pth")))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"junk\.pth: not a readable PyTorch state dict"):
        build_model(tiny_config(**CFG, decoder_weights=str(tmp_path / "junk.pth")))
    vitb = dinov2_to_official(random_dinov2().state_dict())
    del vitb["norm.weight"]
    torch.save(vitb, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"missing \['layernorm\.weight'\]"):
        build_model(tiny_config(**CFG, encoder_weights=str(tmp_path / "partial.pth")))
