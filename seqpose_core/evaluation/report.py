"""Evaluation reports: a JSON of every AP array, a Markdown table, AP-curve plots (paper fig. 3)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from seqpose_core.evaluation.nocs import SUMMARY_METRICS, NocsMetrics

CURVE_MAX_CM = 20.0
CURVE_MAX_DEG = 60.0


def _nan_to_none(a: np.ndarray) -> list:
    return [None if math.isnan(v) else v for v in a.tolist()] if a.ndim == 1 else [_nan_to_none(r) for r in a]


def metrics_to_dict(m: NocsMetrics) -> dict:
    """Everything an evaluation produced, JSON-ready (nan becomes null)."""
    t = m.thresholds
    return {
        "iou_mode": m.iou_mode,
        "num_images": m.num_images,
        "num_gt": dict(zip(m.names, m.num_gt.tolist(), strict=True)),
        "summary": {
            k: {c: (None if math.isnan(v) else v) for c, v in row.items()} for k, row in m.summary().items()
        },
        "thresholds": {"iou": t.iou.tolist(), "deg": t.deg.tolist(), "cm": t.cm.tolist()},
        "rows": [*m.names, "mean"],
        "iou_aps": _nan_to_none(m.iou_aps),
        "pose_aps": [_nan_to_none(a) for a in m.pose_aps],
    }


def markdown_table(m: NocsMetrics, title: str = "NOCS evaluation") -> str:
    """Summary table in percent, one row per class and the mean."""
    names = [name for name, _, _ in SUMMARY_METRICS]
    summary = m.summary()
    lines = [
        f"### {title}",
        "",
        f"3D IoU mode: `{m.iou_mode}`; {m.num_images} images; AP in %.",
        "",
        "| class | GT | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for k, row in enumerate([*m.names, "mean"]):
        gt = str(m.num_gt[k]) if k < len(m.num_gt) else str(int(m.num_gt.sum()))
        cells = [_pct(summary[n][row]) for n in names]
        lines.append(f"| {row} | {gt} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pct(v: float) -> str:
    return "-" if math.isnan(v) else f"{100 * v:.1f}"


def plot_curves(m: NocsMetrics, path: str | Path, title: str = "") -> None:
    """AP against 3D IoU (%), rotation error (deg) and translation error (cm), per class and mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = m.thresholds
    deg_ok = t.deg <= CURVE_MAX_DEG
    cm_ok = t.cm <= CURVE_MAX_CM
    panels = (
        ("3D IoU (%)", 100 * t.iou, m.iou_aps),
        ("rotation error (deg)", t.deg[deg_ok], m.pose_aps[:, deg_ok, -1]),
        ("translation error (cm)", t.cm[cm_ok], m.pose_aps[:, -1, cm_ok]),
    )
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (label, x, aps) in zip(axes, panels, strict=True):
        for k, name in enumerate([*m.names, "mean"]):
            style = {"color": "black", "linewidth": 2.5} if name == "mean" else {"linewidth": 1.5}
            ax.plot(x, 100 * aps[k], label=name, **style)
        ax.set_xlabel(label)
        ax.set_ylabel("AP (%)")
        ax.set_ylim(0, 100)
        ax.set_xlim(x[0], x[-1])
        ax.grid(alpha=0.3)
    axes[-1].legend(loc="lower right")
    fig.suptitle(f"{title} (3D IoU mode: {m.iou_mode})".strip())
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(m: NocsMetrics, out_dir: str | Path, title: str = "NOCS evaluation") -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.md`` and ``ap_curves.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "metrics.json", "markdown": out / "metrics.md", "curves": out / "ap_curves.png"}
    paths["json"].write_text(json.dumps(metrics_to_dict(m), indent=1))
    paths["markdown"].write_text(markdown_table(m, title))
    plot_curves(m, paths["curves"], title)
    return paths
