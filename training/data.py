"""Training data: SF frames or MF clips, a deterministic per-epoch order split over processes,
and photometric jitter seeded by (seed, epoch, sample) so a resumed run sees the same inputs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Sampler

from seqpose_core.data.collate import collate_clips, collate_frames
from seqpose_core.data.frame import Frame
from seqpose_core.data.negatives import negative_clip
from seqpose_core.data.nocs_dataset import NocsClips, NocsFrames
from seqpose_core.data.nocs_io import read_classes
from seqpose_core.data.paste import paste_object
from seqpose_core.data.paste_look import PLAIN, REPROJECTED, LookDraw, PasteLook, draw_look
from seqpose_core.data.photo_background import photo_background_clip
from seqpose_core.data.transforms import PhotometricJitter, resize_crop
from training.config import TrainConfig


class EpochSampler(Sampler[int]):
    """This process's share of a seeded permutation per epoch, optionally skipping the first ``start``."""

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1):
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=g).tolist()
        order += order[: (-len(order)) % self.world]  # equal shares
        return order[self.rank :: self.world]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return max(0, len(self.indices()) - self.start)


class Paster:
    """Pastes an object of a random item of ``source`` (frames or clips like the training data's)
    into a training item with probability ``prob``: frame by frame, each source frame's object
    centred on one random pixel of the target's inner 70 % (``paste_object``), in one look
    drawn per clip from ``look`` (None: as cut, ``PLAIN``)."""

    def __init__(self, source: NocsFrames | NocsClips, prob: float, look: PasteLook | None = None):
        self.source, self.prob, self.look = source, prob, look

    def _draw(self, first: Frame, rng: np.random.Generator) -> LookDraw:
        if self.look is None or not len(first.objects):
            return PLAIN
        o = first.objects
        distance = float(np.linalg.norm(o.translations[0]))
        return draw_look(self.look, distance, float(np.linalg.norm(o.sizes[0])) / 2, rng)

    def __call__(self, item: Frame | list[Frame], rng: np.random.Generator) -> Frame | list[Frame]:
        if rng.random() >= self.prob:
            return item
        clip = item if isinstance(item, list) else [item]
        pasted = self.source[int(rng.integers(len(self.source)))]
        pasted = pasted if isinstance(pasted, list) else [pasted]
        h, w = clip[0].size
        pixel = (w * rng.uniform(0.15, 0.85), h * rng.uniform(0.15, 0.85))
        draw = self._draw(pasted[0], rng)
        out = [
            paste_object(f, s, int(rng.integers(len(s.objects))), pixel, draw, rng) if len(s.objects) else f
            for f, s in zip(clip, pasted, strict=True)
        ]
        return out if isinstance(item, list) else out[0]


class TrainSamples(torch.utils.data.Dataset):
    """Wraps NocsFrames / NocsClips: a photo negative in place of the item (with
    ``data.negative_prob``), else a paste (optional) and a photo behind its objects (with
    ``data.photo_background_prob``); then resize-crop and jitter; the random choices seeded by
    (seed, epoch, index)."""

    def __init__(
        self, base: NocsFrames | NocsClips | ConcatDataset, cfg: TrainConfig, paster: Paster | None = None
    ):
        self.base, self.seed, self.epoch = base, cfg.run.seed, 0
        self.size = cfg.model.input_size
        self.paster = paster
        self.negative_prob = cfg.data.negative_prob
        self.background_prob = cfg.data.photo_background_prob

    def __len__(self) -> int:
        return len(self.base)

    def _one(self, frame: Frame, jitter: PhotometricJitter) -> Frame:
        return jitter(resize_crop(frame, self.size))

    def __getitem__(self, i: int) -> Frame | list[Frame]:
        jitter = PhotometricJitter(
            seed=int(np.random.SeedSequence([self.seed, self.epoch, i]).generate_state(1)[0])
        )
        item = self.base[i]
        rng = np.random.default_rng([self.seed, self.epoch, i, 2])
        if self.negative_prob > 0 and rng.random() < self.negative_prob:
            clip = negative_clip(item if isinstance(item, list) else [item], rng)
            item = clip if isinstance(item, list) else clip[0]
        else:
            if self.paster is not None:
                item = self.paster(item, np.random.default_rng([self.seed, self.epoch, i, 1]))
            if self.background_prob > 0 and rng.random() < self.background_prob:
                clip = photo_background_clip(item if isinstance(item, list) else [item], rng)
                item = clip if isinstance(item, list) else clip[0]
        return [self._one(f, jitter) for f in item] if isinstance(item, list) else self._one(item, jitter)


def check_classes(root: str, cfg: TrainConfig) -> None:
    """A data root's class ids (its classes.yaml, else NOCS's) must mean the same classes in the
    model: its list begins the model's. Raises ValueError naming both."""
    classes, model = read_classes(root), cfg.model.classes
    if not model.extends(classes):
        raise ValueError(f"{root}: its classes {classes} do not begin model.categories {model}")


def _subset(root: str, cfg: TrainConfig) -> NocsFrames | NocsClips:
    d = cfg.data
    if cfg.multi_frame:
        return NocsClips(root, d.train_subset, d.clip_length, d.clip_stride, d.clip_step)
    return NocsFrames(root, d.train_subset)


def build_train_loader(
    cfg: TrainConfig, rank: int, world: int
) -> tuple[DataLoader, EpochSampler, TrainSamples]:
    d = cfg.data
    for root in [d.root, *d.extra_roots, *([d.paste_root] if d.paste_root else [])]:
        check_classes(root, cfg)
    parts = [_subset(root, cfg) for root in [d.root, *d.extra_roots]]
    base = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    look = {"plain": None, "blended": PasteLook(), "reprojected": REPROJECTED}[d.paste_look]
    paster = Paster(_subset(d.paste_root, cfg), d.paste_prob, look) if d.paste_root else None
    samples = TrainSamples(base, cfg, paster)
    sampler = EpochSampler(len(samples), cfg.run.seed, rank, world)
    per_rank = max(1, cfg.optim.batch_size // world)
    loader = DataLoader(
        samples,
        batch_size=per_rank,
        sampler=sampler,
        num_workers=d.workers,
        collate_fn=collate_clips if cfg.multi_frame else collate_frames,
        drop_last=True,
    )
    return loader, sampler, samples
