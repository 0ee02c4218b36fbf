"""Generation speed of seqpose-synth at 640 x 480 (frames per second, all files written).

Usage: python benchmarks/bench_synth.py [--scenes N] [--frames N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from seqpose_core.synth.writer import SynthConfig, generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scenes", type=int, default=3)
    p.add_argument("--frames", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        counts = generate(root, SynthConfig(train_scenes=args.scenes, test_scenes=0, frames=args.frames))
        seconds = time.perf_counter() - start
    n = counts["train"]
    rate, ms = n / seconds, 1000 * seconds / n
    print(f"{n} frames at 640x480 in {seconds:.1f} s: {rate:.2f} frames/s ({ms:.0f} ms/frame)")


if __name__ == "__main__":
    main()
