"""The per-frame network exported to ONNX, and ONNX Runtime as a backend of the Predictor.

The temporal state survives export as explicit inputs and outputs. Two graphs per model:

* ``first.onnx``: no memory (single-frame mode, and the first frame after a reset);
* ``memory.onnx``: the previous frame's top-K queries carried in (``prev_*``) and the
  queue's entries padded to its full N x K with a validity mask (``mem_*``).

Both return the last layer's predictions and the kept queries' embeddings, anchors and
track ids, from which the caller updates the ``TemporalMemory`` exactly as with torch
(``OnnxSeqPose.remember``). Inputs: image (1, 3, H, W) float32 in [0, 1] at
``cfg.input_size``, k (1, 3, 3) float32, stamp (1,) float64 seconds. On a ROS install the same
files are the entry point to TensorRT (``trtexec --onnx=...``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqpose_core.model.config import ModelConfig
from seqpose_core.model.memory import MemoryFrame, TemporalMemory
from seqpose_core.model.seqpose import SeqPose

BACKENDS = ("torch", "onnxruntime")
DEFAULT_CACHE = "~/.cache/seqpose/onnx"
FIRST_INPUTS = ("image", "k", "stamp")
MEMORY_INPUTS = (
    *FIRST_INPUTS,
    *("prev_embed", "prev_anchors", "prev_stamp", "prev_ids"),
    *("mem_embed", "mem_anchors", "mem_stamp", "mem_valid"),
)
PREDICTIONS = ("logits", "translation", "rotation", "size")  # the last layer's
OUTPUTS = (*PREDICTIONS, "embed", "anchors", "track_ids")
GRAPHS = ("first", "memory")


class FrameGraph(nn.Module):
    """SeqPose for one frame with its memory as tensors (what is exported)."""

    def __init__(self, model: SeqPose):
        super().__init__()
        self.model = model

    def forward(
        self, image: torch.Tensor, k: torch.Tensor, stamp: torch.Tensor, *memory: torch.Tensor
    ) -> tuple:
        """FIRST_INPUTS, then (memory graph) prev_embed (1, K, D), prev_anchors (1, K, 3),
        prev_stamp (1,), prev_ids (1, K) int64, mem_embed (1, N*K, D), mem_anchors (1, N*K, 3),
        mem_stamp (1, N*K), mem_valid (1, N*K) bool -> OUTPUTS."""
        previous = entries = None
        if memory:
            pe, pa, ps, pi, me, ma, ms, mv = memory
            previous = MemoryFrame(pe, pa, ps, pi)
            entries = MemoryFrame(me, ma, ms, torch.zeros_like(mv, dtype=torch.long), valid=mv)
        out = self.model.frame(image, k, entries, previous, stamp, with_aux=False)
        last = out["layers"][-1]
        return (
            *(last[name] for name in PREDICTIONS),
            out["embed"],
            out["anchors"],
            out["track_ids"],
        )


def example_inputs(cfg: ModelConfig, with_memory: bool) -> tuple[torch.Tensor, ...]:
    """Inputs of the right shapes and types for tracing, memory half full."""
    h, w = cfg.input_size
    k = torch.tensor([[[0.9 * w, 0.0, w / 2], [0.0, 0.9 * w, h / 2], [0.0, 0.0, 1.0]]])
    base = (torch.rand(1, 3, h, w), k, torch.tensor([1.0], dtype=torch.float64))
    if not with_memory:
        return base
    kk, m, d = cfg.memory_topk, cfg.memory_frames * cfg.memory_topk, cfg.d_model
    valid = torch.arange(m)[None] < kk
    return (
        *base,
        *(torch.randn(1, kk, d), torch.randn(1, kk, 3), torch.tensor([0.9], dtype=torch.float64)),
        torch.arange(1, kk + 1)[None],
        *(torch.randn(1, m, d), torch.randn(1, m, 3), torch.full((1, m), 0.9, dtype=torch.float64), valid),
    )


def export_onnx(model: SeqPose, folder: str | Path) -> Path:
    """Write ``first.onnx`` and ``memory.onnx`` of the model (fp32, batch 1) into folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    graph = FrameGraph(model.cpu().eval()).eval()
    for name, inputs in (("first", FIRST_INPUTS), ("memory", MEMORY_INPUTS)):
        with _quiet():
            _export(graph, example_inputs(model.cfg, name == "memory"), folder / f"{name}.onnx", inputs)
    return folder


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's progress lines, warnings and its optimizer's log notes."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _export(graph: FrameGraph, args: tuple, path: Path, inputs: tuple[str, ...]) -> None:
    torch.onnx.export(
        graph,
        args,
        str(path),
        input_names=list(inputs),
        output_names=list(OUTPUTS),
        dynamo=True,
        external_data=False,
        verbose=False,
    )


