"""Files shipped inside the package: the embedded default model (trained on synthetic data only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from seqpose_core.categories import NOCS, Categories

if TYPE_CHECKING:
    from seqpose_core.model.seqpose import SeqPose

DEFAULT_MODEL = Path(__file__).with_name("seqpose_lite0_synth.safetensors")


def default_checkpoint() -> Path | None:
    """The shipped model, or None when this checkout carries none (see MODEL_CARD.md beside it)."""
    return DEFAULT_MODEL if DEFAULT_MODEL.is_file() and DEFAULT_MODEL.with_suffix(".yaml").is_file() else None


def model_path(checkpoint: str | None) -> Path | None:
    """Which weights a user-facing run takes: the given checkpoint, else the embedded default,
    else None (a random-weight model, which the caller must say plainly)."""
    if checkpoint:
        return Path(checkpoint)
    return default_checkpoint()


def model_classes(checkpoint: str | None) -> Categories:
    """The class list of ``model_path(checkpoint)``'s model (NOCS's for a random-weight one)."""
    from seqpose_core.checkpoint import read_config

    path = model_path(checkpoint)
    return read_config(path).classes if path else NOCS


def load_or_random(checkpoint: str | None) -> tuple[SeqPose, Path | None]:
    """The model of ``model_path(checkpoint)``; a random-weight tiny model and None without one."""
    from seqpose_core.checkpoint import load_model
    from seqpose_core.model.config import tiny_config
    from seqpose_core.model.seqpose import SeqPose

    path = model_path(checkpoint)
    return (SeqPose(tiny_config()), None) if path is None else (load_model(path), path)
