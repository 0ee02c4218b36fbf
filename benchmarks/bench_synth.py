"""Generation speed of seqpose-synth at 640 x 480 (frames per second, all files written), for each
look asked, interleaved (--rounds) so that both see the same machine.

Usage: python benchmarks/bench_synth.py [--scenes N] [--frames N] [--looks plain randomized] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from seqpose_core.synth.writer import LOOKS, SynthConfig, generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scenes", type=int, default=3)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--looks", nargs="+", choices=LOOKS, default=list(LOOKS))
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    for _ in range(args.rounds):
        for look in args.looks:
            cfg = SynthConfig(train_scenes=args.scenes, test_scenes=0, frames=args.frames, look=look)
            with tempfile.TemporaryDirectory() as root:
                start = time.perf_counter()
                n = generate(root, cfg)["train"]
                seconds = time.perf_counter() - start
            rate, ms = n / seconds, 1000 * seconds / n
            print(
                f"{look}: {n} frames at 640x480 in {seconds:.1f} s: {rate:.2f} frames/s ({ms:.0f} ms/frame)"
            )


if __name__ == "__main__":
    main()
