"""The per-frame network exported to ONNX, and ONNX Runtime as a backend of the Predictor.

What is exported is ``StreamFrame``: every shape static, the temporal state as explicit
inputs and outputs. Two graphs per model:

* ``single.onnx``: single-frame mode, inputs image (1, 3, H, W) float32 in [0, 1] at
  ``cfg.input_size``, k (1, 3, 3) float32, stamp (1,) float64 seconds;
* ``stream.onnx``: multi-frame mode, the same inputs and the memory's fixed-size buffers
  (``STATE``), which come back updated after the predictions: one graph for every frame
  of a stream, the first one included (all entries padding).

Both return the last layer's predictions (``PREDICTIONS``). On a ROS install the same files
are the entry point to TensorRT (``trtexec --onnx=stream.onnx``; docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from seqpose_core.model.config import ModelConfig
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.model.stream import PREDICTIONS, STATE, MemoryBuffers, StreamFrame

BACKENDS = ("torch", "onnxruntime")  # and "auto", resolved to one of them (resolve_backend)
DEFAULT_CACHE = "~/.cache/seqpose/onnx"
FRAME_INPUTS = ("image", "k", "stamp")
GRAPHS = {
    "single": (FRAME_INPUTS, PREDICTIONS),
    "stream": ((*FRAME_INPUTS, *STATE), (*PREDICTIONS, *(f"new_{n}" for n in STATE))),
}


def example_inputs(cfg: ModelConfig, multi_frame: bool) -> tuple[torch.Tensor, ...]:
    """Inputs of the right shapes and types for tracing (memory empty)."""
    h, w = cfg.input_size
    k = torch.tensor([[[0.9 * w, 0.0, w / 2], [0.0, 0.9 * w, h / 2], [0.0, 0.0, 1.0]]])
    base = (torch.rand(1, 3, h, w), k, torch.tensor([1.0], dtype=torch.float64))
    return (*base, *MemoryBuffers.empty(cfg, 1, "cpu").tensors()) if multi_frame else base


def export_onnx(model: SeqPose, folder: str | Path) -> Path:
    """Write ``single.onnx`` and ``stream.onnx`` of the model (fp32, batch 1) into folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    graph = StreamFrame(model.cpu().eval()).eval()
    for name, (inputs, outputs) in GRAPHS.items():
        with _quiet():
            _export(
                graph, example_inputs(model.cfg, name == "stream"), folder / f"{name}.onnx", inputs, outputs
            )
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


def _export(
    graph: StreamFrame, args: tuple, path: Path, inputs: tuple[str, ...], outputs: tuple[str, ...]
) -> None:
    torch.onnx.export(
        graph,
        args,
        str(path),
        input_names=list(inputs),
        output_names=list(outputs),
        dynamo=True,
        external_data=False,
        verbose=False,
    )


class OnnxSeqPose:
    """The exported network run by ONNX Runtime in StreamFrame's place: the Predictor calls it
    with the same tensors and gets the same outputs, on CPU."""

    def __init__(self, folder: str | Path, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        self.sessions = {
            name: ort.InferenceSession(str(Path(folder) / f"{name}.onnx"), options, ["CPUExecutionProvider"])
            for name in GRAPHS
        }

    def __call__(
        self, image: torch.Tensor, k: torch.Tensor, stamp: torch.Tensor, *state: torch.Tensor
    ) -> tuple:
        """As ``StreamFrame.forward``: image (1, 3, H, W), k (1, 3, 3), stamp (1,), state."""
        graph = "stream" if state else "single"
        inputs, outputs = GRAPHS[graph]
        feed = dict(zip(inputs, (x.numpy() for x in (image, k.float(), stamp.double(), *state)), strict=True))
        return tuple(torch.from_numpy(v) for v in self.sessions[graph].run(list(outputs), feed))


def weights_digest(model: SeqPose) -> str:
    """A short hash of the weights and configuration: the name of the model's export folder."""
    digest = hashlib.sha256(repr(sorted(model.cfg.to_dict().items())).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def resolve_backend(backend: str, device: torch.device, precision: str, compile: bool) -> str:
    """'auto' -> ONNX Runtime where it runs (fp32 on cpu, not compiled: eager torch is slow with
    depthwise convolutions, docs/benchmarks.md), else torch; any other name is returned as is."""
    if backend != "auto":
        return backend
    return "onnxruntime" if device.type == "cpu" and precision == "fp32" and not compile else "torch"


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
    return OnnxSeqPose(folder, threads)
