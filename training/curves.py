"""Training curves of a run folder: the loss terms of ``train.csv`` and the validation mAPs of ``val.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

LOSS_PANELS = (
    ("total loss", ("total",)),
    ("set losses, last layer (weighted)", ("class", "translation", "rotation", "size")),
    ("dense auxiliary losses (weighted)", ("depth", "normal", "seg")),
)
VAL_COLUMNS = ("IoU25", "10cm", "10deg", "10deg10cm")


def read_log(path: Path) -> dict[str, np.ndarray]:
    """A log CSV -> column name -> values (float, nan where empty), ``step`` included."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no logged rows")
    return {k: np.array([float(r[k]) if r[k] else np.nan for r in rows]) for k in rows[0]}


def plot_run(run_dir: Path, path: Path) -> None:
    """Write a PNG: one panel per loss group against the step, and the validation mAPs (%)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = read_log(run_dir / "train.csv")
    val = read_log(run_dir / "val.csv") if (run_dir / "val.csv").is_file() else None
    fig, axes = plt.subplots(1, len(LOSS_PANELS) + 1, figsize=(20, 4.5))
    for ax, (title, names) in zip(axes, LOSS_PANELS, strict=False):
        for name in names:
            if name in train:
                ax.plot(train["step"], train[name], label=name, linewidth=1.2)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(loc="upper right")
    if val is not None:
        for name in VAL_COLUMNS:
            axes[-1].plot(val["step"], 100 * val[name], marker="o", label=name)
        axes[-1].legend(loc="upper left")
    axes[-1].set_title("validation mean AP (%)")
    axes[-1].set_ylim(0, 100)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(str(run_dir))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
