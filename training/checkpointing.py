"""Training checkpoints: everything needed to continue exactly, written atomically.

``last.pt`` holds model, optimizer, scheduler, the step (from which the epoch and the position
in it follow), the best validation score, the training time and the config; it is
written to a temporary file, flushed to disk, then renamed over the old one, so a killed
run always leaves the last complete checkpoint. Read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_training_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_training_state(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RuntimeError(f"{path}: unreadable training checkpoint ({exc})") from exc
