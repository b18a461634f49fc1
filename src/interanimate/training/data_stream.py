"""Endless, resumable batches from a dataset folder or packed shards, split across processes.

The position in the stream is ``(epoch, batch)``: the ``batch``-th batch of epoch ``epoch`` of this process. Sample
order and the frame windows are pure functions of ``(seed, epoch)``, so restoring the position continues the
exact sequence of batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from interanimate.data.dataset import InterHFDataset, collate_samples
from interanimate.data.pack import INDEX_NAME, ShardDataset
from interanimate.errors import MissingInputError, UserError


class DataSetupError(UserError, ValueError):
    """Training data that cannot be used as given; the message says why and what to do."""


def is_shard_folder(path: Path) -> bool:
    return (Path(path) / INDEX_NAME).is_file()


def check_data_path(path: str | Path | None) -> Path:
    if path is None:
        raise DataSetupError("no training data: pass --data DIR (a dataset folder or a folder of packed shards)")
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingInputError(f"training data {path} does not exist (expected a dataset folder or packed shards)")
    if not path.is_dir():
        raise MissingInputError(f"training data {path} is not a folder (expected a dataset folder or packed shards)")
    return path


def open_dataset(path: Path, data_config, num_frames: int, seed: int, identity_dim: int, split: str | None,
                 rank: int = 0, world_size: int = 1, shuffle_buffer: int | None = None, composite: bool = False):
    """``InterHFDataset`` for a folder, ``ShardDataset`` for a folder with ``index.json`` (``composite``:
    render-then-refine pairs, see ``data.composite_pairs``)."""
    resolution = (data_config.resolution, data_config.resolution)
    if is_shard_folder(path):
        return ShardDataset(path, num_frames, data_config.stride, resolution, split=split, seed=seed,
                            shuffle_buffer=data_config.shuffle_buffer if shuffle_buffer is None else shuffle_buffer,
                            identity_dim=identity_dim, rank=rank, world_size=world_size, composite=composite)
    return InterHFDataset(path, num_frames, data_config.stride, resolution, split=split, seed=seed,
                          identity_dim=identity_dim, composite=composite)


class BatchStream:
    """Batches of ``batch_size`` clips (collate layout) for process ``rank`` of ``world_size``, forever.

    Folder datasets: each epoch is a seeded permutation of the clips, dealt round-robin to the processes
    (the tail that does not divide evenly is left out, so every process has the same number of batches).
    Shards: ``ShardDataset`` deals whole shards to processes and shuffles with a seeded buffer.
    """

    def __init__(self, path: Path, data_config, num_frames: int, batch_size: int, seed: int, identity_dim: int,
                 rank: int = 0, world_size: int = 1, composite: bool = False):
        self.dataset = open_dataset(path, data_config, num_frames, seed, identity_dim, data_config.split, rank,
                                    world_size, composite=composite)
        self.shards = isinstance(self.dataset, ShardDataset)
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.num_workers = data_config.num_workers
        self.epoch, self.batch = 0, 0
        self._iterator = None
        if len(self.dataset) == 0:
            raise DataSetupError(f"{path}: no clips in split {data_config.split!r}")
        if not self.shards and len(self.dataset) // world_size < batch_size:
            raise DataSetupError(f"{path}: {len(self.dataset)} clips in split {data_config.split!r} are fewer than "
                                 f"train.batch_size={batch_size} × {world_size} processes; lower train.batch_size")

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self._iterator = None

    def _epoch_batches(self) -> list[list[int]]:
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed * 7919 + self.epoch))
        usable = len(order) // self.world_size * self.world_size
        mine = order[self.rank:usable:self.world_size].tolist()
        count = len(mine) // self.batch_size  # whole batches only
        return [mine[i * self.batch_size:(i + 1) * self.batch_size] for i in range(count)]

    def _open_epoch(self):
        self.dataset.set_epoch(self.epoch)
        if self.shards:
            loader = DataLoader(self.dataset, batch_size=self.batch_size, collate_fn=collate_samples,
                                num_workers=self.num_workers, drop_last=True)
            iterator = iter(loader)
            for _ in range(self.batch):  # skip what this epoch already delivered (shards cannot seek)
                next(iterator)
            return iterator
        remaining = self._epoch_batches()[self.batch:]
        return iter(DataLoader(self.dataset, batch_sampler=remaining, collate_fn=collate_samples,
                               num_workers=self.num_workers))

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        for _attempt in range(2):
            if self._iterator is None:
                self._iterator = self._open_epoch()
            try:
                batch = next(self._iterator)
            except StopIteration:
                if self.batch == 0:
                    raise DataSetupError(f"process {self.rank} got no complete batch from the data (too few clips "
                                         f"or shards for train.batch_size={self.batch_size} × {self.world_size} "
                                         "processes)") from None
                self.epoch, self.batch, self._iterator = self.epoch + 1, 0, None
                continue
            self.batch += 1
            return batch
        raise DataSetupError("the data produced no batch")  # unreachable: an empty epoch raises above


def validation_batch(path: Path, data_config, seed: int, identity_dim: int, count: int,
                     composite: bool = False) -> dict:
    """``count`` clips of ``data.num_frames`` frames for validation strips: from the test split when it has clips,
    otherwise from the training split. Fixed for the whole run (epoch 0 windows)."""
    samples = []
    for split in ("test", data_config.split):
        dataset = open_dataset(path, data_config, data_config.num_frames, seed, identity_dim, split, shuffle_buffer=0,
                               composite=composite)
        if len(dataset) == 0:
            continue
        if isinstance(dataset, ShardDataset):
            for sample in dataset:
                samples.append(sample)
                if len(samples) == count:
                    break
        else:
            samples = [dataset[i] for i in range(min(count, len(dataset)))]
        if samples:
            return collate_samples(samples)
    raise DataSetupError(f"{path}: no clips to validate on")
