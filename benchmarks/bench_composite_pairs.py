"""CPU cost of render-then-refine training pairs: milliseconds of CPU per sample, plain vs with composite channels.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_composite_pairs.py DATASET [--frames 1 8] [--size 64]

Every clip of ``DATASET`` is loaded once (filling the per-clip cache of painted-out first frames, as the first epoch
does), then two more epochs are timed with ``time.process_time`` (CPU time, so other jobs on the machine matter less
than for wall time).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from interanimate.data.dataset import InterHFDataset


def cpu_ms_per_sample(root: Path, frames: int, size: int, composite: bool, epochs: int = 2) -> float:
    dataset = InterHFDataset(root, num_frames=frames, resolution=(size, size), composite=composite)
    for i in range(len(dataset)):
        dataset[i]
    start = time.process_time()
    for epoch in range(1, epochs + 1):
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            dataset[i]
    return (time.process_time() - start) / (epochs * len(dataset)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    for frames in args.frames:
        plain, paired = (cpu_ms_per_sample(args.dataset, frames, args.size, c) for c in (False, True))
        print(f"{frames} frame(s) at {args.size} px: plain {plain:.1f} ms/sample CPU, composite {paired:.1f}")


if __name__ == "__main__":
    main()
