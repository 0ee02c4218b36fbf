"""Per-frame latency of SeqPose on this machine, split by stage, and of the network the Predictor runs.

Stages (eager): encoder (DINOv2), depth decoder (DPT + level fusion), query decoder (dense
query selection and STSQ layers) and head (pose heads). Single-frame (no memory) and
multi-frame (memory of N x K queries, K propagated) frames alternate, so that a slow spell
of the machine falls on both alike. Totals: the static-shape per-frame network
(``StreamFrame``, what the Predictor runs) eager and, with --compile, compiled (CUDA graphs
on a GPU) beside the feature extractor compiled alone, whose ratio is the target's
total/(encoder+DPT); then the network exported to ONNX and run by ONNX Runtime (CPU). Each
precision (``seqpose_core.precision``) in the same run; medians over the frames. Random
weights: latency does not depend on the values. On CUDA it also checks that the per-frame
network makes no host sync (``torch.cuda.set_sync_debug_mode``).
Usage: python benchmarks/bench_model.py [--configs tiny embedded vits] [--precisions fp32 bf16
int8 bf16-all] [--backends torch onnxruntime] [--compile] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

import torch

from seqpose_core.assets import default_checkpoint
from seqpose_core.checkpoint import read_config
from seqpose_core.model.config import ModelConfig, tiny_config
from seqpose_core.model.memory import TemporalMemory
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.model.stream import PREDICTIONS, MemoryBuffers, StreamFrame
from seqpose_core.onnx_backend import OnnxSeqPose, export_onnx
from seqpose_core.precision import autocast_dtype, prepare_model


def intrinsics(cfg: ModelConfig, device: torch.device) -> torch.Tensor:
    h, w = cfg.input_size
    return torch.tensor([[[0.92 * w, 0, w / 2], [0, 0.92 * w, h / 2], [0, 0, 1]]], device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_heads(model: SeqPose, totals: dict[str, float]) -> list:
    """Hooks that add the pose heads' time to totals["head"]; returns their handles."""

    def pre(_m: object, _i: object) -> None:
        totals["_start"] = time.perf_counter()

    def post(_m: object, _i: object, _o: object) -> None:
        totals["head"] += time.perf_counter() - totals["_start"]

    hooks = []
    for head in model.decoder.heads:
        hooks += [head.register_forward_pre_hook(pre), head.register_forward_hook(post)]
    return hooks


def _frame(
    model: SeqPose, memory: TemporalMemory | None, i: int, totals: dict[str, float]
) -> dict[str, float]:
    """Frame i (memory None: single-frame), ms per stage."""
    device = model.features.mean.device
    image = torch.rand(1, 3, *model.cfg.input_size, device=device)
    hw = (image.shape[2] // 14, image.shape[3] // 14)
    stamp = torch.tensor([i / 30.0], dtype=torch.float64, device=device)
    totals.clear()
    _sync(device)
    t0 = time.perf_counter()
    tokens = model.features.encode(image)
    _sync(device)
    t1 = time.perf_counter()
    s, g = model.features.decode(tokens, hw)
    z = model.features.fuse_levels(s, g)
    _sync(device)
    t2 = time.perf_counter()
    dense = model._dense_anchors({"z": z, "g0": g[0]}, None)
    mem = memory.gather() if memory is not None else None
    prev = memory.latest if memory is not None else None
    k = intrinsics(model.cfg, device)
    out = model.decoder(z, k, model.cfg.input_size, memory=mem, previous=prev, stamp=stamp, dense=dense)
    if memory is not None:
        model.remember(memory, out, stamp)
    _sync(device)
    t3 = time.perf_counter()
    stage = {"encoder": t1 - t0, "depth decoder": t2 - t1, "head": totals["head"]}
    stage["query decoder"] = t3 - t2 - totals["head"]
    stage["total"] = t3 - t0
    return {k: 1000 * v for k, v in stage.items()}


@torch.inference_mode()
def run_stages(model: SeqPose, frames: int, warmup: int = 3) -> dict[str, dict[str, float]]:
    """Median ms per stage over ``frames`` frames after ``warmup``, {"SF": ..., "MF": ...}."""
    totals: dict[str, float] = defaultdict(float)
    hooks = _time_heads(model, totals)  # removed after: a compiled network would trace them
    memories = {"SF": None, "MF": model.new_memory()}
    samples: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in memories}
    for i in range(warmup + frames):
        for mode, memory in memories.items():
            stage = _frame(model, memory, i, totals)
            for k, v in stage.items() if i >= warmup else ():
                samples[mode][k].append(v)
    for hook in hooks:
        hook.remove()
    return {mode: {k: statistics.median(v) for k, v in s.items()} for mode, s in samples.items()}


