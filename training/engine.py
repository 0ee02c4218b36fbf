"""One optimisation step on a batch of frames or clips, and validation with the NOCS metrics."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.evaluation.nocs import NocsMetrics, evaluate
from seqpose_core.evaluation.predict import predict_subset
from seqpose_core.model.criterion import SetCriterion
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.predictor import Predictor


def unwrap(model: nn.Module) -> SeqPose:
    return model.module if hasattr(model, "module") else model


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA with amp; otherwise nothing, so that an autocast the caller opened
    (the CPU mixed-precision test) stays in force."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(
    model: nn.Module,
    criterion: SetCriterion,
    batch: dict | list[dict],
    device: torch.device,
    amp: bool,
    dense_every: int = 1,
    features_every: int = 1,
) -> dict[str, torch.Tensor]:
    """Forward and backward (no optimizer step). A clip (list of batches) runs in time order with
    the memory carried across frames; each frame is backpropagated on its own (the memory is
    detached) and gradients accumulate; DDP synchronises on the last frame only.

    dense_every: the dense heads are supervised on every n-th frame of a clip, counted back from
    its last, with their terms weighted n times (their backward was 37 % of a CPU step, and the
    frames of a clip are nearly the same images); the other frames compute only the
    segmentation map that the dense query selection reads, without gradient.
    features_every: the encoder and DPT learn from every n-th frame of a clip, counted back from
    its last; on the other frames they run without gradient (their backward is most of a CPU
    step) and only the heads and the decoder learn.
    amp: bf16 autocast on CUDA; on CPU the caller's autocast, if any, holds. Returns the loss
    terms averaged over the clip as 0-d device tensors: read them on the host only when logging
    (each read waits for the device)."""
    frames = batch if isinstance(batch, list) else [batch]
    memory = unwrap(model).new_memory() if isinstance(batch, list) else None
    totals: dict[str, torch.Tensor] = {}
    dense_scale = len(frames) / math.ceil(len(frames) / dense_every)  # the dense terms' weight per clip
    for t, frame in enumerate(frames):
        frame = _to(frame, device)
        last = t == len(frames) - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync, _autocast(device, amp):
            back = len(frames) - 1 - t
            out = model(
                frame["image"],
                frame["k"],
                memory,
                frame["stamp"],
                with_aux=back % dense_every == 0,
                targets=frame,
                features_grad=back % features_every == 0,
            )
            losses = criterion(out, frame, dense_scale=dense_scale)
            (losses["total"] / len(frames)).backward()
        if memory is not None:
            unwrap(model).remember(memory, out, frame["stamp"])
        for k, v in losses.items():
            totals[k] = totals.get(k, 0.0) + v.detach() / len(frames)
    return totals


def read_losses(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """The loss terms on the host, in one copy."""
    values = torch.stack([v.float() for v in losses.values()]).cpu().tolist()
    return dict(zip(losses, values, strict=True))


@torch.no_grad()
def validate(
    model: nn.Module,
    subset: NocsSubset,
    device: torch.device,
    multi_frame: bool,
    every_nth: int,
    score_threshold: float,
    iou_mode: str = "exact",
) -> NocsMetrics:
    """NOCS metrics of the current weights on a validation subset (SF or MF)."""
    net = unwrap(model)
    was_training = net.training
    predictor = Predictor(
        net, device, multi_frame=multi_frame, score_threshold=score_threshold, max_detections=50
    )
    try:
        results = predict_subset(predictor, subset, every_nth=every_nth)
    finally:
        net.train(was_training)
    return evaluate(results, iou_mode=iou_mode, categories=net.cfg.classes)
