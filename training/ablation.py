"""The #12 ablation: training recipes at an equal training-time budget, on the synthetic benchmark.

    python -m training.ablation --config training/ablation.yaml

Each recipe is the base experiment with the first recipe's overrides and its own on top,
trained for ``minutes`` of training time (the LR decays over that budget), then evaluated
SF and MF on the validation scenes (the only numbers to choose a recipe by) and, when the
YAML names a ``test_root``, on its held-out test scenes (reported, never used for a choice;
an ablation that decides what ships leaves it out). A recipe whose
``final.safetensors`` exists is not trained again; one with only ``last.pt`` is resumed, so
the whole ablation survives interruptions. Writes ``summary.md`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from seqpose_core.checkpoint import load_model, read_meta
from seqpose_core.data.nocs_dataset import NocsSubset
from seqpose_core.evaluation.nocs import evaluate
from seqpose_core.evaluation.predict import predict_subset
from seqpose_core.predictor import Predictor
from training.config import load_config
from training.synthetic_benchmark import published
from training.train import Trainer

METRICS = ("IoU25", "IoU50", "10deg10cm", "5deg5cm")
COLUMNS = (*METRICS, "class right", "boxes/object")


@dataclass
class Recipe:
    name: str
    overrides: list[str]


def read_ablation(path: Path) -> tuple[dict, list[Recipe]]:
    """The ablation YAML -> its settings and the recipes (first-recipe overrides prepended)."""
    doc = yaml.safe_load(path.read_text())
    first = list(doc.get("first_recipe", []))
    recipes = [Recipe(r["name"], first + list(r.get("set", []))) for r in doc["recipes"]]
    names = [r.name for r in recipes]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: recipe names must be unique, got {names}")
    return doc, recipes


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def train(doc: dict, recipe: Recipe) -> Path:
    """Train one recipe within the budget (or finish/skip it) -> its final checkpoint."""
    sets = [*recipe.overrides, f"run.name={slug(recipe.name)}", f"run.out_dir={doc['out_dir']}"]
    sets += [f"run.max_minutes={doc['minutes']}", "run.eval_every_epochs=0"]
    cfg = load_config(doc["base"], sets)
    run_dir = Path(cfg.run.out_dir) / cfg.run.name
    final = run_dir / "final.safetensors"
    if not final.exists():
        last = run_dir / "last.pt"
        Trainer(cfg, last if last.exists() else None).fit()
    return final


def scores(checkpoint: Path, subset: NocsSubset, multi_frame: bool, threshold: float) -> dict[str, float]:
    """Exact-IoU mean APs (%) and, at the node's default threshold, what it would publish:
    boxes per object and the share of boxes near an object that carry its class (%)."""
    model = load_model(checkpoint)
    predictor = Predictor(model, "cpu", multi_frame, threshold)
    summary = evaluate(
        predict_subset(predictor, subset), iou_mode="exact", categories=model.cfg.classes
    ).summary()
    row = {m: 100 * summary[m]["mean"] for m in METRICS}
    shown = published(predictor, subset, motion=False)
    row["boxes/object"], row["class right"] = shown["boxes_per_object"], 100 * shown["class_accuracy"]
    return row


def evaluate_recipe(doc: dict, recipe: Recipe, checkpoint: Path) -> dict:
    t = float(doc.get("score_threshold", 0.05))
    meta = read_meta(checkpoint)
    row = {
        "recipe": recipe.name,
        "overrides": recipe.overrides,
        "steps": int(meta.get("step", 0)),
        "minutes": float(meta.get("train_seconds", 0.0)) / 60,
    }
    splits = {"val": doc["val_root"], **({"test": doc["test_root"]} if doc.get("test_root") else {})}
    for split, root in splits.items():
        subset = NocsSubset(root, "real_test")
        row[f"{split}_SF"] = scores(checkpoint, subset, False, t)
        row[f"{split}_MF"] = scores(checkpoint, subset, True, t)
    return row


def table(rows: list[dict], split: str) -> str:
    head = ["recipe", "min", "steps"] + [f"{mode} {m}" for m in COLUMNS for mode in ("SF", "MF")]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        cells = [r["recipe"], f"{r['minutes']:.1f}", str(r["steps"])]
        cells += [
            f"{r[f'{split}_{mode}'].get(m, float('nan')):.2f}" for m in COLUMNS for mode in ("SF", "MF")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ablation", description=__doc__)
    p.add_argument("--config", type=Path, default=Path("training/ablation.yaml"))
    p.add_argument("--out", type=Path, default=Path("reports/ablation"))
    p.add_argument("--only", nargs="*", default=None, help="run just these recipes (by name)")
    args = p.parse_args(argv)
    doc, recipes = read_ablation(args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    done = args.out / "summary.json"
    rows = {r["recipe"]: r for r in json.loads(done.read_text())} if done.exists() else {}
    for recipe in recipes:
        if (args.only is not None and recipe.name not in args.only) or recipe.name in rows:
            continue  # not asked for, or trained and evaluated before
        rows[recipe.name] = evaluate_recipe(doc, recipe, train(doc, recipe))
        ordered = [rows[r.name] for r in recipes if r.name in rows]
        done.write_text(json.dumps(ordered, indent=1))
        text = f"Ablation at {doc['minutes']} min of training per recipe (exact IoU mean AP, %).\n\n"
        text += f"Validation scenes ({doc['val_root']}):\n\n{table(ordered, 'val')}\n"
        if doc.get("test_root"):
            text += f"\nHeld-out scenes ({doc['test_root']}):\n\n{table(ordered, 'test')}\n"
        (args.out / "summary.md").write_text(text)
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
