"""``seqpose-eval``: NOCS evaluation of result files, written as JSON, Markdown and AP curves."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from seqpose_core.evaluation.nocs import IOU_MODES, UNMATCHED_RULES, evaluate
from seqpose_core.evaluation.report import markdown_table, write_report
from seqpose_core.evaluation.results import ImageResult, ResultsFormatError, load_results


def _expand(paths: list[str]) -> list[Path]:
    """Files as given; folders contribute their ``results*.pkl`` and ``*.json`` files, sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("results*.pkl"), *p.glob("*.json")])
            if not found:
                raise ResultsFormatError(f"{p}: folder holds no results*.pkl or *.json file")
            files += found
        else:
            files.append(p)
    return files


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqpose-eval", description=__doc__)
    parser.add_argument(
        "predictions", nargs="+", help="results_*.pkl or seqpose JSON files, or folders of them"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="folder for metrics.json, metrics.md, ap_curves.png"
    )
    parser.add_argument(
        "--iou", choices=IOU_MODES, default="legacy", help="3D IoU: the published protocol's or the exact one"
    )
    parser.add_argument(
        "--pose-ap-when-unmatched",
        choices=UNMATCHED_RULES,
        help="pose APs of a class whose GT nothing matched at IoU 0.1: nan (the reference's; default"
        " with --iou legacy) or zero (default with --iou exact)",
    )
    parser.add_argument("--title", default="NOCS evaluation", help="title of the table and plots")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        files = _expand(args.predictions)
        results: list[ImageResult] = []
        for f in tqdm(files, desc="reading", unit="file", disable=len(files) < 20, file=sys.stderr):
            results += load_results(f)
    except ResultsFormatError as exc:
        print(f"seqpose-eval: error: {exc}", file=sys.stderr)
        return 2
    metrics = evaluate(
        results,
        iou_mode=args.iou,
        progress=sys.stderr.isatty() or len(results) > 500,
        pose_ap_when_unmatched=args.pose_ap_when_unmatched,
    )
    paths = write_report(metrics, args.out, args.title)
    print(markdown_table(metrics, args.title))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