@torch.inference_mode()
def run_total(
    network: Callable[..., tuple], cfg: ModelConfig, device: torch.device, frames: int, graphs: bool = False
) -> dict[str, float]:
    """Median ms per frame of a per-frame network (StreamFrame, compiled or not, or its ONNX
    Runtime twin), {"SF": ..., "MF": ...}, the memory carried from frame to frame. One mode
    after the other: ONNX Runtime's SF and MF are two sessions with their own weights.
    graphs: CUDA graphs, whose outputs the next replay overwrites (the Predictor's care)."""
    image, k = torch.rand(1, 3, *cfg.input_size, device=device), intrinsics(cfg, device)
    totals = {}
    for mode in ("SF", "MF"):
        state = MemoryBuffers.empty(cfg, 1, device).tensors() if mode == "MF" else ()
        times = []
        for i in range(3 + frames):
            stamp = torch.tensor([i / 30.0], dtype=torch.float64, device=device)
            if graphs:
                torch.compiler.cudagraph_mark_step_begin()
            _sync(device)
            t0 = time.perf_counter()
            out = network(image, k, stamp, *state)
            _sync(device)
            times.append(1000 * (time.perf_counter() - t0))
            state = tuple(x.clone() if graphs else x for x in out[len(PREDICTIONS) :])
        totals[mode] = statistics.median(times[3:])
    return totals


@torch.inference_mode()
def run_features(features: Callable, cfg: ModelConfig, device: torch.device, frames: int) -> float:
    """Median ms of the feature extractor (encoder + DPT + fusion) alone."""
    image, times = torch.rand(1, 3, *cfg.input_size, device=device), []
    for _ in range(3 + frames):
        _sync(device)
        t0 = time.perf_counter()
        features(image)
        _sync(device)
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times[3:])


@torch.inference_mode()
def check_syncs(network: StreamFrame, cfg: ModelConfig, device: torch.device) -> str:
    """CUDA: run a multi-frame step with host syncs made errors -> "none" or the error."""
    image, k = torch.rand(1, 3, *cfg.input_size, device=device), intrinsics(cfg, device)
    stamp = torch.zeros(1, dtype=torch.float64, device=device)
    state = network(image, k, stamp, *MemoryBuffers.empty(cfg, 1, device).tensors())[len(PREDICTIONS) :]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        network(image, k, stamp + 0.1, *state)
        return "none"
    except RuntimeError as err:
        return f"a sync: {str(err).splitlines()[0]}"
    finally:
        torch.cuda.set_sync_debug_mode("default")


