"""Condition dropout for classifier-free guidance: reference, identity and pose are dropped independently per sample."""

from __future__ import annotations

import torch


def sample_keep_masks(batch_size: int, reference: float, identity: float, pose: float,
                      generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Bernoulli keep masks ``(b,)`` bool: ``reference_keep``, ``identity_keep``, ``pose_keep``.

    Drawn from one generator in a fixed order, so a seeded run drops the same conditions on every replay.
    """
    draws = torch.rand(3, batch_size, generator=generator)
    return {
        "reference_keep": (draws[0] >= reference).to(device),
        "identity_keep": (draws[1] >= identity).to(device),
        "pose_keep": (draws[2] >= pose).to(device),
    }
