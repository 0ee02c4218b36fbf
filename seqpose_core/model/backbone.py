"""Semantic and geometric features: DINOv2 encoder + DepthAnythingV2 DPT decoder, fused per level.

s_i: the encoder's i-th intermediate layer, reassembled by the DPT decoder into a pyramid
(4x, 2x, 1x, 1/2x the patch grid) and projected to the decoder width;
g_i: the DPT fusion block that consumes s_i (eq. 2), resized to s_i's grid;
z_i = Conv1x1(cat(s_i, g_i)) (eq. 3), with d_model channels.
The ViT and the DPT blocks are ``transformers``' Dinov2 and DepthAnything modules.

With an EfficientNet-Lite encoder (``LiteFeatures``), s_i are its maps at strides 4, 8, 16
and 32, projected to the decoder width; the DPT fusion blocks and eq. (3) are the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DepthAnythingConfig, Dinov2Backbone, Dinov2Config
from transformers.models.depth_anything.modeling_depth_anything import (
    DepthAnythingFeatureFusionStage,
    DepthAnythingNeck,
)

from seqpose_core.model.config import ModelConfig
from seqpose_core.model.efficientnet import LiteEncoder

PATCH = 14
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def dinov2_config(cfg: ModelConfig) -> Dinov2Config:
    spec = cfg.encoder_spec
    return Dinov2Config(
        hidden_size=spec["hidden"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        image_size=518,
        patch_size=PATCH,
        out_indices=[i + 1 for i in spec["out_layers"]],  # 0 is the embedding output
        reshape_hidden_states=False,
        apply_layernorm=True,
    )


def depth_anything_config(cfg: ModelConfig) -> DepthAnythingConfig:
    spec = cfg.encoder_spec
    return DepthAnythingConfig(
        backbone_config=dinov2_config(cfg),
        reassemble_hidden_size=spec["hidden"],
        neck_hidden_sizes=spec["out_channels"],
        fusion_hidden_size=spec["features"],
    )


class _Features(nn.Module):
    """What both encoders share: ImageNet normalisation and the per-level fusion (eq. 3)."""

    def __init__(self, cfg: ModelConfig, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        width = cfg.encoder_spec["features"]
        self.fuse = nn.ModuleList(nn.Conv2d(2 * width, cfg.d_model, 1) for _ in range(4))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # The coarsest fusion block has no skip input, so its first residual unit never runs.
        self.decoder.fusion_stage.layers[0].residual_layer1.requires_grad_(False)
        if cfg.freeze_encoder:
            self.encoder.requires_grad_(False)
        self.frozen = cfg.freeze_encoder

    def fuse_levels(self, s: list[torch.Tensor], g: list[torch.Tensor]) -> list[torch.Tensor]:
        """z_i = Conv1x1(cat(s_i, g_i resized to s_i's grid)) (eq. 3), finest first."""
        return [
            fuse(
                torch.cat(
                    [s_i, F.interpolate(g_i, size=s_i.shape[2:], mode="bilinear", align_corners=False)], 1
                )
            )
            for fuse, s_i, g_i in zip(self.fuse, s, g, strict=True)
        ]

    def forward(self, image: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """image (B, 3, H, W) -> {"z": [(B, d_model, h_i, w_i)] finest first, "g0": (B, F, 2h_0, 2w_0)}."""
        hw = (image.shape[2] // PATCH, image.shape[3] // PATCH)
        s, g = self.decode(self.encode(image), hw)
        return {"z": self.fuse_levels(s, g), "g0": g[0]}


class FeatureExtractor(_Features):
    """Image -> pyramid levels z (eq. 3) and the geometry features the auxiliary heads need."""

    def __init__(self, cfg: ModelConfig):
        encoder, decoder = Dinov2Backbone(dinov2_config(cfg)), DepthAnythingNeck(depth_anything_config(cfg))
        super().__init__(cfg, encoder, decoder)
        self.encoder.embeddings.mask_token.requires_grad_(False)  # masked pretraining only

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image (B, 3, H, W) in [0, 1] -> 4 token maps (B, 1 + h*w, C) of the chosen layers."""
        x = (image - self.mean) / self.std
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return list(self.encoder(x).feature_maps)

    def decode(self, tokens: list[torch.Tensor], hw: tuple[int, int]) -> tuple[list, list]:
        """Tokens -> s (4 maps, widths = DPT features) and g (4 fusion outputs, finest first)."""
        reassembled = self.decoder.reassemble_stage(tokens, hw[0], hw[1])
        s = [conv(r) for conv, r in zip(self.decoder.convs, reassembled, strict=True)]
        fused = self.decoder.fusion_stage(s)  # coarsest level first
        return s, fused[::-1]


class LiteNeck(nn.Module):
    """The DPT decoder without its ViT reassembly: a 3x3 projection per level, then the fusion blocks."""

    def __init__(self, channels: list[int], width: int):
        super().__init__()
        config = DepthAnythingConfig(neck_hidden_sizes=channels, fusion_hidden_size=width)
        self.convs = nn.ModuleList(nn.Conv2d(c, width, 3, padding=1, bias=False) for c in channels)
        self.fusion_stage = DepthAnythingFeatureFusionStage(config)


class LiteFeatures(_Features):
    """EfficientNet-Lite maps (strides 4, 8, 16, 32) -> the same z and g0 as the ViT path."""

    def __init__(self, cfg: ModelConfig):
        encoder = LiteEncoder(cfg)
        super().__init__(cfg, encoder, LiteNeck(encoder.channels, cfg.encoder_spec["features"]))

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image (B, 3, H, W) in [0, 1] -> 4 maps (B, C_i, H / 2^(i+2), W / 2^(i+2)), finest first."""
        x = (image - self.mean) / self.std
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return self.encoder(x)

    def decode(self, maps: list[torch.Tensor], hw: tuple[int, int]) -> tuple[list, list]:
        """Maps -> s (4 maps, width = DPT features) and g (4 fusion outputs, finest first); hw unused."""
        s = [conv(m) for conv, m in zip(self.decoder.convs, maps, strict=True)]
        return s, self.decoder.fusion_stage(s)[::-1]


def build_features(cfg: ModelConfig) -> _Features:
    """The feature extractor of the configured encoder family."""
    return LiteFeatures(cfg) if cfg.is_cnn else FeatureExtractor(cfg)