class OnnxSeqPose:
    """The exported network run by ONNX Runtime in SeqPose's place: the Predictor calls it
    with the same arguments and gets the same outputs (last layer only), on CPU."""

    scores = staticmethod(SeqPose.scores)
    remember = SeqPose.remember
    new_memory = SeqPose.new_memory

    def __init__(self, folder: str | Path, cfg: ModelConfig, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        self.cfg = cfg
        self.sessions = {
            name: ort.InferenceSession(str(Path(folder) / f"{name}.onnx"), options, ["CPUExecutionProvider"])
            for name in GRAPHS
        }

    def to(self, device: torch.device) -> OnnxSeqPose:
        if torch.device(device).type != "cpu":
            raise ValueError(f"backend 'onnxruntime' runs on cpu here, not {device}")
        return self

    def eval(self) -> OnnxSeqPose:
        return self

    def __call__(
        self,
        image: torch.Tensor,
        k: torch.Tensor,
        memory: TemporalMemory | None,
        stamp: torch.Tensor,
        **_: object,
    ) -> dict:
        """As ``SeqPose.forward`` at inference: image (1, 3, H, W), k (1, 3, 3), stamp (1,)."""
        feed = {"image": image.numpy(), "k": k.float().numpy(), "stamp": stamp.double().numpy()}
        graph = "first"
        if memory is not None and memory.latest is not None:
            graph = "memory"
            feed.update(self._memory_feed(memory))
        values = self.sessions[graph].run(list(OUTPUTS), feed)
        out = dict(zip(OUTPUTS, (torch.from_numpy(v) for v in values), strict=True))
        last = {name: out[name] for name in PREDICTIONS}
        return {
            "layers": [last],
            "embed": out["embed"],
            "anchors": out["anchors"],
            "track_ids": out["track_ids"],
        }

    def _memory_feed(self, memory: TemporalMemory) -> dict[str, np.ndarray]:
        """The latest frame and the queue padded to N x K entries, as the memory graph's inputs."""
        prev, entries = memory.latest, memory.gather()
        full = self.cfg.memory_frames * self.cfg.memory_topk
        pad = full - entries.embed.shape[1]
        padded = lambda x: F.pad(x, (0, 0) * (x.dim() - 2) + (0, pad))  # noqa: E731  # along dim 1
        valid = torch.arange(full)[None] < entries.embed.shape[1]
        return {
            "prev_embed": prev.embed.float().numpy(),
            "prev_anchors": prev.anchors.float().numpy(),
            "prev_stamp": prev.stamp.double().numpy(),
            "prev_ids": prev.track_ids.long().numpy(),
            "mem_embed": padded(entries.embed).float().numpy(),
            "mem_anchors": padded(entries.anchors).float().numpy(),
            "mem_stamp": padded(entries.stamp).double().numpy(),
            "mem_valid": valid.numpy(),
        }


def weights_digest(model: SeqPose) -> str:
    """A short hash of the weights and configuration: the name of the model's export folder."""
    digest = hashlib.sha256(repr(sorted(model.cfg.to_dict().items())).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def check_backend(backend: str, device: torch.device, precision: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime" and (device.type != "cpu" or precision != "fp32"):
        raise ValueError(f"backend 'onnxruntime' runs fp32 on cpu here, not {precision} on {device}")


def onnx_model(model: SeqPose, cache: str | Path = DEFAULT_CACHE, threads: int = 0) -> OnnxSeqPose:
    """The model on ONNX Runtime, exported into cache/<weights digest>/ unless already there."""
    folder = Path(cache).expanduser() / weights_digest(model)
    if not all((folder / f"{name}.onnx").is_file() for name in GRAPHS):
        export_onnx(model, folder)
    return OnnxSeqPose(folder, model.cfg, threads)
