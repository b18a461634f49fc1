"""DDIM sampling with classifier-free guidance (Song et al. 2021, arXiv 2010.02502, eq. 12).

``x_{t'} = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'} − σ²)·ε̂ + σ·z``, with ``σ = η·√((1−ᾱ_{t'})/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t'})``.
The guided prediction is ``ε̂ = ε_u + s·(ε_c − ε_u)`` (Ho & Salimans 2022), where the unconditional branch drops the
reference and the identity and keeps the pose. ReferenceNet features are computed once per clip, before the loop.
"""

from __future__ import annotations

import torch

from interanimate.diffusion.schedule import NoiseSchedule


def ddim_timesteps(num_train_timesteps: int, num_inference_steps: int) -> list[int]:
    """Evenly spaced, ending at ``T − 1`` ("trailing" spacing, arXiv 2305.08891 §3.3)."""
    step = num_train_timesteps / num_inference_steps
    return [round(num_train_timesteps - i * step) - 1 for i in range(num_inference_steps)]


def _to_eps_x0(prediction: torch.Tensor, x: torch.Tensor, alpha_bar: float, prediction_type: str):
    """Adapt the model output to (ε̂, x̂₀) so the update below is the same for ε- and v-prediction."""
    a, s = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
    if prediction_type == "epsilon":
        eps = prediction
        x0 = (x - s * eps) / a
    else:  # v = a·ε − s·x₀
        x0 = a * x - s * prediction
        eps = s * x + a * prediction
    return eps, x0


@torch.no_grad()
def sample_ddim(model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int], *,
                schedule: NoiseSchedule, pattern_id: torch.Tensor | None = None,
                identity_embedding: torch.Tensor | None = None, identity_present: torch.Tensor | None = None,
                num_inference_steps: int = 20, guidance_scale: float = 2.0, eta: float = 0.0,
                prediction_type: str = "epsilon", use_motion_modules: bool = True, decode: bool = True,
                progress: bool = False) -> torch.Tensor:
    """Generate clips for ``reference_pixel_values (b, 3, H, W)`` under ``conditions (b, C, f, H, W)``.

    ``seeds`` holds one seed per sample: a sample's result does not depend on what else is in the batch.
    Returns pixels ``(b, 3, f, H, W)`` in [-1, 1] (or latents with ``decode=False``).
    """
    batch_size, _, num_frames, height, width = conditions.shape
    if len(seeds) != batch_size:
        raise ValueError(f"need one seed per sample: {batch_size} samples, {len(seeds)} seeds")
    device = conditions.device
    factor = model.latent_scale_factor
    channels = model.unet.config.in_channels
    shape = (channels, num_frames, height // factor, width // factor)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    latents = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)

    reference_latents = model.encode(reference_pixel_values, sample=False)
    reference_features = model.compute_reference_features(reference_latents)  # once per clip
    guided = guidance_scale != 1.0
    if identity_present is None and identity_embedding is not None:
        identity_present = torch.ones(batch_size, dtype=torch.bool, device=device)

    def double(x):
        return None if x is None else torch.cat([x, x])

    if guided:
        # Batch = [unconditional; conditional]: same latents, the first half without reference and identity.
        reference_features = {k: double(v) for k, v in reference_features.items()}
        keep = torch.cat([torch.zeros(batch_size, dtype=torch.bool), torch.ones(batch_size, dtype=torch.bool)]).to(device)
        present = None if identity_present is None else torch.cat([torch.zeros_like(identity_present), identity_present])
        inputs = dict(conditions=double(conditions), pattern_id=double(pattern_id),
                      identity_embedding=double(identity_embedding), identity_present=present, reference_keep=keep)
    else:
        inputs = dict(conditions=conditions, pattern_id=pattern_id, identity_embedding=identity_embedding,
                      identity_present=identity_present, reference_keep=None)

    alphas = schedule.alphas_cumprod
    steps = ddim_timesteps(schedule.num_train_timesteps, num_inference_steps)
    iterator = steps
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(steps, desc="sampling", leave=False)
    for i, t in enumerate(iterator):
        model_input = torch.cat([latents, latents]) if guided else latents
        timesteps = torch.full((model_input.shape[0],), t, device=device, dtype=torch.long)
        prediction = model(model_input, timesteps, reference_features=reference_features,
                           use_motion_modules=use_motion_modules, **inputs)
        if guided:
            uncond, cond = prediction.chunk(2)
            prediction = uncond + guidance_scale * (cond - uncond)
        alpha_bar = float(alphas[t])
        alpha_bar_prev = float(alphas[steps[i + 1]]) if i + 1 < len(steps) else 1.0
        eps, x0 = _to_eps_x0(prediction.float(), latents.float(), alpha_bar, prediction_type)
        sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar)) ** 0.5 * (1 - alpha_bar / alpha_bar_prev) ** 0.5
        latents = alpha_bar_prev**0.5 * x0 + max(1 - alpha_bar_prev - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            noise = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)
            latents = latents + sigma * noise
        latents = latents.to(conditions.dtype)
    return model.decode(latents) if decode else latents
