"""PyTorch datasets over InterHF folders, and the collate function that makes model batches.

One sample is a dict (``f`` frames of ``h x w``; see ``build_sample``)::

    clip_id                 str
    frame_indices           (f,) long      which frames of the clip the window holds
    pixel_values            (f, 3, h, w)   float in [-1, 1]
    reference_pixel_values  (3, h, w)      float in [-1, 1], another frame of the same clip
    conditions              (f, 9, h, w)   float in [0, 1], see ``conditions.CONDITION_CHANNELS``; with
                                           ``composite=True`` (f, 14, h, w): + ``composite_pairs.COMPOSITE_CHANNELS``
    hand_mask, face_mask, contact_mask
                            (f, 1, h, w)   float in {0, 1}; hand_mask is the union of both hands
    face_keypoints          (f, 68, 2)     pixels at the output resolution (NaN where absent)
    hand_keypoints          (f, 2, 21, 3)  pixels + confidence at the output resolution
    contact                 (f, 2)         bool
    contact_region          (f, 2)         long, -1 = none
    pattern_id              ()             long, -1 = unlabelled
    identity_embedding      (identity_dim,) float (zeros when absent)
    identity_present        ()             bool

Windows are drawn with a generator seeded by ``(seed, epoch, clip_id)``: the same seed and epoch give
the same windows whatever the loading order, worker count or storage (folder or shards).
``collate_samples`` stacks samples and moves video tensors to the models' ``(b, c, f, h, w)`` layout.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from interanimate.data import schema
from interanimate.data.annotations import ClipAnnotations, load_annotations
from interanimate.data.composite_pairs import clip_base, composite_condition_maps, label_composite
from interanimate.data.conditions import region_masks, render_condition_maps
from interanimate.data.io import decode_video
from interanimate.data.manifest import ClipRecord, check_dataset_root, clip_file, read_manifest

VIDEO_KEYS = ("pixel_values", "conditions", "hand_mask", "face_mask", "contact_mask")


def window_rng(seed: int, epoch: int, clip_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{epoch}:{clip_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def choose_window(num_clip_frames: int, num_frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of a random window of ``num_frames`` frames spaced by ``stride``.

    Clips shorter than the window are padded by repeating their last frame, so every sample has the
    same length (a common case for short real clips).
    """
    span = (num_frames - 1) * stride + 1
    start = int(rng.integers(0, num_clip_frames - span + 1)) if num_clip_frames >= span else 0
    return np.minimum(start + np.arange(num_frames) * stride, num_clip_frames - 1)


def choose_reference(num_clip_frames: int, window: np.ndarray, rng: np.random.Generator) -> int:
    """A reference frame index, preferably outside the window (the model must not copy the target)."""
    outside = np.setdiff1d(np.arange(num_clip_frames), window)
    pool = outside if len(outside) else np.arange(num_clip_frames)
    return int(pool[rng.integers(len(pool))])


