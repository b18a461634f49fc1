"""The training objective: region weights, ε/v targets, orthogonality loss, and a full loss evaluation."""

from __future__ import annotations

import pytest
import torch

from interanimate.diffusion import NoiseSchedule, compute_loss, orthogonality_loss, prediction_target, region_weights
from interanimate.diffusion.sampler import make_scheduler
from interanimate.models import InterAnimateModel
from interanimate.training.batch import random_batch
from interanimate.training.config import Config


def test_orthogonality_loss_is_zero_for_orthogonal_rows_and_positive_otherwise():
    assert orthogonality_loss(3.0 * torch.eye(4, 8)).item() == pytest.approx(0.0, abs=1e-6)
    duplicated = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # same direction: off-diagonal cosine 1, twice
    assert orthogonality_loss(duplicated).item() == pytest.approx(2.0)


def test_orthogonality_loss_falls_when_optimised():
    torch.manual_seed(0)
    latents = torch.nn.Parameter(torch.randn(8, 16) + 1.0)  # correlated rows
    optimiser = torch.optim.Adam([latents], lr=0.05)
    start = orthogonality_loss(latents).item()
    for _ in range(100):
        optimiser.zero_grad()
        loss = orthogonality_loss(latents)
        loss.backward()
        optimiser.step()
    assert start > 5.0
    assert orthogonality_loss(latents).item() < 0.01 * start


def test_region_weights_follow_the_formula():
    mask = torch.zeros(1, 1, 1, 4, 4)
    hand, face, contact = mask.clone(), mask.clone(), mask.clone()
    hand[..., :2, :2] = 1  # latent cell (0, 0) fully hand
    face[..., :2, 2:] = 1  # cell (0, 1) fully face
    contact[..., 2:, :2] = 1  # cell (1, 0) fully contact
    face[..., 2:, 2:3] = 1  # cell (1, 1) half face
    weights = region_weights(hand, face, contact, (2, 2), lambda_hand=1.0, lambda_face=0.5, lambda_contact=2.0)
    expected = torch.tensor([[2.0, 1.5], [3.0, 1.25]])
    assert torch.allclose(weights[0, 0, 0], expected)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_targets_invert_to_noise_and_clean_latents(prediction_type):
    # The sampler's scheduler reads the training target back as (x̂₀, ε̂): x̂₀ is its pred_original_sample, ε̂ comes
    # out of a deterministic DDIM step to t − 1 (x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1−ᾱ_{t−1})·ε̂).
    schedule = NoiseSchedule()
    scheduler = make_scheduler("ddim", schedule, prediction_type)
    scheduler.set_timesteps(schedule.num_train_timesteps)
    g = torch.Generator().manual_seed(0)
    latents, noise = torch.randn(3, 4, 2, 8, 8, generator=g), torch.randn(3, 4, 2, 8, 8, generator=g)
    for t in (1, 400, 999):
        timesteps = torch.full((3,), t)
        noisy = schedule.add_noise(latents, noise, timesteps)
        target = prediction_target(schedule, latents, noise, timesteps, prediction_type)
        out = scheduler.step(target, t, noisy, eta=0.0)
        x0 = out.pred_original_sample
        prev = float(scheduler.alphas_cumprod[t - 1])
        eps = (out.prev_sample - prev**0.5 * x0) / (1 - prev) ** 0.5
        torch.testing.assert_close(eps, noise, atol=2e-3, rtol=1e-3)
        if t < 999:  # x0 from ε is ill-conditioned at the last step
            torch.testing.assert_close(x0, latents, atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_compute_loss_is_finite_and_backpropagates(prediction_type):
    torch.manual_seed(0)
    config = Config()
    config.loss.prediction_type = prediction_type
    model = InterAnimateModel.from_config(config.model, sample_size=32)
    batch = random_batch(2, 2, 32, seed=0)
    terms = compute_loss(model, batch, NoiseSchedule.from_config(config.scheduler), config.loss, config.dropout,
                         generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(terms["loss"]) and terms["orthogonality"] > 0
    terms["loss"].backward()
    assert model.interaction.spatial_latents.grad.abs().sum() > 0


def test_orthogonality_switch_removes_the_term():
    config = Config()
    config.loss.orthogonality = False
    model = InterAnimateModel.from_config(config.model, sample_size=32)
    terms = compute_loss(model, random_batch(1, 2, 32), NoiseSchedule(), config.loss, config.dropout,
                         generator=torch.Generator().manual_seed(0))
    assert terms["orthogonality"].item() == 0.0
