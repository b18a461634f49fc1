"""The forward noising process ``x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε`` (Ho et al. 2020, eq. 4), shared by training and sampling."""

from __future__ import annotations

import torch


class NoiseSchedule:
    """ᾱ_t for the SD-1.5 schedules (``linear`` or ``scaled_linear`` betas).

    Args:
        num_train_timesteps: ``T``.
        beta_start, beta_end: first and last β.
        beta_schedule: ``"linear"`` or ``"scaled_linear"`` (linear in √β, the Stable Diffusion schedule).
        zero_terminal_snr: shift and scale √ᾱ_t so that ᾱ at the last timestep is exactly 0 while ᾱ_0 is unchanged
            (Lin et al. 2024, arXiv 2305.08891, Algorithm 1). With the plain schedules the last training step still
            holds some signal (√ᾱ_T ≈ 0.068), most of all in a latent's mean, so a model learns to read the overall
            colour and brightness from the noise, and samples started from pure noise get a random one. At zero
            terminal SNR it must take them from the conditions (the reference) instead. Needs v-prediction, since
            ε-prediction says nothing about x₀ at ᾱ = 0.
    """

    def __init__(self, num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012,
                 beta_schedule: str = "scaled_linear", zero_terminal_snr: bool = False):
        if beta_schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
        elif beta_schedule == "scaled_linear":
            betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
        else:
            raise ValueError(f"beta_schedule must be 'linear' or 'scaled_linear', got {beta_schedule!r}")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)  # float64 (T,)
        if zero_terminal_snr:
            root = alphas_cumprod.sqrt()
            first, last = root[0].clone(), root[-1].clone()
            alphas_cumprod = ((root - last) * (first / (first - last))) ** 2
        self.num_train_timesteps = num_train_timesteps
        self.beta_start, self.beta_end, self.beta_schedule = beta_start, beta_end, beta_schedule
        self.zero_terminal_snr = zero_terminal_snr
        self.alphas_cumprod = alphas_cumprod

    @classmethod
    def from_config(cls, config) -> "NoiseSchedule":
        return cls(config.num_train_timesteps, config.beta_start, config.beta_end, config.beta_schedule,
                   zero_terminal_snr=config.zero_terminal_snr)

    def _coefficients(self, timesteps: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha_bar = self.alphas_cumprod.to(timesteps.device)[timesteps].to(like.dtype)
        shape = (-1,) + (1,) * (like.ndim - 1)
        return alpha_bar.sqrt().view(shape), (1 - alpha_bar).sqrt().view(shape)

    def add_noise(self, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        sqrt_alpha, sqrt_sigma = self._coefficients(timesteps, latents)
        return sqrt_alpha * latents + sqrt_sigma * noise

    def velocity(self, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        sqrt_alpha, sqrt_sigma = self._coefficients(timesteps, latents)
        return sqrt_alpha * noise - sqrt_sigma * latents

    def sample_timesteps(self, batch_size: int, generator: torch.Generator | None = None,
                         device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.randint(0, self.num_train_timesteps, (batch_size,), generator=generator).to(device)