def bench_torch(cfg: ModelConfig, name: str, precision: str, args: argparse.Namespace) -> float:
    """Stages and totals of one precision; returns the eager SF total."""
    h, w = cfg.input_size
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = prepare_model(SeqPose(cfg).to(device).eval(), precision)
    tag = f"{name:8s} {h}x{w} {precision:8s}"
    if precision not in ("bf16-all", "fp16-all"):  # the stage split runs without autocast
        rows = run_stages(model, args.frames)
        for mode, r in rows.items():
            stages = "  ".join(
                f"{k} {r[k]:7.1f}" for k in ("encoder", "depth decoder", "query decoder", "head")
            )
            print(f"{tag} {mode} stages  {stages}  total {r['total']:7.1f}")
        sf = rows["SF"]
        ratio = sf["total"] / (sf["encoder"] + sf["depth decoder"])
        print(f"{tag} stage ratios: total/(encoder+DPT) {ratio:.2f}")
    network = StreamFrame(model, autocast_dtype(precision))
    eager = run_total(network, cfg, device, args.frames)
    _print_totals(f"{tag} eager   ", eager, run_features(model.features, cfg, device, args.frames))
    if device.type == "cuda":
        print(f"{tag} host syncs in the per-frame network: {check_syncs(network, cfg, device)}")
    if args.compile:
        graphs = device.type == "cuda"
        mode = "reduce-overhead" if graphs else None
        t0 = time.perf_counter()
        compiled = torch.compile(network, mode=mode, dynamic=False)
        totals = run_total(compiled, cfg, device, args.frames, graphs)
        seconds = time.perf_counter() - t0
        features = run_features(
            torch.compile(model.features, mode=mode, dynamic=False), cfg, device, args.frames
        )
        _print_totals(f"{tag} compiled", totals, features, f" (compiled in {seconds:.0f} s)")
    return eager["SF"]


def _print_totals(tag: str, totals: dict[str, float], features: float, note: str = "") -> None:
    sf, mf = totals["SF"], totals["MF"]
    print(
        f"{tag} SF {sf:7.2f} ms ({1000 / sf:.0f} FPS)  MF {mf:7.2f} ms ({1000 / mf:.0f} FPS)  features alone"
        f" {features:7.2f}  total/(encoder+DPT) {sf / features:.2f}  MF/SF {mf / sf:.2f}{note}"
    )


def bench_onnxruntime(cfg: ModelConfig, name: str, torch_sf: float | None, frames: int, threads: int) -> None:
    """The exported network on ONNX Runtime (CPU), SF and MF, against eager fp32's SF total."""
    h, w = cfg.input_size
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        network = OnnxSeqPose(export_onnx(SeqPose(cfg).eval(), folder), threads)
        totals = run_total(network, cfg, torch.device("cpu"), frames)
    sf, mf = totals["SF"], totals["MF"]
    speedup = f", eager fp32 SF / onnxruntime SF {torch_sf / sf:.2f}" if torch_sf else ""
    print(
        f"{name:8s} {h}x{w} onnxruntime fp32 SF {sf:7.2f} ms  MF {mf:7.2f} ms  MF/SF {mf / sf:.2f}{speedup}"
    )


def config_named(name: str) -> ModelConfig:
    if name == "tiny":
        return tiny_config()
    if name == "embedded":
        return read_config(default_checkpoint())
    if name.startswith("embedded-"):  # the embedded network with another encoder: embedded-lite0
        return replace(read_config(default_checkpoint()), encoder=name.split("-", 1)[1])
    return ModelConfig(encoder=name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--configs",
        nargs="+",
        default=["tiny", "vits"],
        help="tiny, embedded, embedded-lite0, vits, vitb, vitl",
    )
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    p.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"])
    p.add_argument("--compile", action="store_true", help="also the compiled per-frame network")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.device}, {args.threads} threads, ms/frame, median of {args.frames}"
    )
    for name in args.configs:
        cfg = config_named(name)
        fp32_sf = None
        for precision in args.precisions if "torch" in args.backends else ():
            try:
                sf = bench_torch(cfg, name, precision, args)
            except ValueError as exc:  # int8 on an encoder without linear layers (Lite0)
                print(f"{name} {precision}: skipped ({exc})")
                continue
            fp32_sf = sf if precision == "fp32" else fp32_sf
        if "onnxruntime" in args.backends and args.device == "cpu":
            bench_onnxruntime(cfg, name, fp32_sf, args.frames, args.threads)


if __name__ == "__main__":
    main()
