"""What the SeqPose network gives the self-labelling: per-frame appearance features (the fused
map z_0 of its encoder and DPT), and depth and object masks from its dense heads (the RGB-only
path). Images are resized to the network's input and its maps resized back to the image."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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
