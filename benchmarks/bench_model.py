"""Per-frame latency of SeqPose on this machine at 238 x 322, split by stage.

Stages: encoder (DINOv2), depth decoder (DPT + level fusion), query decoder (STSQ layers)
and head (pose heads of all layers). Single-frame (no memory) and multi-frame (memory of
N x K queries, K propagated) are timed in alternating frames; their ratio is printed. Each precision
(fp32, bf16 encoder, int8 encoder linear layers; seqpose_core.precision) is timed in the same run,
stage times are medians over the frames; then the network exported to ONNX and run by ONNX
Runtime (whole-frame totals only). Random weights: latency does not depend on the values.
Usage: python benchmarks/bench_model.py [--configs tiny vits] [--precisions fp32 bf16 int8]
[--backends torch onnxruntime]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict

import torch

from seqpose_core.model.config import ModelConfig, tiny_config
from seqpose_core.model.memory import TemporalMemory
from seqpose_core.model.seqpose import SeqPose
from seqpose_core.onnx_backend import OnnxSeqPose, export_onnx
from seqpose_core.precision import prepare_model

K = torch.tensor([[[296.0, 0, 160.5], [0, 296.0, 118.5], [0, 0, 1]]])


def _time_heads(model: SeqPose, totals: dict[str, float]) -> None:
    def pre(_m: object, _i: object) -> None:
        totals["_start"] = time.perf_counter()

    def post(_m: object, _i: object, _o: object) -> None:
        totals["head"] += time.perf_counter() - totals["_start"]

    for head in model.decoder.heads:
        head.register_forward_pre_hook(pre)
        head.register_forward_hook(post)


def _frame(
    model: SeqPose, memory: TemporalMemory | None, i: int, totals: dict[str, float]
) -> dict[str, float]:
    """Frame i (memory None: single-frame), ms per stage."""
    image = torch.rand(1, 3, *model.cfg.input_size)
    hw = (image.shape[2] // 14, image.shape[3] // 14)
    stamp = torch.tensor([i / 30.0], dtype=torch.float64)
    totals.clear()
    t0 = time.perf_counter()
    tokens = model.features.encode(image)
    t1 = time.perf_counter()
    s, g = model.features.decode(tokens, hw)
    z = model.features.fuse_levels(s, g)
    t2 = time.perf_counter()
    mem = memory.gather() if memory is not None else None
    prev = memory.latest if memory is not None else None
    out = model.decoder(z, K, model.cfg.input_size, memory=mem, previous=prev, stamp=stamp)
    if memory is not None:
        model.remember(memory, out, stamp)
    t3 = time.perf_counter()
    stage = {"encoder": t1 - t0, "depth decoder": t2 - t1, "head": totals["head"]}
    stage["query decoder"] = t3 - t2 - totals["head"]
    stage["total"] = t3 - t0
    return {k: 1000 * v for k, v in stage.items()}


@torch.inference_mode()
def run(model: SeqPose, frames: int, warmup: int = 3) -> dict[str, dict[str, float]]:
    """Median ms per stage over ``frames`` frames after ``warmup``, {"SF": ..., "MF": ...}.
    SF and MF frames alternate, so that a slow spell of the machine falls on both alike."""
    totals: dict[str, float] = defaultdict(float)
    _time_heads(model, totals)
    memories = {"SF": None, "MF": model.new_memory()}
    samples: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in memories}
    for i in range(warmup + frames):
        for mode, memory in memories.items():
            stage = _frame(model, memory, i, totals)
            for k, v in stage.items() if i >= warmup else ():
                samples[mode][k].append(v)
    return {mode: {k: statistics.median(v) for k, v in s.items()} for mode, s in samples.items()}


@torch.inference_mode()
def run_total(model: SeqPose | OnnxSeqPose, frames: int, warmup: int = 3) -> dict[str, float]:
    """Median ms per frame of the whole network, {"SF": ..., "MF": ...} (no stage split: the
    ONNX Runtime backend). One mode after the other: on ONNX Runtime SF and MF are two
    sessions with their own weights, and alternating them would time cache misses."""
    image = torch.rand(1, 3, *model.cfg.input_size)
    totals = {}
    for mode, memory in (("SF", None), ("MF", model.new_memory())):
        times = []
        for i in range(warmup + frames):
            stamp = torch.tensor([i / 30.0], dtype=torch.float64)
            t0 = time.perf_counter()
            out = model(image, K, memory, stamp, with_aux=False)
            if memory is not None:
                model.remember(memory, out, stamp)
            times.append(1000 * (time.perf_counter() - t0))
        totals[mode] = statistics.median(times[warmup:])
    return totals


def bench_onnxruntime(cfg: ModelConfig, torch_sf: float | None, frames: int, threads: int) -> None:
    """The exported network on ONNX Runtime, SF and MF, against eager fp32's SF total."""
    name, (h, w) = cfg.encoder, cfg.input_size
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        model = OnnxSeqPose(export_onnx(SeqPose(cfg).eval(), folder), cfg, threads)
        totals = run_total(model, frames)
    sf, mf = totals["SF"], totals["MF"]
    for mode, total in (("SF", sf), ("MF", mf)):
        print(f"{name:5s} {h}x{w} onnxruntime fp32 {mode}  total {total:7.1f}  ({1000 / total:.1f} FPS)")
    speedup = f", eager fp32 SF / onnxruntime SF {torch_sf / sf:.2f}" if torch_sf else ""
    print(f"{name:5s} onnxruntime ratios: MF/SF {mf / sf:.2f}{speedup}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configs", nargs="+", default=["tiny", "vits"])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    p.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"])
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, ms/frame, median of {args.frames} frames")
    for name in args.configs:
        cfg = tiny_config() if name == "tiny" else ModelConfig(encoder=name)
        h, w = cfg.input_size
        fp32_sf = None
        for precision in args.precisions if "torch" in args.backends else ():
            torch.manual_seed(0)
            model = prepare_model(SeqPose(cfg).eval(), precision)
            rows = run(model, args.frames)
            for mode, r in rows.items():
                stages = "  ".join(
                    f"{k} {r[k]:7.1f}" for k in ("encoder", "depth decoder", "query decoder", "head")
                )
                print(f"{name:5s} {h}x{w} {precision:4s} {mode}  {stages}  total {r['total']:7.1f}")
            sf = rows["SF"]
            fp32_sf = sf["total"] if precision == "fp32" else fp32_sf
            print(
                f"{name:5s} {precision:4s} ratios: total/(encoder+DPT)"
                f" {sf['total'] / (sf['encoder'] + sf['depth decoder']):.2f},"
                f" query decoder/encoder {sf['query decoder'] / sf['encoder']:.2f},"
                f" MF/SF {rows['MF']['total'] / sf['total']:.2f}"
            )
        if "onnxruntime" in args.backends:
            bench_onnxruntime(cfg, fp32_sf, args.frames, args.threads)


if __name__ == "__main__":
    main()
