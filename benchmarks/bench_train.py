"""Training throughput of one experiment config on this machine: frames/s, op counts, step split.

Runs the trainer's own step (``training.engine.train_step`` and ``Trainer.apply_gradients``)
on the config's data, or on a small synthetic set generated into a temporary folder when
the config's data is not there. Prints:
  - training frames/s (batch x clip length per step), median over the timed steps;
  - aten calls per clip frame, counted by torch.profiler over one step: every aten event it
    lists (a composite op and the ops it calls, such as ``aten::linear`` and its
    ``aten::addmm``, each count) and those called by the program itself; on CUDA also the
    kernels launched;
  - host reads (``aten::_local_scalar_dense``: ``.item()``, ``float(t)``, a boolean test of a
    tensor) per step, those of the optimizer step apart;
  - device-to-host copies of the matching per clip frame (calls of ``match_all``);
  - the split of a step: features (encoder + DPT + dense heads), query decoder, criterion with
    matching, backward (the rest of train_step) and optimizer.

Usage: python benchmarks/bench_train.py --config training/configs/synthetic.yaml
       [--device cpu|cuda] [--batch 4] [--steps 6] [--threads 1] [--amp]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from seqpose_core.model.matcher import HungarianMatcher
from seqpose_core.synth.writer import SynthConfig, generate
from training.config import TrainConfig, load_config
from training.engine import train_step, unwrap
from training.train import Trainer


def _synthetic_data(cfg: TrainConfig, folder: Path) -> None:
    """Point the config at a small generated set when its own data is not on this machine."""
    if (Path(cfg.data.root) / "Real").exists():
        return
    print(f"{cfg.data.root} not found: generating 8 synthetic scenes into {folder}", flush=True)
    generate(folder, SynthConfig(8, 0, 12, 240, 320, 0))
    cfg.data.root, cfg.data.extra_roots, cfg.data.workers = str(folder), [], 0


class StageTimer:
    """Wall time per stage, with the device synchronised at each boundary (CUDA)."""

    def __init__(self, device: torch.device):
        self.device, self.totals = device, defaultdict(float)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: object, **kwargs: object) -> object:
            self.sync()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self.sync()
            self.totals[name] += time.perf_counter() - start
            return out

        return timed


def _instrument(trainer: Trainer, timer: StageTimer, copies: list[int]) -> None:
    model = unwrap(trainer.model)
    model.features.forward = timer.wrap("features", model.features.forward)
    model.aux.forward = timer.wrap("features", model.aux.forward)
    model.decoder.forward = timer.wrap("query decoder", model.decoder.forward)
    trainer.criterion.forward = timer.wrap("criterion + matching", trainer.criterion.forward)
    match_all = HungarianMatcher.match_all

    def counted(self: HungarianMatcher, *args: object) -> list:
        copies[0] += 1
        return match_all(self, *args)

    HungarianMatcher.match_all = counted


def _train_step(trainer: Trainer, batch: object, amp: bool) -> dict[str, torch.Tensor]:
    """The trainer's forward and backward with its config's dense and feature schedules."""
    loss = trainer.cfg.loss
    return train_step(
        trainer.model, trainer.criterion, batch, trainer.device, amp, loss.dense_every, loss.features_every
    )


def _step(trainer: Trainer, batch: object, timer: StageTimer, amp: bool) -> float:
    timer.sync()
    start = time.perf_counter()
    before = sum(timer.totals.values())
    losses = _train_step(trainer, batch, amp)
    timer.sync()
    middle = time.perf_counter()
    timer.totals["backward and the rest"] += middle - start - (sum(timer.totals.values()) - before)
    trainer.apply_gradients(losses["total"])
    timer.sync()
    end = time.perf_counter()
    timer.totals["optimizer"] += end - middle
    return end - start


def _reads(prof: profile) -> int:
    return sum(e.name == "aten::_local_scalar_dense" for e in prof.events())


def _top_level(event: object) -> bool:
    """Whether an aten event was called by the program, not from inside another aten op."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::"):
            return False
        parent = parent.cpu_parent
    return True


def _profile_counts(trainer: Trainer, batch: object, amp: bool) -> dict[str, int]:
    """Counts over one step: aten calls (every event the profiler lists, nested calls included,
    and those called by the program itself), CUDA kernels launched, host reads of the forward,
    matching and backward, and of the optimizer step (on CPU the fused AdamW kernel reads each
    parameter's CPU step counter, which stalls nothing; on CUDA the counters live on the device)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        losses = _train_step(trainer, batch, amp)
    with profile(activities=activities) as prof_opt:
        trainer.apply_gradients(losses["total"])
    events = [*prof.events(), *prof_opt.events()]
    aten = [e for e in events if e.name.startswith("aten::")]
    return {
        "aten": len(aten),
        "aten top-level": sum(map(_top_level, aten)),
        "kernels": sum(e.device_type == DeviceType.CUDA for e in events),
        "reads": _reads(prof),
        "optimizer reads": _reads(prof_opt),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench_train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", type=Path, default=Path("training/configs/synthetic.yaml"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=6, help="timed steps, after 2 of warm-up")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--amp", action="store_true", help="bf16 autocast (on CPU too)")
    p.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.set)
    with tempfile.TemporaryDirectory() as tmp:
        _synthetic_data(cfg, Path(tmp) / "data")
        cfg.optim.batch_size, cfg.run.device = args.batch, args.device
        cfg.run.out_dir, cfg.run.max_minutes = str(Path(tmp) / "runs"), 0.0
        trainer = Trainer(cfg, None)
        trainer.model.train()
        timer, copies = StageTimer(trainer.device), [0]
        batches = iter(trainer.loader)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.amp and args.device == "cpu"):
            for _ in range(2):
                _step(trainer, next(batches), timer, args.amp)
            counts = _profile_counts(trainer, next(batches), args.amp)
            timer.totals.clear()
            copies[0] = 0
            _instrument(trainer, timer, copies)
            times = [_step(trainer, next(batches), timer, args.amp) for _ in range(args.steps)]
    clip = max(1, cfg.data.clip_length)
    frames = args.batch * clip
    print(f"config {args.config}, device {args.device}, batch {args.batch}, clip {clip}, amp {args.amp}")
    median = statistics.median(times)
    print(f"training frames/s: {frames / median:.1f} (median step {median:.3f} s)")
    print(
        f"aten calls per clip frame: {counts['aten'] / clip:.0f} as the profiler lists them (nested calls"
        f" included), {counts['aten top-level'] / clip:.0f} called by the program"
    )
    if args.device.startswith("cuda"):
        print(f"CUDA kernels per clip frame: {counts['kernels'] / clip:.0f}")
    reads = counts["reads"]
    print(
        f"host reads per step: {reads} in forward, matching and backward ({reads / clip:.2f} per clip frame)"
    )
    print(
        f"  and {counts['optimizer reads']} in the optimizer step (clipping's finite test;"
        " fused AdamW's step counters)"
    )
    print(f"matching device-to-host copies per clip frame: {copies[0] / (args.steps * clip):.2f}")
    total = sum(timer.totals.values())
    for name, seconds in timer.totals.items():
        print(f"  {name:24s} {1000 * seconds / args.steps:8.1f} ms/step  {100 * seconds / total:5.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
