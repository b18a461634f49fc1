"""One training objective evaluation: encode, noise, drop conditions, predict, weight, regularise."""

from __future__ import annotations

import torch

from interanimate.diffusion.dropout import sample_keep_masks
from interanimate.diffusion.losses import orthogonality_loss, prediction_target, region_weights, weighted_mse
from interanimate.diffusion.schedule import NoiseSchedule


def compute_loss(model, batch: dict[str, torch.Tensor], schedule: NoiseSchedule, loss_config, dropout_config,
                 generator: torch.Generator | None = None, use_motion_modules: bool = True) -> dict[str, torch.Tensor]:
    """Loss terms for a batch in the collate layout (``pixel_values (b, 3, f, H, W)``, ``conditions``, masks, …).

    Returns ``loss`` (to backpropagate), ``mse`` (region-weighted diffusion term) and ``orthogonality``.
    """
    pixel_values = batch["pixel_values"]
    device = pixel_values.device
    batch_size = pixel_values.shape[0]
    vae_trains = any(p.requires_grad for p in model.vae.parameters())
    with torch.set_grad_enabled(torch.is_grad_enabled() and vae_trains):
        latents = model.encode(pixel_values, generator=generator)  # (b, c, f, h, w)
        reference_latents = model.encode(batch["reference_pixel_values"], generator=generator)  # (b, c, h, w)

    noise = torch.randn(latents.shape, generator=generator, dtype=latents.dtype).to(device)
    timesteps = schedule.sample_timesteps(batch_size, generator, device)
    noisy_latents = schedule.add_noise(latents, noise, timesteps)
    keep = sample_keep_masks(batch_size, dropout_config.reference, dropout_config.identity, dropout_config.pose,
                             generator, device)

    reference_features = model.compute_reference_features(reference_latents)
    identity_present = batch["identity_present"].bool() & keep["identity_keep"]
    prediction = model(
        noisy_latents, timesteps, batch["conditions"], reference_features,
        pattern_id=batch["pattern_id"], identity_embedding=batch["identity_embedding"],
        identity_present=identity_present, reference_keep=keep["reference_keep"], pose_keep=keep["pose_keep"],
        hand_mask=batch["hand_mask"], face_mask=batch["face_mask"], contact_mask=batch["contact_mask"],
        use_motion_modules=use_motion_modules,
    )
    target = prediction_target(schedule, latents, noise, timesteps, loss_config.prediction_type)
    weights = region_weights(batch["hand_mask"], batch["face_mask"], batch["contact_mask"], tuple(latents.shape[-2:]),
                             loss_config.lambda_hand, loss_config.lambda_face, loss_config.lambda_contact)
    mse = weighted_mse(prediction, target, weights)
    orthogonality = torch.zeros((), device=device)
    if loss_config.orthogonality and model.interaction is not None:
        orthogonality = (orthogonality_loss(model.interaction.spatial_latents)
                         + orthogonality_loss(model.interaction.temporal_latents))
    loss = mse + loss_config.lambda_orth * orthogonality
    return {"loss": loss, "mse": mse.detach(), "orthogonality": orthogonality.detach()}
