"""``ShardDataset``: stream training samples from the tar shards that ``interanimate.data.pack`` writes, and the
checked reader of their ``index.json``."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import torch
import webdataset as wds
from torch.utils.data import IterableDataset, get_worker_info

from interanimate.data.dataset import build_sample
from interanimate.data.manifest import (
    ClipRecord,
    DatasetFormatError,
    check_clip_id,
    contained_path,
)
from interanimate.errors import MissingInputError

INDEX_NAME = "index.json"


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
                 rank: int | None = None, world_size: int | None = None, composite: bool = False):
        index = read_shard_index(path)
        self.base = shard_folder(path)
        self.shards = [s for s in index["shards"] if split is None or s["split"] == split]
        self.num_clips = sum(s["clips"] for s in self.shards)
        self.num_frames, self.stride, self.resolution = num_frames, stride, resolution
        self.seed, self.shuffle_buffer, self.identity_dim = seed, shuffle_buffer, identity_dim
        self.epoch = 0
        self.composite = composite  # render-then-refine pairs (build_sample's composite)
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
                            self.seed, self.epoch, self.identity_dim, self.composite)

