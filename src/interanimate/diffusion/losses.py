"""Training objective (arXiv 2504.10905 §3.4): region-weighted ε/v-prediction MSE plus the orthogonality loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from interanimate.diffusion.schedule import NoiseSchedule


def prediction_target(schedule: NoiseSchedule, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
                      prediction_type: str) -> torch.Tensor:
    """What the UNet learns to predict: ``ε``, or ``v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀`` (Salimans & Ho 2022, eq. 9)."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return schedule.velocity(latents, noise, timesteps)
    raise ValueError(f"prediction_type must be 'epsilon' or 'v_prediction', got {prediction_type!r}")


def region_weights(hand_mask: torch.Tensor, face_mask: torch.Tensor, contact_mask: torch.Tensor,
                   latent_size: tuple[int, int], lambda_hand: float, lambda_face: float,
                   lambda_contact: float) -> torch.Tensor:
    """Per-latent-pixel weights ``1 + λ_hand·M_hand + λ_face·M_face + λ_contact·M_contact``.

    Masks ``(b, 1, f, H, W)`` in {0, 1} at pixel resolution are area-averaged to the latent grid, so a latent cell
    is weighted by the fraction of its pixels in each region. Returns ``(b, 1, f, h, w)``.
    """
    num_frames = hand_mask.shape[2]

    def down(mask: torch.Tensor) -> torch.Tensor:
        flat = F.adaptive_avg_pool2d(rearrange(mask.float(), "b 1 f h w -> (b f) 1 h w"), latent_size)
        return rearrange(flat, "(b f) 1 h w -> b 1 f h w", f=num_frames)

    return 1.0 + lambda_hand * down(hand_mask) + lambda_face * down(face_mask) + lambda_contact * down(contact_mask)


def weighted_mse(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``w · (prediction − target)²`` over all elements (weights broadcast over channels)."""
    error = (prediction.float() - target.float()) ** 2
    if weights is not None:
        error = error * weights.float()
    return error.mean()


def orthogonality_loss(latents: torch.Tensor) -> torch.Tensor:
    """``‖L̂ L̂ᵀ − I‖²_F`` with ``L̂`` the row-normalised latents ``(n, d)`` (arXiv 2504.10905 §3.4).

    Zero exactly when the rows are mutually orthogonal, which keeps each latent a distinct interaction prior.
    """
    normalised = F.normalize(latents.float(), dim=-1)
    gram = normalised @ normalised.T
    identity = torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype)
    return ((gram - identity) ** 2).sum()
