"""Files shipped inside the package: the embedded default model (trained on synthetic data only)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = Path(__file__).with_name("seqpose_tiny_synth.safetensors")


def default_checkpoint() -> Path | None:
    """The shipped model, or None when this checkout carries none (see MODEL_CARD.md beside it)."""
    return DEFAULT_MODEL if DEFAULT_MODEL.is_file() and DEFAULT_MODEL.with_suffix(".yaml").is_file() else None
