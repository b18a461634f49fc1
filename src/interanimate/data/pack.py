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
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import webdataset as wds
from torch.utils.data import IterableDataset, get_worker_info

from interanimate.data.dataset import build_sample
from interanimate.data.io import atomic_write_bytes, atomic_write_json, make_folder, sha256_bytes, sha256_file
from interanimate.data.manifest import (
    ClipRecord,
    DatasetFormatError,
    UnsafePathError,
    check_clip_id,
    check_dataset_root,
    clip_file,
    contained_path,
    read_card,
    read_manifest,
)
from interanimate.errors import MissingInputError

INDEX_NAME = "index.json"
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


def read_shard_index(path: Path) -> dict:
    """The shard index of a packed folder (or the index file itself), checked: every shard entry is a dict with a
    ``path`` inside the folder (``contained_path``), a split, a clip count and a sha256; anything else is a
    one-line ``DatasetFormatError`` naming the entry."""
    path = Path(path)
    index_path = path / INDEX_NAME if path.is_dir() else path
    if not index_path.is_file():
        raise MissingInputError(f"{path}: no {INDEX_NAME}; pack a dataset with `interanimate data pack DIR --out {path}`")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFormatError(f"{index_path}: unreadable shard index ({err}); pack the dataset again") from None
    shards = index.get("shards") if isinstance(index, dict) else None
    if not isinstance(shards, list):
        raise DatasetFormatError(f"{index_path}: no list of shards; pack the dataset again")
    for number, shard in enumerate(shards):
        where = f"{index_path}: shards[{number}]"
        if not isinstance(shard, dict):
            raise DatasetFormatError(f"{where}: not an object; pack the dataset again")
        contained_path(index_path.parent, shard.get("path"), f"{where}.path")
        clips = shard.get("clips")
        if not isinstance(clips, int) or isinstance(clips, bool) or clips < 0:
            raise DatasetFormatError(f"{where}.clips: {clips!r} is not a clip count; pack the dataset again")
        if not isinstance(shard.get("sha256"), str) or not isinstance(shard.get("split"), str):
            raise DatasetFormatError(f"{where}: no sha256 or split; pack the dataset again")
    return index


def shard_folder(path: Path) -> Path:
    """The folder holding the shards of ``path`` (a packed folder or its index file)."""
    path = Path(path)
    return path if path.is_dir() else path.parent


def verify_shards(path: Path) -> list[str]:
    """Names of shards whose sha256 does not match the index, or that are missing (empty when all are intact)."""
    index = read_shard_index(path)
    base = shard_folder(path)
    return [s["path"] for s in index["shards"]
            if not (base / s["path"]).is_file() or sha256_file(base / s["path"]) != s["sha256"]]


class ShardDataset(IterableDataset):
    """Stream samples from packed shards; worker- and rank-safe, seeded per epoch.

    Args:
        path: the folder written by ``pack_dataset``.
        num_frames, stride, resolution, seed, identity_dim: as in ``InterHFDataset``.
        split: use only shards of this split (``None``: all).
        shuffle_buffer: samples held for shuffling (0 keeps shard order; used for exact comparisons).
        rank, world_size: distributed position; defaults read ``torch.distributed`` when initialised.
    """

    def __init__(self, path: Path, num_frames: int = 8, stride: int = 1, resolution: tuple[int, int] | None = None,
                 split: str | None = None, seed: int = 0, shuffle_buffer: int = 64, identity_dim: int = 128,
                 rank: int | None = None, world_size: int | None = None):
        index = read_shard_index(path)
        self.base = shard_folder(path)
        self.shards = [s for s in index["shards"] if split is None or s["split"] == split]
        self.num_clips = sum(s["clips"] for s in self.shards)
        self.num_frames, self.stride, self.resolution = num_frames, stride, resolution
        self.seed, self.shuffle_buffer, self.identity_dim = seed, shuffle_buffer, identity_dim
        self.epoch = 0
        if rank is None and torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
        self.rank, self.world_size = rank or 0, world_size or 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_clips

    def _my_shards(self) -> list[str]:
        names = [s["path"] for s in self.shards]
        random.Random(f"{self.seed}:{self.epoch}:shards").shuffle(names)
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info else (0, 1)
        slot, slots = self.rank * num_workers + worker, self.world_size * num_workers
        return names[slot::slots]

    def _raw(self, names: list[str]) -> Iterator[dict]:
        urls = [{"url": str(self.base / name)} for name in names]
        yield from wds.tarfile_to_samples()(iter(urls))

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        rng = random.Random(f"{self.seed}:{self.epoch}:{self.rank}:{info.id if info else 0}:buffer")
        buffer: list[dict] = []
        for raw in self._raw(self._my_shards()):
            if self.shuffle_buffer <= 0:
                yield self._build(raw)
                continue
            buffer.append(raw)
            if len(buffer) >= self.shuffle_buffer:
                yield self._build(buffer.pop(rng.randrange(len(buffer))))
        while buffer:
            yield self._build(buffer.pop(rng.randrange(len(buffer))))

    def _build(self, raw: dict) -> dict:
        try:
            record = ClipRecord.from_dict(json.loads(raw["json"]))
        except (KeyError, json.JSONDecodeError, UnicodeDecodeError, TypeError) as err:
            raise DatasetFormatError(f"{self.base}: shard member {raw.get('__key__')!r} has no readable record "
                                     f"({err}); pack the dataset again") from None
        check_clip_id(record.clip_id, f"{self.base}: shard member record clip_id")
        if record.clip_id != raw.get("__key__") or "mp4" not in raw or "npz" not in raw:
            raise DatasetFormatError(f"{self.base}: shard member {raw.get('__key__')!r} does not hold the clip its "
                                     "record names (mp4, npz and json under one key); pack the dataset again")
        return build_sample(record, raw["mp4"], raw["npz"], self.num_frames, self.stride, self.resolution,
                            self.seed, self.epoch, self.identity_dim)


__all__ = ["PackReport", "ShardDataset", "pack_dataset", "read_shard_index", "verify_shards"]