def _resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def _resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(N, H, W) bool`` -> ``(N, h, w) bool`` by area coverage >= 0.5."""
    height, width = size
    if masks.shape[1:] == (height, width):
        return masks
    return np.stack([cv2.resize(m.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) >= 0.5
                     for m in masks])


def build_sample(
    record: ClipRecord,
    video: Path | bytes,
    annotations: Path | bytes | ClipAnnotations,
    num_frames: int,
    stride: int = 1,
    resolution: tuple[int, int] | None = None,
    seed: int = 0,
    epoch: int = 0,
    identity_dim: int = 128,
    composite: bool = False,
) -> dict:
    """Make one training sample from a clip's video and annotations (paths or bytes).

    ``composite=True`` makes a render-then-refine pair (``composite_pairs``): the reference is the clip's first
    frame and ``conditions`` gains the ``NUM_COMPOSITE_CHANNELS`` channels of a composite built from it and the
    window's labels; the targets stay the clip's own frames.
    """
    rng = window_rng(seed, epoch, record.clip_id)
    window = choose_window(record.num_frames, num_frames, stride, rng)
    reference = choose_reference(record.num_frames, window, rng)
    if composite:
        reference = 0
    wanted = sorted(set(window.tolist()) | {reference})
    decoded = decode_video(video, wanted)
    lookup = {index: frame for index, frame in zip(wanted, decoded)}
    frames = np.stack([lookup[i] for i in window])
    ann = annotations if isinstance(annotations, ClipAnnotations) else load_annotations(annotations, record.height, record.width)
    out_h, out_w = resolution or (record.height, record.width)
    scale = np.array([out_w / record.width, out_h / record.height], np.float32)
    frames = _resize_frames(frames, (out_h, out_w))
    reference_frame = _resize_frames(lookup[reference][None], (out_h, out_w))[0]
    masks = ann.masks[window]
    conditions = render_condition_maps(ann.face_keypoints[window], ann.face_present[window], ann.hand_keypoints[window],
                                       ann.hand_present[window], masks, record.height, record.width, (out_h, out_w))
    region = _resize_masks(region_masks(masks).reshape(-1, record.height, record.width), (out_h, out_w))
    region = region.reshape(num_frames, 3, 1, out_h, out_w).astype(np.float32)
    hands = ann.hand_keypoints[window].copy()
    hands[..., :2] *= scale
    identity = np.zeros(identity_dim, np.float32)
    has_identity = ann.identity_embedding.size > 0
    if has_identity:
        if ann.identity_embedding.size != identity_dim:
            raise ValueError(f"{record.clip_id}: identity embedding has {ann.identity_embedding.size} values "
                             f"({ann.identity_kind}); this loader expects identity_dim={identity_dim}")
        identity = ann.identity_embedding.astype(np.float32)
    if composite:
        conditions = np.concatenate([conditions, _composite_channels(record, reference_frame, ann, window,
                                                                     region[:, 0, 0] > 0, region[:, 2, 0])], axis=1)

    def pixels(array: np.ndarray) -> torch.Tensor:
        # (..., h, w, 3) uint8 -> (..., 3, h, w) float in [-1, 1]
        return torch.from_numpy(array).movedim(-1, -3).float().div_(127.5).sub_(1.0)

    return {
        "clip_id": record.clip_id,
        "frame_indices": torch.from_numpy(window.astype(np.int64)),
        "pixel_values": pixels(frames),
        "reference_pixel_values": pixels(reference_frame),
        "conditions": torch.from_numpy(conditions),
        "hand_mask": torch.from_numpy(region[:, 0]),
        "face_mask": torch.from_numpy(region[:, 1]),
        "contact_mask": torch.from_numpy(region[:, 2]),
        "face_keypoints": torch.from_numpy(ann.face_keypoints[window] * scale),
        "hand_keypoints": torch.from_numpy(hands),
        "contact": torch.from_numpy(ann.contact[window]),
        "contact_region": torch.from_numpy(ann.contact_region[window].astype(np.int64)),
        "pattern_id": torch.tensor(int(ann.pattern_id), dtype=torch.long),
        "identity_embedding": torch.from_numpy(identity),
        "identity_present": torch.tensor(has_identity),
    }


def _composite_channels(record: ClipRecord, first_frame: np.ndarray, ann: ClipAnnotations, window: np.ndarray,
                        hand_mask: np.ndarray, contact_mask: np.ndarray) -> np.ndarray:
    """The window's composite channels (``composite_pairs``) at the size of ``first_frame``."""
    out_h, out_w = first_frame.shape[:2]
    scale = np.array([out_w / record.width, out_h / record.height], np.float32)
    first_masks = _resize_masks(np.stack([ann.masks[0, 0], ann.masks[0, 1] | ann.masks[0, 2]]), (out_h, out_w))
    digest = record.files.get("video", {}).get("sha256") or record.clip_id
    base, colour = clip_base(f"{digest}-{out_h}x{out_w}", first_frame, first_masks[0], first_masks[1])
    face_points = np.where(ann.face_present[:, None, None], ann.face_keypoints, np.nan) * scale
    frames = label_composite(base, colour, face_points[0], face_points[window], hand_mask)
    return composite_condition_maps(frames, hand_mask, contact_mask)


def collate_samples(samples: list[dict]) -> dict:
    """Stack samples into a batch; video tensors go from ``(b, f, c, h, w)`` to ``(b, c, f, h, w)``."""
    batch: dict = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            stacked = torch.stack(values)
            batch[key] = stacked.permute(0, 2, 1, 3, 4).contiguous() if key in VIDEO_KEYS else stacked
        else:
            batch[key] = values
    return batch


class InterHFDataset(Dataset):
    """Random windows from the clips of an InterHF dataset folder.

    Args:
        root: dataset folder.
        num_frames: frames per sample.
        stride: spacing between sampled frames.
        resolution: ``(h, w)`` output size; ``None`` keeps each clip's size (clips must then share it
            to be batched).
        split: ``"train"``, ``"test"`` or ``None`` for all clips.
        patterns: keep only clips of these pattern names (``None``: all, unlabelled included).
        seed: seed of the window choice; call ``set_epoch`` to draw new windows each epoch.
        identity_dim: size of ``identity_embedding`` in samples (128 for dlib, 512 for ArcFace).
        composite: render-then-refine pairs (``build_sample``'s ``composite``).
    """

    def __init__(self, root: Path, num_frames: int = 8, stride: int = 1, resolution: tuple[int, int] | None = None,
                 split: str | None = None, patterns: list[str] | None = None, seed: int = 0, identity_dim: int = 128,
                 composite: bool = False):
        self.root = check_dataset_root(root)
        records = read_manifest(self.root)
        for record in records:  # refuse a tampered manifest up front, not in a data-loader worker mid-epoch
            clip_file(self.root, record, "video"), clip_file(self.root, record, "annotations")
        if split is not None:
            records = [r for r in records if r.split == split]
        if patterns is not None:
            records = [r for r in records if r.pattern in set(patterns)]
        self.records = records
        self.num_frames = num_frames
        self.stride = stride
        self.resolution = resolution
        self.seed = seed
        self.epoch = 0
        self.identity_dim = identity_dim
        self.composite = composite

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        return build_sample(record, clip_file(self.root, record, "video"),
                            clip_file(self.root, record, "annotations"), self.num_frames, self.stride,
                            self.resolution, self.seed, self.epoch, self.identity_dim, self.composite)


__all__ = ["InterHFDataset", "build_sample", "collate_samples", "choose_window", "window_rng", "schema"]
