"""Reduced precision at inference: fp32, bf16 (autocast) and int8 (dynamic quantisation).

bf16 runs the feature extractor (DINOv2 encoder, DPT decoder, level fusion: most of the
FLOPs) in bfloat16 under ``torch.autocast`` (AVX-512 BF16 on recent x86 CPUs, tensor
cores on GPUs) and hands fp32 features to the query decoder: with the decoder in bf16 too,
class probabilities of the embedded model moved by up to 0.3. int8 replaces the linear
layers with dynamically quantised ones (weights int8, activations quantised per batch;
CPU only). The tolerances the test holds each to are in test/test_precision.py.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "int8")


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision 'int8' (dynamic quantisation) runs on cpu only, not {device}")


def prepare_model(model: nn.Module, precision: str) -> nn.Module:
    """The model to run: itself (fp32), or a copy with its features under bf16 autocast, or a
    copy with dynamically quantised linear layers (int8)."""
    if precision == "bf16":
        model = copy.deepcopy(model)
        model.features = Bf16Features(model.features)
        return model
    if precision != "int8":
        return model
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


class Bf16Features(nn.Module):
    """A feature extractor run under bf16 autocast, its features returned in fp32."""

    def __init__(self, features: nn.Module):
        super().__init__()
        self.inner = features

    def forward(self, image: torch.Tensor) -> dict:
        with torch.autocast(image.device.type, dtype=torch.bfloat16):
            out = self.inner(image)
        return {k: [t.float() for t in v] if isinstance(v, list) else v.float() for k, v in out.items()}

    def __getattr__(self, name: str) -> object:  # encode, decode, fuse_levels, ... of the inner one
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)
