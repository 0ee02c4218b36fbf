"""A tiny SeqPose overfits a handful of synthetic frames: the losses and the wiring can learn."""

import functools

import torch

from seqpose_core.data.collate import collate_frames
from seqpose_core.data.nocs_dataset import NocsFrames
from seqpose_core.data.transforms import resize_crop
from seqpose_core.model.config import tiny_config
from seqpose_core.model.criterion import SetCriterion
from seqpose_core.model.seqpose import SeqPose

STEPS = 60
FACTOR = 3.0


def test_tiny_model_overfits_four_frames(synth_root):
    data = NocsFrames(synth_root, "real_train", transform=functools.partial(resize_crop, out_hw=(112, 154)))
    batch = collate_frames([data[i] for i in range(4)])
    torch.manual_seed(0)
    model = SeqPose(tiny_config(input_size=(112, 154)))
    criterion = SetCriterion()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(STEPS):
        loss = criterion(model(batch["image"], batch["k"]), batch)
        opt.zero_grad()
        loss["total"].backward()
        opt.step()
        losses.append(loss)
    first, last = losses[0], losses[-1]
    assert last["total"] < first["total"] / FACTOR, f"{first['total']:.2f} -> {last['total']:.2f}"
    for term in ("rotation", "depth", "seg", "class"):
        assert last[term] < first[term], term
