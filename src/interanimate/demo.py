"""``interanimate demo``: the product's whole path, small enough for a CPU, with pictures to look at.

Today the path is the data side: generate a small labelled dataset, validate it against the contract,
summarise it (table + chart), pack it into training shards, stream a batch from the shards exactly
as training will, and draw a preview of clips next to the condition maps the model is driven by.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from interanimate.data.conditions import conditions_to_rgb


def _preview(dataset: Path, path: Path, num_clips: int = 6, frames_per_clip: int = 6) -> Path:
    """A PNG: for a few clips (one per pattern), a row of video frames and a row of condition maps."""
    import cv2

    from interanimate.data.dataset import InterHFDataset

    ds = InterHFDataset(dataset, num_frames=frames_per_clip, stride=2, seed=0)
    seen, rows = set(), []
    for index, record in enumerate(ds.records):
        if record.pattern in seen:
            continue
        seen.add(record.pattern)
        sample = ds[index]
        video = ((sample["pixel_values"].permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        maps = conditions_to_rgb(sample["conditions"].numpy())
        row = np.concatenate([np.concatenate(list(video), 1), np.concatenate(list(maps), 1)], 0)
        label = np.zeros((14, row.shape[1], 3), np.uint8)
        cv2.putText(label, record.pattern or "unlabelled", (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                    cv2.LINE_AA)
        rows.append(np.concatenate([label, row], 0))
        if len(rows) >= num_clips:
            break
    sheet = np.concatenate(rows, 0)
    cv2.imwrite(str(path), sheet[..., ::-1])
    return path


def run_demo(out: Path, seed: int = 0, quick: bool = False) -> str:
    """Run the demo into ``out`` and return a short summary of what was made and where."""
    from interanimate.data.dataset import collate_samples
    from interanimate.data.pack import ShardDataset, pack_dataset
    from interanimate.data.sketch import SketchConfig, write_sketch_dataset
    from interanimate.data.stats import compute_stats, format_table, plot_stats
    from interanimate.data.validate import validate_dataset

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = out / "dataset"
    started = time.perf_counter()
    subjects = 3 if quick else 6
    print(f"[1/5] generating a labelled dataset ({subjects} subjects x 18 patterns) in {dataset}")
    write_sketch_dataset(dataset, num_subjects=subjects, clips_per_pattern=1, seed=seed,
                         config=SketchConfig(num_frames=16, size=64), progress=True)
    print("[2/5] validating it against the InterHF contract")
    report = validate_dataset(dataset, progress=True)
    if not report.ok:
        raise RuntimeError("the demo dataset failed validation:\n" + "\n".join(map(str, report.violations[:10])))
    print("[3/5] summarising it")
    stats = compute_stats(dataset)
    print(format_table(stats))
    chart = plot_stats(stats, out / "stats.png")
    print("[4/5] packing training shards and streaming a batch from them")
    shards = out / "shards"
    pack = pack_dataset(dataset, shards, clips_per_shard=32, progress=True)
    stream = ShardDataset(shards, num_frames=8, seed=seed, shuffle_buffer=8)
    batch = collate_samples([sample for sample, _ in zip(stream, range(4))])
    print("[5/5] drawing a preview of clips and their condition maps")
    preview = _preview(dataset, out / "preview.png")
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in batch.items() if hasattr(v, "shape") and v.ndim >= 3)
    return "\n".join([
        "",
        f"demo finished in {time.perf_counter() - started:.1f} s",
        f"  dataset   {dataset}  ({report.num_clips} clips, validated: OK)",
        f"  shards    {shards}  ({len(pack.shards)} shards)",
        f"  batch     {shapes}",
        f"  stats     {chart}",
        f"  preview   {preview}  (video frames above their condition maps)",
    ])
