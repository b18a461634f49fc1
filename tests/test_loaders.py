"""The PyTorch folder dataset, the collate function and the shard loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from interanimate.data.dataset import InterHFDataset, choose_window, collate_samples
from interanimate.data.manifest import read_manifest
from interanimate.data.pack import ShardDataset, pack_dataset, read_shard_index, verify_shards


def test_sample_layout_and_value_ranges(sketch_dataset):
    ds = InterHFDataset(sketch_dataset, num_frames=4, stride=2, seed=0)
    sample = ds[0]
    assert sample["pixel_values"].shape == (4, 3, 48, 48)
    assert sample["pixel_values"].min() >= -1 and sample["pixel_values"].max() <= 1
    assert sample["reference_pixel_values"].shape == (3, 48, 48)
    assert sample["conditions"].shape == (4, 9, 48, 48)
    assert 0 <= sample["conditions"].min() and sample["conditions"].max() <= 1
    for key in ("hand_mask", "face_mask", "contact_mask"):
        assert sample[key].shape == (4, 1, 48, 48)
        assert set(sample[key].unique().tolist()) <= {0.0, 1.0}
    assert sample["hand_keypoints"].shape == (4, 2, 21, 3) and sample["face_keypoints"].shape == (4, 68, 2)
    assert sample["pattern_id"].dtype == torch.long and sample["pattern_id"] >= 0
    frames = sample["frame_indices"]
    assert torch.all(frames[1:] - frames[:-1] == 2)
    assert int(sample["frame_indices"].max()) < 12


def test_masks_and_keypoints_agree_in_samples(sketch_dataset):
    """Hand keypoints of a sample fall on its hand mask: the loader keeps geometry consistent."""
    ds = InterHFDataset(sketch_dataset, num_frames=6, seed=1)
    for index in range(4):
        sample = ds[index]
        hands = sample["hand_keypoints"]
        for f in range(6):
            for h in range(2):
                ok = hands[f, h, :, 2] > 0
                if ok.sum() < 5:
                    continue
                xy = hands[f, h, ok, :2].floor().long().clamp(0, 47)
                on_mask = sample["hand_mask"][f, 0, xy[:, 1], xy[:, 0]]
                assert on_mask.float().mean() > 0.7


def test_resolution_rescales_frames_maps_and_keypoints(sketch_dataset):
    native = InterHFDataset(sketch_dataset, num_frames=3, seed=2)[0]
    small = InterHFDataset(sketch_dataset, num_frames=3, seed=2, resolution=(24, 24))[0]
    assert small["pixel_values"].shape == (3, 3, 24, 24) and small["conditions"].shape == (3, 9, 24, 24)
    assert torch.allclose(small["face_keypoints"], native["face_keypoints"] * 0.5, equal_nan=True)


def test_windows_are_seeded_by_seed_epoch_and_clip(sketch_dataset):
    a = InterHFDataset(sketch_dataset, num_frames=3, seed=5)
    b = InterHFDataset(sketch_dataset, num_frames=3, seed=5)
    windows = lambda ds: [ds[i]["frame_indices"].tolist() for i in range(len(ds))]
    first = windows(a)
    assert first == windows(b)
    a.set_epoch(1)
    assert windows(a) != first
    assert windows(InterHFDataset(sketch_dataset, num_frames=3, seed=6)) != first


def test_short_clips_pad_with_their_last_frame():
    window = choose_window(3, 5, 1, np.random.default_rng(0))
    assert window.tolist() == [0, 1, 2, 2, 2]


def test_split_and_pattern_filters(sketch_dataset):
    records = read_manifest(sketch_dataset)
    test = InterHFDataset(sketch_dataset, split="test")
    assert len(test) == sum(r.split == "test" for r in records) > 0
    assert {r.pattern for r in InterHFDataset(sketch_dataset, patterns=["poke_nose"]).records} == {"poke_nose"}


def test_collate_moves_video_tensors_to_model_layout(sketch_dataset):
    ds = InterHFDataset(sketch_dataset, num_frames=4, seed=0)
    batch = collate_samples([ds[0], ds[1], ds[2]])
    assert batch["pixel_values"].shape == (3, 3, 4, 48, 48)  # (b, c, f, h, w)
    assert batch["conditions"].shape == (3, 9, 4, 48, 48)
    assert batch["contact_mask"].shape == (3, 1, 4, 48, 48)
    assert torch.equal(batch["pixel_values"][1, :, 2], ds[1]["pixel_values"][2])
    assert batch["reference_pixel_values"].shape == (3, 3, 48, 48)
    assert len(batch["clip_id"]) == 3


@pytest.fixture(scope="module")
def shards(sketch_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    report = pack_dataset(sketch_dataset, out, clips_per_shard=5)
    assert not report.rejected
    return out


def test_pack_writes_verified_shards_covering_every_clip(shards, sketch_dataset):
    index = read_shard_index(shards)
    assert sum(s["clips"] for s in index["shards"]) == len(read_manifest(sketch_dataset))
    assert {s["split"] for s in index["shards"]} == {"train", "test"}
    assert verify_shards(shards) == []


def test_pack_is_deterministic(sketch_dataset, shards, tmp_path):
    again = pack_dataset(sketch_dataset, tmp_path, clips_per_shard=5)
    assert [s["sha256"] for s in again.shards] == [s["sha256"] for s in read_shard_index(shards)["shards"]]


def test_shards_and_folder_yield_identical_samples_for_the_same_seed(sketch_dataset, shards):
    folder = InterHFDataset(sketch_dataset, num_frames=5, seed=11)
    folder.set_epoch(2)
    stream = ShardDataset(shards, num_frames=5, seed=11, shuffle_buffer=4)
    stream.set_epoch(2)
    from_shards = {s["clip_id"]: s for s in stream}
    assert len(from_shards) == len(folder)
    for index, record in enumerate(folder.records):
        expected = folder[index]
        got = from_shards[record.clip_id]
        for key, value in expected.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value.nan_to_num(-7), got[key].nan_to_num(-7)), key


def test_shard_shuffle_is_seeded_per_epoch(shards):
    order = lambda seed, epoch: [s["clip_id"] for s in _epoch(ShardDataset(shards, num_frames=2, seed=seed), epoch)]
    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1)
    assert sorted(order(1, 0)) == sorted(order(1, 1))


def _epoch(ds, epoch):
    ds.set_epoch(epoch)
    return list(ds)


def test_workers_and_ranks_each_see_a_disjoint_share(shards):
    loader = DataLoader(ShardDataset(shards, num_frames=2, seed=0), batch_size=None, num_workers=2)
    seen = [s["clip_id"] for s in loader]
    assert len(seen) == len(set(seen)) == 24
    rank_views = [[s["clip_id"] for s in ShardDataset(shards, num_frames=2, rank=r, world_size=2)] for r in (0, 1)]
    assert not set(rank_views[0]) & set(rank_views[1])
    assert len(rank_views[0]) + len(rank_views[1]) == 24


def test_pack_refuses_a_corrupt_clip_and_packs_the_rest(dataset_copy, tmp_path):
    record = read_manifest(dataset_copy)[0]
    path = dataset_copy / record.files["video"]["path"]
    path.write_bytes(path.read_bytes()[:100])  # truncated
    report = pack_dataset(dataset_copy, tmp_path / "out")
    assert [r["clip_id"] for r in report.rejected] == [record.clip_id]
    assert report.num_clips == 23
