"""Throughput and peak memory of the procedural generator.

Prints, per frame size: rendered frames per second on one core (all annotations, no encoding), the
same with H.264 encoding and the annotation archive, and the process's peak resident memory; then
dataset throughput with 1..N worker processes. Run:

    .venv/bin/python benchmarks/bench_synth.py [--sizes 64 128 256] [--clips 6] [--frames 48] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--clips", type=int, default=6, help="clips per size (patterns cycle)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from interanimate.data.io import encode_video
    from interanimate.data.synth.generator import ClipSpec, generate_dataset, render_clip
    from interanimate.taxonomy import PATTERNS

    render_clip(ClipSpec(0, 0, "poke_nose", 0, 8, 64))  # JIT warm-up (cached after the first run)
    print(f"single core, {args.clips} clips x {args.frames} frames per size")
    print(f"{'size':>5} {'render fps':>11} {'+encode fps':>12} {'peak MiB':>9}")
    for size in args.sizes:
        render_s = total_s = 0.0
        frames = 0
        for i in range(args.clips):
            spec = ClipSpec(1, i % 3, PATTERNS[(i * 5) % len(PATTERNS)].name, i, args.frames, size)
            start = time.perf_counter()
            clip = render_clip(spec)
            mid = time.perf_counter()
            encode_video(clip.frames, spec.fps)
            clip.annotations.to_npz_bytes()
            end = time.perf_counter()
            render_s += mid - start
            total_s += end - start
            frames += spec.num_frames
        print(f"{size:>5} {frames / render_s:>11.1f} {frames / total_s:>12.1f} {peak_mib():>9.0f}")

    print(f"\ndataset generation (render + encode + write), 128 px, {args.frames} frames per clip")
    print(f"{'workers':>7} {'clips':>6} {'frames/s':>9} {'speed-up':>9}")
    base = None
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            subjects = max(2, workers)
            summary = generate_dataset(tmp, subjects, 1, num_frames=args.frames, size=128, seed=5,
                                       patterns=PATTERNS[:6], workers=workers, progress=False)
        fps = summary["frames_per_second"]
        base = base or fps
        print(f"{workers:>7} {summary['clips_written']:>6} {fps:>9.1f} {fps / base:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
