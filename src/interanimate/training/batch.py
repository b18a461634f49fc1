"""The training batch layout (what the dataset loader's collate produces) and a random batch for tests and benchmarks.

Keys and shapes (``b`` clips, ``f`` frames, ``H × W`` pixels, ``C = NUM_CONDITION_CHANNELS``):

- ``pixel_values`` (b, 3, f, H, W) float in [-1, 1];
- ``reference_pixel_values`` (b, 3, H, W) float in [-1, 1];
- ``conditions`` (b, C, f, H, W) float in [0, 1] (hand skeleton RGB, face contours RGB, hand/face/contact regions);
- ``hand_mask``, ``face_mask``, ``contact_mask`` (b, 1, f, H, W) float in {0, 1};
- ``pattern_id`` (b,) long, ``-1`` = unlabelled;
- ``identity_embedding`` (b, 128 or 512) float; ``identity_present`` (b,) bool.
"""

from __future__ import annotations

import torch

from interanimate.data.conditions import NUM_CONDITION_CHANNELS
from interanimate.taxonomy import NUM_PATTERNS

BATCH_KEYS = ("pixel_values", "reference_pixel_values", "conditions", "hand_mask", "face_mask", "contact_mask",
              "pattern_id", "identity_embedding", "identity_present")


def _box_mask(batch_size: int, num_frames: int, size: int, generator: torch.Generator, scale: float) -> torch.Tensor:
    """A random axis-aligned box per clip, ``(b, 1, f, H, W)`` in {0, 1}."""
    mask = torch.zeros(batch_size, 1, num_frames, size, size)
    for i in range(batch_size):
        side = max(2, int(size * scale))
        y, x = torch.randint(0, size - side + 1, (2,), generator=generator).tolist()
        mask[i, :, :, y : y + side, x : x + side] = 1.0
    return mask


def random_batch(batch_size: int = 2, num_frames: int = 4, resolution: int = 32, embedding_dim: int = 128,
                 seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch with the collate layout, random but structured (box-shaped regions, contact inside hand ∩ face)."""
    g = torch.Generator().manual_seed(seed)
    hand = _box_mask(batch_size, num_frames, resolution, g, 0.35)
    face = _box_mask(batch_size, num_frames, resolution, g, 0.6)
    contact = hand * face
    skeleton = torch.rand(batch_size, 6, num_frames, resolution, resolution, generator=g)
    conditions = torch.cat([skeleton, hand, face, contact], dim=1)
    if conditions.shape[1] != NUM_CONDITION_CHANNELS:
        raise RuntimeError("random_batch is out of date with the condition-map channels")
    pattern_id = torch.randint(-1, NUM_PATTERNS, (batch_size,), generator=g)
    return {
        "pixel_values": torch.rand(batch_size, 3, num_frames, resolution, resolution, generator=g) * 2 - 1,
        "reference_pixel_values": torch.rand(batch_size, 3, resolution, resolution, generator=g) * 2 - 1,
        "conditions": conditions,
        "hand_mask": hand,
        "face_mask": face,
        "contact_mask": contact,
        "pattern_id": pattern_id,
        "identity_embedding": torch.randn(batch_size, embedding_dim, generator=g),
        "identity_present": torch.ones(batch_size, dtype=torch.bool),
    }
