"""Experiment configuration: dataclasses, one YAML file per experiment (read with yaml.safe_load).

A YAML file has the sections ``model`` (seqpose_core's ModelConfig), ``data``, ``optim``,
``run`` and ``loss``; anything not given keeps the dataclass default. No inheritance between files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from seqpose_core.model.config import ModelConfig


@dataclass
class DataConfig:
    root: str = "data"
    train_subset: str = "real_train"
    extra_roots: list[str] = field(default_factory=list)  # more training data: the same subset of these
    val_subset: str = "camera_val"
    clip_length: int = 1  # 1: single-frame training; > 1: clips with the memory carried through
    allow_short_clips: bool = False  # clips shorter than memory_frames + 1: the first recipe, ablation only
    clip_stride: int = 1
    clip_step: int = 1
    workers: int = 2
    val_root: str = ""  # dataset root of the validation subset ("": root); a *test* subset of root is refused
    val_every_nth: int = 1  # SF: every n-th validation frame; MF always validates at the full frame rate
    # cut and paste (seqpose_core/data/paste.py): with probability paste_prob, an object of a clip
    # of paste_root (e.g. a new category's self-labels) is pasted into a training item
    paste_root: str = ""
    paste_prob: float = 0.5
    # plain: as cut (source distance, light, hard edge); blended: moved along its ray, occluded
    # by the scene's nearer objects, relit, blurred, noise matched, edge feathered (paste_look.py);
    # reprojected: blended, and moved by its own depth over 0.35-1.2 m (paste_look.REPROJECTED)
    paste_look: str = "plain"
    # photographs as negatives (seqpose_core/data/negatives.py): with this probability a training
    # item is replaced by a crop of a training-side photo with no object in it
    negative_prob: float = 0.0
    # rendered objects in front of photographs (seqpose_core/data/photo_background.py): with this
    # probability a training item that is not a negative keeps its objects and gets a photo behind them
    photo_background_prob: float = 0.0


PASTE_LOOKS = ("plain", "blended", "reprojected")


@dataclass
class OptimConfig:
    lr: float = 4e-4
    weight_decay: float = 1e-4
    epochs: int = 24
    batch_size: int = 16  # total over all processes
    warmup_steps: int = 200
    grad_clip: float = 0.1
    encoder_lr_scale: float = 0.1  # lr of a trained (unfrozen) encoder relative to lr
    amp: bool = True  # bf16 autocast on CUDA (CPU trains in fp32); losses and matching in fp32


@dataclass
class LossConfig:
    """Loss weights (eq. 10; the paper: all 1 but rotation 10) and Hungarian matching costs.

    The paper gives no matching costs. Ours let position decide which query answers an
    object: with ``normalized`` position is compared as (x/z, y/z, log z) and size as log
    size (seqpose_core.model.matcher), so 10 cm at 0.8 m costs about 10 x 0.37 = 3.7 while
    a 30 degree rotation costs 0.14 and the class term spans about 2. With rotation 10 in
    the cost, as in the loss, a first CPU run collapsed to image-independent boxes.
    ``normalized: false`` compares metres (the first recipe, for the ablation).
    """

    weights: dict = field(default_factory=dict)  # overrides of seqpose_core's DEFAULT_WEIGHTS
    match_class: float = 1.0
    match_translation: float = 10.0
    match_rotation: float = 1.0
    match_size: float = 1.0
    normalized: bool = True
    dense_every: int = 1  # clips: supervise the dense heads on every n-th frame (training/engine.py)
    features_every: int = 1  # clips: the encoder and DPT learn from every n-th frame (the same)


@dataclass
class RunConfig:
    name: str = "seqpose"
    out_dir: str = "runs"
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu
    log_every: int = 10
    checkpoint_every: int = 200  # steps
    eval_every_epochs: int = 1
    best_metric: str = "10deg10cm"  # a summary metric of seqpose_core.evaluation (mean AP)
    max_steps: int = 0  # stop after this many steps (0: run all epochs)
    max_minutes: float = 0.0  # stop after this much training time; the LR decays over it (0: off)
    score_threshold: float = 0.05  # for validation predictions
    max_bad_steps: int = 10  # consecutive steps with non-finite gradients (skipped) before stopping
    init_from: str = ""  # start from these SeqPose weights (.safetensors), e.g. at another input size
    allow_test_validation: bool = False  # monitor on a test split: logged only, never writes best


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        for name in ("dense_every", "features_every"):
            if getattr(self.loss, name) < 1:
                raise ValueError(f"loss.{name} must be at least 1, got {getattr(self.loss, name)}")
        if self.data.paste_look not in PASTE_LOOKS:
            raise ValueError(f"data.paste_look must be one of {PASTE_LOOKS}, got {self.data.paste_look!r}")
        if not 0.0 <= self.data.paste_prob <= 1.0:
            raise ValueError(f"data.paste_prob must lie in [0, 1], got {self.data.paste_prob}")
        for name in ("negative_prob", "photo_background_prob"):
            if not 0.0 <= getattr(self.data, name) <= 1.0:
                raise ValueError(f"data.{name} must lie in [0, 1], got {getattr(self.data, name)}")
        need = self.model.memory_frames + 1
        if 1 < self.data.clip_length < need and not self.data.allow_short_clips:
            raise ValueError(
                f"data.clip_length {self.data.clip_length} gives the memory fewer past frames than"
                f" model.memory_frames {self.model.memory_frames} keeps at inference: use at least {need}"
            )

        if self.validates_on_test_split and not self.run.allow_test_validation:
            raise ValueError(
                f"data.val_subset {self.data.val_subset!r} of data.root {self.data.root!r} is the test"
                " split: a model chosen on it is tuned on the test set. Validate on scenes of their own"
                " (data.val_root) or on another subset (camera_val), or set run.allow_test_validation:"
                " true to monitor it without keeping a best checkpoint"
            )

    @property
    def validates_on_test_split(self) -> bool:
        """A validation subset named as a test split, read from the training data's own root.
        (A separate data.val_root holds validation scenes only, whatever its subsets are named.)"""
        same_root = self.data.val_root in ("", self.data.root)
        return same_root and "test" in self.data.val_subset

    @property
    def multi_frame(self) -> bool:
        return self.data.clip_length > 1

    def to_dict(self) -> dict:
        return {
            "model": self.model.to_dict(),
            "data": asdict(self.data),
            "optim": asdict(self.optim),
            "run": asdict(self.run),
            "loss": asdict(self.loss),
        }


def _section(cls: type, values: dict | None, where: str) -> object:
    values = values or {}
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}")
    return cls(**values)


def config_from_dict(doc: dict, where: str = "config") -> TrainConfig:
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a mapping with model, data, optim and run sections")
    unknown = sorted(set(doc) - {"model", "data", "optim", "run", "loss"})
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown}")
    try:
        model = ModelConfig.from_dict(doc.get("model") or {})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: model: {exc}") from exc
    return TrainConfig(
        model=model,
        data=_section(DataConfig, doc.get("data"), f"{where}: data"),
        optim=_section(OptimConfig, doc.get("optim"), f"{where}: optim"),
        run=_section(RunConfig, doc.get("run"), f"{where}: run"),
        loss=_section(LossConfig, doc.get("loss"), f"{where}: loss"),
    )


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read an experiment YAML; ``overrides`` are ``section.key=value`` strings (values parsed as YAML)."""
    path = Path(path)
    doc = yaml.safe_load(path.read_text()) or {}
    for item in overrides or []:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if not name:
            raise ValueError(f"override {item!r}: expected section.key=value")
        doc.setdefault(section, {})[name] = yaml.safe_load(value)
    return config_from_dict(doc, str(path))


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
