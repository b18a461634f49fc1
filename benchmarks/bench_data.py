"""Data-path throughput: validation (clips/s) and loading (samples/s, folder vs shards) on 1,000 clips.

    .venv/bin/python benchmarks/bench_data.py [--clips 1000] [--size 64] [--frames 16] [--work DIR]

Writes (or reuses) a sketch dataset of about ``--clips`` clips, packs it, and times each stage in a
fresh child process so peak memory (max RSS) is per stage. Prints a table; ``--json`` saves it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path


def _peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _stage_validate(root: str, workers: int, queue) -> None:
    from interanimate.data.validate import validate_dataset

    start = time.perf_counter()
    report = validate_dataset(Path(root), workers=workers)
    seconds = time.perf_counter() - start
    assert report.ok, report.violations[:3]
    queue.put({"items": report.num_clips, "seconds": seconds, "peak_mib": _peak_mib()})


def _stage_load(root: str, shards: str | None, workers: int, num_frames: int, queue) -> None:
    import torch
    from torch.utils.data import DataLoader

    from interanimate.data.dataset import InterHFDataset, collate_samples
    from interanimate.data.pack import ShardDataset

    torch.set_num_threads(1)
    if shards:
        dataset = ShardDataset(Path(shards), num_frames=num_frames, seed=0, shuffle_buffer=64)
        loader = DataLoader(dataset, batch_size=8, num_workers=workers, collate_fn=collate_samples)
    else:
        dataset = InterHFDataset(Path(root), num_frames=num_frames, seed=0)
        loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=workers, collate_fn=collate_samples)
    start = time.perf_counter()
    count = 0
    for batch in loader:
        count += batch["pixel_values"].shape[0]
    seconds = time.perf_counter() - start
    queue.put({"items": count, "seconds": seconds, "peak_mib": _peak_mib()})


def _run(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--window", type=int, default=8, help="frames per training sample")
    parser.add_argument("--work", type=Path, default=None, help="folder to keep the dataset in (reused)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from interanimate.data.pack import pack_dataset
    from interanimate.data.sketch import SketchConfig, write_sketch_dataset

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-data-"))
    root, shards = work / "dataset", work / "shards"
    subjects = -(-args.clips // 18)
    start = time.perf_counter()
    records = write_sketch_dataset(root, num_subjects=subjects, seed=0, progress=True,
                                   config=SketchConfig(args.frames, args.size, 15.0))
    write_seconds = time.perf_counter() - start
    if not (shards / "index.json").is_file():
        pack_dataset(root, shards, clips_per_shard=100)
    print(f"dataset: {len(records)} clips of {args.frames} frames at {args.size}x{args.size} in {root} "
          f"(written or resumed in {write_seconds:.1f} s)")

    rows = []
    for workers in (1, 2):
        r = _run(_stage_validate, str(root), workers)
        rows.append((f"validate ({workers} process{'es' if workers > 1 else ''})", r, "clips/s"))
    for label, shard_path in (("folder", None), ("shards", str(shards))):
        for workers in (0, 2):
            r = _run(_stage_load, str(root), shard_path, workers, args.window)
            rows.append((f"load {label}, {workers} workers, {args.window}-frame windows", r, "samples/s"))

    print(f"\n{'stage':<46}{'items':>7}{'seconds':>9}{'rate':>12}{'peak MiB':>10}")
    for label, r, unit in rows:
        print(f"{label:<46}{r['items']:>7}{r['seconds']:>9.2f}{r['items'] / r['seconds']:>8.0f} {unit:<9}"
              f"{r['peak_mib']:>6.0f}")
    if args.json:
        args.json.write_text(json.dumps([{"stage": label, **r} for label, r, _ in rows], indent=2))
    print(f"\nmachine: {mp.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
