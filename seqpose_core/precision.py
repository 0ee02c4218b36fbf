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
from collections.abc import Callable
from typing import Any

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
    """A feature extractor whose stages run under bf16 autocast and return fp32: the same
    stages the benchmark times, composed by the extractor's own ``forward``."""

    forward = FeatureExtractor.forward

    def __init__(self, features: FeatureExtractor):
        super().__init__()
        self.inner = features

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        return self._bf16(self.inner.encode, image)

    def decode(self, tokens: list[torch.Tensor], hw: tuple[int, int]) -> tuple[list, list]:
        return self._bf16(self.inner.decode, tokens, hw)

    def fuse_levels(self, s: list[torch.Tensor], g: list[torch.Tensor]) -> list[torch.Tensor]:
        return self._bf16(self.inner.fuse_levels, s, g)

    def _bf16(self, stage: Callable, *args: object) -> Any:
        with torch.autocast(next(self.inner.parameters()).device.type, dtype=torch.bfloat16):
            return _fp32(stage(*args))


def _fp32(x: Any) -> Any:
    """Tensors (in lists and tuples) back to float32."""
    if isinstance(x, torch.Tensor):
        return x.float()
    return type(x)(_fp32(v) for v in x)
