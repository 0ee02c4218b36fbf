"""What the SeqPose network gives the self-labelling: per-frame appearance features (the fused
map z_0 of its encoder and DPT), and depth and object masks from its dense heads (the RGB-only
path). Images are resized to the network's input and its maps resized back to the image.
``ImagenetFeatures`` gives appearance features from ImageNet EfficientNet-Lite0 alone."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from seqpose_core.model.backbone import IMAGENET_MEAN, IMAGENET_STD
from seqpose_core.model.config import ModelConfig
from seqpose_core.model.efficientnet import LiteEncoder
from seqpose_core.model.seqpose import SeqPose


class NetworkMaps:
    """Callable as a FeatureFn: rgb (H, W, 3) uint8, k -> features (C, h, w) at the map's stride."""

    def __init__(self, model: SeqPose, device: torch.device):
        self.model, self.device = model.eval().to(device), device

    @torch.inference_mode()
    def _run(self, rgb: np.ndarray) -> tuple[dict, tuple[int, int]]:
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255)
        image = F.interpolate(image.to(self.device), size=self.model.cfg.input_size, mode="bilinear")
        return self.model.features(image), rgb.shape[:2]

    def __call__(self, rgb: np.ndarray, k: np.ndarray) -> np.ndarray:
        feats, _ = self._run(rgb)
        return feats["z"][0][0].float().cpu().numpy()

    @torch.inference_mode()
    def depth_and_mask(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The depth head's metres (H, W) and the segmentation head's foreground (H, W) bool."""
        feats, hw = self._run(rgb)
        aux = self.model.aux(feats["z"][0], feats["g0"])
        depth = F.interpolate(aux["depth"], size=hw, mode="bilinear")[0, 0]
        fg = F.interpolate(aux["seg"], size=hw, mode="bilinear")[0].argmax(0) != 0
        return depth.cpu().numpy(), fg.cpu().numpy()


class ImagenetFeatures:
    """Callable as a FeatureFn: ImageNet EfficientNet-Lite0 features of an image, no SeqPose model
    needed. The maps at strides 8 and 16 (40 + 112 channels), each unit length per pixel, the
    coarser one upsampled to the finer: a pretrained appearance prior in place of the paper's
    DINOv2 features, which cannot be had here."""

    def __init__(self, device: torch.device, input_size: tuple[int, int] = (224, 320)):
        cfg = ModelConfig(encoder="lite0", input_size=input_size, pretrained=True)
        self.encoder = LiteEncoder(cfg).eval().to(device)
        self.encoder.load_imagenet()
        self.device, self.input_size = device, input_size
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray, k: np.ndarray) -> np.ndarray:
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255)
        image = F.interpolate(image.to(self.device), size=self.input_size, mode="bilinear", antialias=True)
        maps = self.encoder((image - self.mean) / self.std)
        fine, coarse = F.normalize(maps[1], dim=1), F.normalize(maps[2], dim=1)
        coarse = F.interpolate(coarse, size=fine.shape[2:], mode="bilinear")
        return torch.cat([fine, coarse], 1)[0].cpu().numpy()
