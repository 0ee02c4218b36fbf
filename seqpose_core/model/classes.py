"""One more class for a trained model: every class-sized tensor grows by one row at its end.

Three parameters have a row per class: each decoder layer's class head (``PoseHead.cls``, C rows),
the denoising label embedding (C + 1 rows, index = class id) and the segmentation head's last
convolution (C + 1 output channels, 0 = background). The old rows are copied bit for bit and the
new class gets id C + 1. Its classifier rows start at zero weight with the least likely known
class's bias, so that the new class begins no more probable than any old one and takes nothing
from them before it is trained; its denoising embedding starts at the mean of the known classes'
(a noised box of "an object").
"""

from __future__ import annotations

from dataclasses import asdict, replace

import torch

from seqpose_core.categories import Category
from seqpose_core.model.seqpose import SeqPose


def _new_row(key: str, old: torch.Tensor) -> torch.Tensor:
    """The row (1, ...) appended to the class-sized tensor ``key`` (C or C + 1 rows)."""
    if key.endswith("label_embed.weight"):
        return old[1:].mean(0, keepdim=True)  # row 0 is never used: ids start at 1
    if key.endswith("weight"):
        return torch.zeros_like(old[:1])
    classes = old[1:] if key.startswith("aux.seg") else old  # the segmentation's row 0: background
    return classes.min().reshape(1)


def add_class(model: SeqPose, category: Category) -> SeqPose:
    """A copy of ``model`` that also predicts ``category`` (id C + 1); ``model`` is unchanged.
    Raises ValueError when the name is taken."""
    cfg = model.cfg
    grown = SeqPose(replace(cfg, categories=cfg.classes.plus(category).to_list()))
    target = grown.state_dict()
    state = {}
    for key, old in model.state_dict().items():
        shape = target[key].shape
        if shape == old.shape:
            state[key] = old.clone()
        elif shape[0] == old.shape[0] + 1 and shape[1:] == old.shape[1:]:
            state[key] = torch.cat([old, _new_row(key, old)])
        else:
            raise ValueError(f"{key}: {tuple(old.shape)} cannot grow to {tuple(shape)}")
    grown.load_state_dict(state)
    grown.cfg.extra = {**cfg.extra, "added_class": asdict(category)}
    return grown.train(model.training)
