"""``interanimate data pack``: WebDataset-style tar shards, and the streaming loader that reads them.

A shard holds whole clips; each clip is three tar members sharing its key: ``<key>.mp4`` (the video
bytes), ``<key>.npz`` (annotations) and ``<key>.json`` (the manifest record). ``index.json`` beside
the shards lists them with their clip counts and sha256, the source dataset card, and any clips that
were refused (missing files or checksum mismatches), so nothing is dropped silently.

``ShardDataset`` streams shards with a seeded per-epoch shuffle of shard order and a seeded shuffle
buffer, splits shards across distributed ranks and data-loader workers, and builds samples with the
same ``build_sample`` as the folder dataset, so both give identical samples for a clip, seed and epoch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import webdataset as wds

from interanimate.data.io import atomic_write_bytes, atomic_write_json, make_folder, sha256_bytes, sha256_file
from interanimate.data.manifest import (
    ClipRecord,
    DatasetFormatError,
    UnsafePathError,
    check_clip_id,
    check_dataset_root,
    clip_file,
    read_card,
    read_manifest,
)
from interanimate.data.shard_dataset import INDEX_NAME, ShardDataset, read_shard_index, shard_folder

_TAR_MTIME = 0.0  # fixed member times: the same dataset always packs to the same bytes


@dataclass
class PackReport:
    shards: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    @property
    def num_clips(self) -> int:
        return sum(s["clips"] for s in self.shards)


class _ShardSink:
    """Collects clips into in-memory tar shards and writes each one atomically when full."""

    def __init__(self, out: Path, split: str, clips_per_shard: int, report: PackReport):
        self.out, self.split, self.clips_per_shard, self.report = out, split, clips_per_shard, report
        self.index, self.count = 0, 0
        self.buffer: io.BytesIO | None = None
        self.writer: wds.TarWriter | None = None

    def add(self, record: ClipRecord, video: bytes, annotations: bytes) -> None:
        if self.writer is None:
            self.buffer = io.BytesIO()
            self.writer = wds.TarWriter(self.buffer, mtime=_TAR_MTIME, encoder=False)
        # Clip ids have no dots (see manifest.CLIP_ID_PATTERN), so WebDataset's key/extension split is safe.
        self.writer.write({"__key__": record.clip_id, "mp4": video, "npz": annotations, "json": record.to_json().encode()})
        self.count += 1
        if self.count >= self.clips_per_shard:
            self.flush()

    def flush(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        data = self.buffer.getvalue()
        name = f"{self.split}-{self.index:06d}.tar"
        atomic_write_bytes(self.out / name, data)
        self.report.shards.append({"path": name, "split": self.split, "clips": self.count, "sha256": sha256_bytes(data)})
        self.index, self.count, self.buffer, self.writer = self.index + 1, 0, None, None


def _read_verified(root: Path, record: ClipRecord) -> tuple[dict[str, bytes], str | None]:
    """The clip's video and annotation bytes, or the reason they cannot be packed."""
    files: dict[str, bytes] = {}
    for role in ("video", "annotations"):
        try:
            path = clip_file(root, record, role)
        except UnsafePathError as err:
            return files, str(err)
        except DatasetFormatError:
            return files, f"missing {role} file"
        info = record.files[role]
        if not path.is_file():
            return files, f"missing {role} file"
        data = path.read_bytes()
        if sha256_bytes(data) != info.get("sha256"):
            return files, f"sha256 mismatch for {info['path']} (file changed or truncated)"
        files[role] = data
    return files, None


def pack_dataset(root: Path, out: Path, clips_per_shard: int = 256, split: str | None = None,
                 progress: bool = False) -> PackReport:
    """Pack the dataset at ``root`` into ``out/<split>-NNNNNN.tar`` shards (all splits when ``split`` is None).

    Clips whose files are missing or fail their checksum are refused, listed in the report and in
    ``index.json``, and the rest are packed.
    """
    from tqdm import tqdm

    root = check_dataset_root(root)
    card = read_card(root)
    records = read_manifest(root)
    if split is not None:
        records = [r for r in records if r.split == split]
    out = make_folder(Path(out))
    report = PackReport()
    groups: dict[str, list[ClipRecord]] = {}
    for r in records:
        groups.setdefault(r.split or "all", []).append(r)
    with tqdm(total=len(records), desc="pack", unit="clip", disable=not progress) as bar:
        for split_name, group in sorted(groups.items()):
            sink = _ShardSink(out, split_name, clips_per_shard, report)
            for record in group:
                try:
                    check_clip_id(record.clip_id)
                except UnsafePathError as err:
                    report.rejected.append({"clip_id": str(record.clip_id), "reason": str(err)})
                    bar.update(1)
                    continue
                files, problem = _read_verified(root, record)
                if problem:
                    report.rejected.append({"clip_id": record.clip_id, "reason": problem})
                else:
                    sink.add(record, files["video"], files["annotations"])
                bar.update(1)
            sink.flush()
    atomic_write_json(out / INDEX_NAME, {"format": "InterHF-shards", "source": str(root), "card": card,
                                         "shards": report.shards, "rejected": report.rejected})
    return report


def verify_shards(path: Path) -> list[str]:
    """Names of shards whose sha256 does not match the index, or that are missing (empty when all are intact)."""
    index = read_shard_index(path)
    base = shard_folder(path)
    return [s["path"] for s in index["shards"]
            if not (base / s["path"]).is_file() or sha256_file(base / s["path"]) != s["sha256"]]


__all__ = ["INDEX_NAME", "PackReport", "ShardDataset", "pack_dataset", "read_shard_index", "shard_folder",
           "verify_shards"]
