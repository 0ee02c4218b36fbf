"""Reduced precision at inference: fp32, bf16 (autocast) and int8 (dynamic quantisation).

Both act on the DINOv2 encoder alone, which takes most of the time (ViT-S: about 70 % of a
fp32 frame): bf16 runs it under ``torch.autocast`` in bfloat16 (AVX-512 BF16 on
recent x86 CPUs, tensor cores on GPUs) and hands fp32 tokens on; int8 replaces its linear
layers with dynamically quantised ones (weights int8, activations quantised per batch; CPU
only). The DPT decoder, the fusion, the query decoder and the heads stay in fp32. Chosen
on the validation scenes (data/synth_val2) with the embedded model: with the DPT decoder
and fusion in bf16 too, or every linear layer in int8, mean APs moved by up to 1.9 and 1.5
points against fp32 (0.5 and 0.8 with the encoder alone). The tolerances the test holds
each to are in test/test_precision.py.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from seqpose_core.model.backbone import FeatureExtractor

PRECISIONS = ("fp32", "bf16", "int8")


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision 'int8' (dynamic quantisation) runs on cpu only, not {device}")


def prepare_model(model: nn.Module, precision: str) -> nn.Module:
    """The model to run: itself (fp32), or a copy whose encoder runs under bf16 autocast, or a
    copy whose encoder has dynamically quantised linear layers (int8)."""
    if precision == "fp32":
        return model
    model = copy.deepcopy(model).eval()
    features = model.features
    if precision == "bf16":
        model.features = Bf16Features(features)
        return model
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        features.encoder = quantize_dynamic(features.encoder, {nn.Linear}, dtype=torch.qint8)
    return model


class Bf16Features(nn.Module):
    """A feature extractor whose encoder runs under bf16 autocast and returns fp32 tokens:
    the same stages the benchmark times, composed by the extractor's own ``forward``."""

    forward = FeatureExtractor.forward

    def __init__(self, features: FeatureExtractor):
        super().__init__()
        self.inner = features

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        with torch.autocast(image.device.type, dtype=torch.bfloat16):
            return [t.float() for t in self.inner.encode(image)]

    def decode(self, tokens: list[torch.Tensor], hw: tuple[int, int]) -> tuple[list, list]:
        return self.inner.decode(tokens, hw)

    def fuse_levels(self, s: list[torch.Tensor], g: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.inner.fuse_levels(s, g)
