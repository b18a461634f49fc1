"""The diffusers schedulers reproduce the closed-form DDIM and DPM-Solver++(2M) updates on a fixed tiny model.

The reference loops below are the samplers' equations written out (DDIM: Song et al. 2021, eq. 12; DPM-Solver++(2M):
Lu et al. 2022, Algorithm 2), run on the same ``GuidedDenoiser`` as the schedulers, so any difference is the
schedulers' per-step math.
"""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import EulerDiscreteScheduler, UniPCMultistepScheduler

from interanimate.diffusion import NoiseSchedule, ddim_timesteps, make_scheduler, sample
from interanimate.diffusion.sampler import GuidedDenoiser, _initial_noise
from interanimate.models import InterAnimateModel
from interanimate.training.batch import random_batch
from interanimate.training.config import Config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(Config().model, sample_size=32).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # open every zero-initialised branch so guidance, windows and identity matter
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return model


def _to_eps_x0(prediction, x, alpha_bar, prediction_type):
    a, s = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
    if prediction_type == "epsilon":
        return prediction, (x - s * prediction) / a
    return s * x + a * prediction, a * x - s * prediction  # v = a·ε − s·x₀


def reference_ddim(denoiser, latents, schedule, steps, generators, prediction_type, eta=0.0):
    alphas = schedule.alphas_cumprod
    shape = tuple(latents.shape[1:])
    for i, t in enumerate(steps):
        alpha_bar = float(alphas[t])
        eps, x0 = _to_eps_x0(denoiser.predict(latents, t, i), latents, alpha_bar, prediction_type)
        prev = float(alphas[steps[i + 1]]) if i + 1 < len(steps) else 1.0
        sigma = eta * ((1 - prev) / (1 - alpha_bar)) ** 0.5 * (1 - alpha_bar / prev) ** 0.5
        latents = prev**0.5 * x0 + max(1 - prev - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            latents = latents + sigma * _initial_noise(shape, generators, latents.device)
    return latents


def reference_dpmpp_2m(denoiser, latents, schedule, steps, prediction_type):
    alphas = schedule.alphas_cumprod

    def coefficients(t):
        alpha_bar = 1.0 if t is None else float(alphas[t])
        alpha, sigma = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
        if sigma == 0:
            return alpha, sigma, math.inf
        return alpha, sigma, (math.log(alpha / sigma) if alpha > 0 else -math.inf)

    previous_x0, previous_h, x = None, None, latents
    for i, t in enumerate(steps):
        _, x0 = _to_eps_x0(denoiser.predict(x, t, i), x, float(alphas[t]), prediction_type)
        _, sigma_s, lambda_s = coefficients(t)
        target = steps[i + 1] if i + 1 < len(steps) else None
        if target is None:
            return x0  # σ = 0: the first-order update is exactly x̂₀
        alpha_t, sigma_t, lambda_t = coefficients(target)
        h = lambda_t - lambda_s
        if previous_x0 is None:
            d = x0
        else:
            r = previous_h / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous_x0
        x = (sigma_t / sigma_s) * x - alpha_t * math.expm1(-h) * d
        previous_x0, previous_h = x0, h
    return x


def _inputs(num_frames=4, seed=3):
    batch = random_batch(2, num_frames, 32, seed=seed)
    return batch, dict(pattern_id=batch["pattern_id"], identity_embedding=batch["identity_embedding"])


def _pair(model, sampler, schedule, prediction_type, steps=10, eta=0.0, window_frames=None):
    batch, inputs = _inputs(num_frames=2)
    seeds = [11, 12]
    with torch.no_grad():
        ours = sample(model, batch["reference_pixel_values"], batch["conditions"], seeds, schedule=schedule,
                      sampler=sampler, prediction_type=prediction_type, num_inference_steps=steps, eta=eta,
                      window_frames=window_frames, decode=False, **inputs)
        denoiser = GuidedDenoiser(model, batch["reference_pixel_values"], batch["conditions"],
                                  window_frames=window_frames, **inputs)
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        factor = model.latent_scale_factor
        latents = _initial_noise((4, batch["conditions"].shape[2], 32 // factor, 32 // factor), generators, "cpu")
        timesteps = ddim_timesteps(schedule.num_train_timesteps, steps)
        if sampler == "ddim":
            expected = reference_ddim(denoiser, latents, schedule, timesteps, generators, prediction_type, eta)
        else:
            expected = reference_dpmpp_2m(denoiser, latents, schedule, timesteps, prediction_type)
    return ours, expected


CASES = [("ddim", False, "epsilon"), ("ddim", False, "v_prediction"), ("ddim", True, "v_prediction"),
         ("dpmpp", False, "epsilon"), ("dpmpp", False, "v_prediction")]


@pytest.mark.parametrize("sampler,zero_snr,prediction_type", CASES)
def test_scheduler_equals_the_closed_form_sampler(model, sampler, zero_snr, prediction_type):
    ours, expected = _pair(model, sampler, NoiseSchedule(zero_terminal_snr=zero_snr), prediction_type)
    difference = (ours - expected).abs().max().item()
    print(f"{sampler} zero_snr={zero_snr} {prediction_type}: max |diffusers - closed form| = {difference:.2e}")
    assert difference < 1e-4


def test_ddim_with_eta_uses_each_samples_own_noise(model):
    ours, expected = _pair(model, "ddim", NoiseSchedule(), "epsilon", eta=1.0)
    difference = (ours - expected).abs().max().item()
    print(f"ddim eta=1: max |diffusers - closed form| = {difference:.2e}")
    assert difference < 1e-4


def test_dpmpp_at_zero_terminal_snr_stays_close(model):
    # diffusers' DPM-Solver clamps ᾱ_T = 0 to 2⁻²⁴ (λ finite), where the closed form takes the limit exactly: the
    # first step keeps a 2⁻¹² share of the noise and the second is second order. The results stay close.
    ours, expected = _pair(model, "dpmpp", NoiseSchedule(zero_terminal_snr=True), "v_prediction")
    difference = (ours - expected).abs().max().item()
    print(f"dpmpp zero_snr=True v_prediction: max |diffusers - closed form| = {difference:.2e}")
    assert difference < 2e-2 * expected.abs().max().item()


@pytest.mark.parametrize("cls", [EulerDiscreteScheduler, UniPCMultistepScheduler])
def test_any_diffusers_scheduler_can_be_passed(model, cls):
    batch, inputs = _inputs(num_frames=2)
    base = make_scheduler("ddim", NoiseSchedule(), "epsilon")
    scheduler = cls.from_config(base.config)
    with torch.no_grad():
        run = [sample(model, batch["reference_pixel_values"], batch["conditions"], [1, 2], sampler=scheduler,
                      num_inference_steps=10, decode=False, **inputs) for _ in range(2)]
        ddim = sample(model, batch["reference_pixel_values"], batch["conditions"], [1, 2], sampler=base,
                      num_inference_steps=10, decode=False, **inputs)
    torch.testing.assert_close(run[0], run[1])  # deterministic
    # a different solver of the same ODE: near DDIM's result at 10 steps, but not equal to it
    gap = (run[0] - ddim).abs().mean().item()
    assert 0 < gap < 0.25 * ddim.abs().mean().item()
