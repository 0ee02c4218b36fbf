"""Training logs: a CSV row and TensorBoard scalars per logged step (rank 0 only)."""

from __future__ import annotations

import csv
from pathlib import Path


class CsvLog:
    """Rows of one kind (train or val) with the columns of its first row."""

    def __init__(self, path: Path, resume_step: int):
        self.path = path
        rows = list(csv.reader(open(path))) if path.is_file() else []  # noqa: SIM115
        self.columns = rows[0] if rows else None
        if rows:  # on resume, drop rows logged after the checkpoint (they are re-run)
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= resume_step])

    def write(self, step: int, values: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if self.columns is None:
                self.columns = ["step", *values]
                writer.writerow(self.columns)
            writer.writerow([step, *(values.get(c, "") for c in self.columns[1:])])


class TrainingLog:
    """``train.csv`` (every loss term, lr), ``val.csv`` (NOCS mAPs) and TensorBoard scalars."""

    def __init__(self, run_dir: Path, resume_step: int = 0):
        from torch.utils.tensorboard import SummaryWriter

        self.csv = {kind: CsvLog(run_dir / f"{kind}.csv", resume_step) for kind in ("train", "val")}
        self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step or None)

    def write(self, step: int, kind: str, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.tb.add_scalar(f"{kind}/{k}", v, step)
        self.csv[kind].write(step, values)

    def close(self) -> None:
        self.tb.close()
