"""The trainer for every experiment: one process on CPU or GPU, or many through torchrun (DDP).

    python -m training.train --config training/configs/synthetic.yaml
    torchrun --nproc_per_node 4 -m training.train --config training/configs/real_mf.yaml
    python -m training.train --config ... --resume          # continue runs/<name>/last.pt exactly

Writes to runs/<name>/: config.yaml, last.pt (atomic), best.safetensors + best.yaml (by the
configured NOCS metric on the validation subset), final.safetensors + final.yaml, train.csv,
val.csv, tensorboard/.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from seqpose_core.checkpoint import load_model, save_model
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.model.classes import add_class
from seqpose_core.model.config import ModelConfig
from seqpose_core.model.criterion import SetCriterion
from seqpose_core.model.matcher import HungarianMatcher
from seqpose_core.model.seqpose import SeqPose, build_model
from training.checkpointing import load_training_state, save_training_state
from training.config import TrainConfig, load_config, save_config
from training.data import build_train_loader
from training.engine import read_losses, train_step, unwrap, validate
from training.logs import TrainingLog


def setup_distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


def build_optimizer(  # noqa: ANN201
    model: torch.nn.Module, cfg: TrainConfig, steps: int, spent: Callable[[], float] = lambda: 0.0
):
    """AdamW with linear warm-up and a cosine decay over ``steps`` or, when ``spent()`` (the
    fraction of a time budget used) runs ahead of the steps, over the time budget."""
    enc = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("features.encoder.")]
    rest = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("features.encoder.")
    ]
    o = cfg.optim
    groups = [{"params": rest, "lr": o.lr}]
    if enc:
        groups.append({"params": enc, "lr": o.lr * o.encoder_lr_scale})
    # fused: one kernel per step instead of a loop over parameters that reads each step count
    # on the host (253 host reads per step on the embedded model)
    opt = torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay, fused=True)

    def factor(step: int) -> float:
        if step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        progress = max((step - o.warmup_steps) / max(1, steps - o.warmup_steps), spent())
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def build_criterion(cfg: TrainConfig) -> SetCriterion:
    lc = cfg.loss
    classes = cfg.model.classes
    matcher = HungarianMatcher(
        lc.match_class,
        lc.match_translation,
        lc.match_rotation,
        lc.match_size,
        normalized=lc.normalized,
        categories=classes,
    )
    return SetCriterion(classes, weights=lc.weights, matcher=matcher, normalized=lc.normalized)


def init_from(model: SeqPose, path: Path) -> None:
    """Load a trained model's weights into ``model``: every tensor of the source must exist in
    the model and fit; the model's tensors the source lacks (a head the source did not have)
    keep their initial values and are listed. Input size and inference settings may differ
    (the ViT's position embeddings are resized per image). A run whose class list extends the
    source's (the same classes first, then new ones) gets the new classes added to the source
    (``add_class``): a new category learnt from a trained model."""
    source_model = load_model(path)
    old, new = source_model.cfg.classes, model.cfg.classes
    if not new.extends(old):
        raise ValueError(f"run.init_from {path}: its classes {old} do not begin this run's {new}")
    for category in new.items[len(old) :]:
        source_model = add_class(source_model, category)
        print(f"run.init_from {path}: class {category.name!r} added as id {len(source_model.cfg.classes)}")
    source = source_model.state_dict()
    try:
        missing, unexpected = model.load_state_dict(source, strict=False)
    except RuntimeError as exc:
        raise ValueError(f"run.init_from {path}: its weights do not fit this model ({exc})") from exc
    if unexpected:
        raise ValueError(f"run.init_from {path}: tensors this model does not have: {sorted(unexpected)}")
    if missing:
        print(f"run.init_from {path}: {len(missing)} tensors start untrained: {missing}", flush=True)


class Trainer:
    """One training run: builds the model, data, optimiser and criterion from a TrainConfig,
    trains over epochs or a time budget (the LR decays over whichever ends it), validates on
    its own scenes, and keeps last.pt (resumable), best and final weights in run.out_dir/name.
    A step with non-finite gradients is skipped, and a run of them stops training before a
    checkpoint can take bad weights."""

    def __init__(self, cfg: TrainConfig, resume: Path | None):
        self.cfg = cfg
        self.rank, self.world, local = setup_distributed()
        self.device = pick_device(cfg.run.device, local)
        if self.world > 1 and cfg.run.max_minutes:
            raise ValueError("run.max_minutes: processes would stop at different steps; use run.max_steps")
        self.run_dir = Path(cfg.run.out_dir) / cfg.run.name
        torch.manual_seed(cfg.run.seed)
        model = build_model(cfg.model)
        if cfg.run.init_from and resume is None:
            init_from(model, Path(cfg.run.init_from))
        model = model.to(self.device)
        self.loader, self.sampler, self.samples = build_train_loader(cfg, self.rank, self.world)
        self.steps_per_epoch = len(self.loader)
        if self.steps_per_epoch == 0:
            raise ValueError(f"{cfg.data.root}/{cfg.data.train_subset}: fewer samples than one batch")
        total = cfg.optim.epochs * self.steps_per_epoch
        self.total_steps = min(total, cfg.run.max_steps) if cfg.run.max_steps else total
        self.optimizer, self.scheduler = build_optimizer(model, cfg, self.total_steps, self.budget_spent)
        self.model = (
            torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
            if self.world > 1
            else model
        )
        self.criterion = build_criterion(cfg)
        self.step, self.best, self.bad_steps = 0, -1.0, 0
        self.seconds_before, self.started = 0.0, time.monotonic()  # training time over all resumes
        if resume is not None:
            self._resume(resume)
        elif (self.run_dir / "last.pt").exists():
            raise FileExistsError(
                f"{self.run_dir / 'last.pt'} exists: continue that run with --resume, or start a new one"
                " under another run.name or run.out_dir"
            )
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
            self.log = TrainingLog(self.run_dir, self.step)

    def _resume(self, path: Path) -> None:
        state = load_training_state(path)
        saved, mine = state["config"]["model"], self.cfg.model.to_dict()
        default = ModelConfig().to_dict()  # fields newer than the checkpoint: their defaults
        diff = [k for k in mine if saved.get(k, default[k]) != mine[k] and k != "infer_queries"]
        if diff:  # infer_queries acts at inference only
            raise ValueError(f"{path}: model config differs from the run's in {diff}")
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best = int(state["step"]), float(state["best"])
        self.seconds_before = state.get("seconds")  # None: saved before training time was kept

    def _state(self) -> dict:
        return {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "best": self.best,
            "seconds": self.seconds(),
            "config": self.cfg.to_dict(),
        }

    def budget_spent(self) -> float:
        """Fraction of ``run.max_minutes`` used so far (0 without a time budget)."""
        minutes = self.cfg.run.max_minutes
        return (self.seconds() or 0.0) / (60 * minutes) if minutes else 0.0

    def seconds(self) -> float | None:
        if self.seconds_before is None:
            return None
        return float(self.seconds_before) + time.monotonic() - self.started

    def meta(self) -> dict:
        seconds = self.seconds()
        return {"step": self.step, **({"train_seconds": round(seconds, 1)} if seconds is not None else {})}

    def checkpoint(self) -> None:
        if self.rank == 0:
            save_training_state(self.run_dir / "last.pt", self._state())

    def evaluate(self) -> None:
        if self.rank != 0:
            return
        d, r = self.cfg.data, self.cfg.run
        metrics = validate(
            self.model,
            NocsSubset(d.val_root or d.root, d.val_subset),
            self.device,
            self.cfg.multi_frame,
            1 if self.cfg.multi_frame else d.val_every_nth,  # MF: the time gaps of inference
            r.score_threshold,
        )
        summary = {k: v["mean"] for k, v in metrics.summary().items()}
        self.log.write(self.step, "val", summary)
        score = summary[r.best_metric]
        if self.cfg.validates_on_test_split:  # run.allow_test_validation: monitoring only
            tqdm.write(
                f"step {self.step}: test-split {r.best_metric} {100 * score:.1f} (monitoring; no best kept)"
            )
            return
        best = 100 * max(self.best, score, 0.0)
        tqdm.write(f"step {self.step}: validation {r.best_metric} {100 * score:.1f} (best {best:.1f})")
        if score > self.best:
            self.best = score
            save_model(unwrap(self.model), self.run_dir / "best", meta={**self.meta(), r.best_metric: score})

    def check_replicas(self) -> None:
        """Under DDP, all processes must end with the same parameters; print and compare checksums."""
        if self.world == 1:
            return
        flat = torch.cat([p.detach().double().flatten().cpu() for p in unwrap(self.model).parameters()])
        mine = torch.tensor(
            [flat.sum().item(), (flat * torch.arange(len(flat), dtype=torch.float64)).sum().item()]
        )
        every = [torch.zeros(2, dtype=torch.float64) for _ in range(self.world)]
        dist.all_gather(every, mine.double())
        line = f"rank {self.rank} parameter checksum {mine[0].item():.12e} {mine[1].item():.12e}\n"
        sys.stdout.write(line)  # one write: lines of several processes do not interleave
        sys.stdout.flush()
        if any(not torch.equal(e, every[0]) for e in every):
            raise RuntimeError(f"processes disagree on the parameters: {[e.tolist() for e in every]}")

    def apply_gradients(self, loss: torch.Tensor) -> None:
        """Clip and step. A step with non-finite gradients is skipped (weights and optimizer state
        untouched); ``run.max_bad_steps`` of them in a row stop the run, leaving last.pt as it was.
        Under DDP the gradients are all-reduced first, so every process takes the same decision."""
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip, foreach=True)
        if torch.isfinite(norm):  # the step's one host read outside log steps
            self.optimizer.step()
            self.bad_steps = 0
        else:
            self.bad_steps += 1
            tqdm.write(f"step {self.step + 1}: loss {float(loss)}, non-finite gradients: step skipped")
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.bad_steps >= self.cfg.run.max_bad_steps:
            raise RuntimeError(
                f"stopped at step {self.step + 1}: {self.bad_steps} steps in a row had non-finite"
                f" gradients (last loss {float(loss)}); {self.run_dir / 'last.pt'} keeps the last saved state"
            )

    def run_epoch(self, bar: tqdm) -> int:
        """Train from the current step to the end of its epoch (or of the run); returns the epoch."""
        o, r = self.cfg.optim, self.cfg.run
        epoch, start = divmod(self.step, self.steps_per_epoch)
        self.sampler.set_epoch(epoch, start * self.loader.batch_size)
        self.samples.epoch = epoch
        for batch in self.loader:
            torch.manual_seed(r.seed * 1_000_003 + self.step)  # denoising noise: same on resume
            losses = train_step(
                self.model,
                self.criterion,
                batch,
                self.device,
                o.amp,
                self.cfg.loss.dense_every,
                self.cfg.loss.features_every,
            )
            self.apply_gradients(losses["total"])
            self.step += 1
            bar.update(1)
            last = self.step == self.total_steps or self.budget_spent() >= 1.0
            if self.rank == 0 and (self.step % r.log_every == 0 or last):
                values = read_losses(losses)  # the only read of the losses on the host
                self.log.write(self.step, "train", {**values, "lr": self.scheduler.get_last_lr()[0]})
                bar.set_postfix(loss=f"{values['total']:.3f}")
            if self.step % r.checkpoint_every == 0 or last:
                self.checkpoint()
            if last:
                break
        return epoch

    def fit(self) -> None:
        r = self.cfg.run
        bar = tqdm(
            total=self.total_steps, initial=self.step, disable=self.rank != 0, desc=r.name, unit="step"
        )
        self.model.train()
        while self.step < self.total_steps and self.budget_spent() < 1.0:
            epoch = self.run_epoch(bar)
            epoch_done = self.step % self.steps_per_epoch == 0 or self.step == self.total_steps
            epoch_done = epoch_done or self.budget_spent() >= 1.0
            if epoch_done and r.eval_every_epochs and (epoch + 1) % r.eval_every_epochs == 0:
                self.evaluate()
                self.checkpoint()  # keeps "best" in the resumable state
        bar.close()
        self.check_replicas()
        if self.rank == 0:
            save_model(unwrap(self.model), self.run_dir / "final", meta=self.meta())
            self.log.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, type=Path, help="experiment YAML")
    p.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="override config values")
    p.add_argument("--resume", nargs="?", const="auto", help="continue from last.pt (or a given checkpoint)")
    args = p.parse_args(argv)
    cfg = load_config(args.config, args.set)
    resume = None
    if args.resume:
        resume = (
            Path(cfg.run.out_dir) / cfg.run.name / "last.pt" if args.resume == "auto" else Path(args.resume)
        )
    trainer = Trainer(cfg, resume)
    trainer.fit()
    if dist.is_initialized():
        dist.barrier()  # rank 0 writes the final model and closes its logs before anyone leaves
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
