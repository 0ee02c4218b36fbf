"""Background processes for tests, always stopped, with their output kept for failure messages."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Background:
    proc: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s; returns the exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def start_background(
    args: list[str], log_dir: os.PathLike, cwd: str | None = None, env: dict[str, str] | None = None
) -> Background:
    """Start ``args`` in its own process group with stdout and stderr going to a log file;
    ``env``: its whole environment (default: this process's)."""
    log_path = Path(log_dir) / f"bg-{len(list(Path(log_dir).glob('bg-*')))}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    return Background(proc, log_path)
