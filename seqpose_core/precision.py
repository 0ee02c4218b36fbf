"""Reduced precision at inference: fp32, bf16 (autocast) and int8 (dynamic quantisation) of the
encoder, and bf16-all / fp16-all (autocast of the whole network, for GPUs).

bf16 and int8 act on the DINOv2 encoder alone, which takes most of the time (ViT-S: about 70 % of a
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
from typing import Any

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "int8", "bf16-all", "fp16-all")
# The whole network under autocast (GPUs): matrix products and convolutions in half
# precision; norms, softmax, the 6D -> rotation step and the anchor geometry stay fp32.
WHOLE_NETWORK = {"bf16-all": torch.bfloat16, "fp16-all": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision 'int8' (dynamic quantisation) runs on cpu only, not {device}")
    if precision == "fp16-all" and device.type != "cuda":
        raise ValueError(f"precision 'fp16-all' runs on cuda only, not {device}")


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The dtype the whole network runs in under autocast, or None (its own precision)."""
    return WHOLE_NETWORK.get(precision)


def prepare_model(model: nn.Module, precision: str) -> nn.Module:
    """The model to run: itself (fp32), or a copy whose encoder runs under bf16 autocast, or a
    copy whose encoder has dynamically quantised linear layers (int8)."""
    if precision == "fp32" or precision in WHOLE_NETWORK:  # the latter: StreamFrame's autocast
        return model
    model = copy.deepcopy(model).eval()
    features = model.features
    if precision == "bf16":
        features.encoder = Bf16Encoder(features.encoder)
        return model
    if not any(isinstance(m, nn.Linear) for m in features.encoder.modules()):
        raise ValueError(
            "precision 'int8' quantises the encoder's linear layers; this model's encoder"
            f" ({type(features.encoder).__name__}) has none: use fp32 or bf16"
        )
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        features.encoder = quantize_dynamic(features.encoder, {nn.Linear}, dtype=torch.qint8)
    return model


class Bf16Encoder(nn.Module):
    """The encoder under bf16 autocast, handing fp32 feature maps on to the DPT decoder."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.inner = encoder

    def forward(self, pixels: torch.Tensor) -> Any:
        with torch.autocast(pixels.device.type, dtype=torch.bfloat16):
            out = self.inner(pixels)
        if isinstance(out, list | tuple):  # EfficientNet-Lite: the maps themselves
            return [f.float() for f in out]
        out.feature_maps = tuple(f.float() for f in out.feature_maps)
        return out
