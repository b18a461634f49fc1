"""The noise schedule: the SD schedules, and the zero-terminal-SNR rescale that the samplers must survive."""

from __future__ import annotations

import pytest
import torch

from interanimate.diffusion import NoiseSchedule
from interanimate.diffusion.sampler import ddim_timesteps, denoise, make_scheduler


def _run(sampler: str, model, start: torch.Tensor, num_steps: int, schedule: NoiseSchedule) -> torch.Tensor:
    """The diffusers scheduler's loop over a v-prediction ``model.predict(x, t, step)``."""
    scheduler = make_scheduler(sampler, schedule, "v_prediction")
    return denoise(model, start, scheduler, num_steps, [torch.Generator().manual_seed(0)])


def test_zero_terminal_snr_ends_at_zero_and_keeps_the_first_step():
    plain, rescaled = NoiseSchedule(), NoiseSchedule(zero_terminal_snr=True)
    assert plain.alphas_cumprod[-1].sqrt() == pytest.approx(0.068, abs=2e-3)  # the signal the plain schedule leaks
    assert rescaled.alphas_cumprod[-1] == 0
    assert rescaled.alphas_cumprod[0] == pytest.approx(float(plain.alphas_cumprod[0]), rel=1e-12)
    assert bool((rescaled.alphas_cumprod.diff() < 0).all())
    assert bool((rescaled.alphas_cumprod <= plain.alphas_cumprod).all())


def test_the_last_training_step_carries_no_signal_only_at_zero_terminal_snr():
    latents, noise = torch.full((1, 4, 8, 8), 3.0), torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    last = torch.tensor([999])
    assert torch.equal(NoiseSchedule(zero_terminal_snr=True).add_noise(latents, noise, last), noise)
    leaked = NoiseSchedule().add_noise(latents, noise, last) - noise
    assert leaked.mean().item() == pytest.approx(3.0 * 0.068, abs=0.01)


class _Oracle:
    """A v-prediction "model" that knows the clean latents ``x0``: the samplers must land exactly on them."""

    def __init__(self, schedule: NoiseSchedule, x0: torch.Tensor):
        self.schedule, self.x0 = schedule, x0

    def predict(self, x: torch.Tensor, t, step: int = 0):
        alpha_bar = float(self.schedule.alphas_cumprod[int(t)])
        a, s = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
        eps = (x - a * self.x0) / s
        return a * eps - s * self.x0


@pytest.mark.parametrize("zero_terminal_snr", [False, True])
@pytest.mark.parametrize("sampler", ["ddim", "dpmpp"])
def test_samplers_recover_the_data_from_a_perfect_prediction(sampler, zero_terminal_snr):
    schedule = NoiseSchedule(zero_terminal_snr=zero_terminal_snr)
    x0 = torch.randn(1, 4, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    start = torch.randn(1, 4, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    oracle, steps = _Oracle(schedule, x0), ddim_timesteps(1000, 6)
    assert steps[0] == 999  # sampling starts where ᾱ = 0 for the rescaled schedule
    result = _run(sampler, oracle, start, len(steps), schedule)
    assert torch.isfinite(result).all()
    torch.testing.assert_close(result, x0, rtol=1e-4, atol=1e-4)


class _Linear:
    """A v-prediction "model" whose output depends on its input (v = 0.5·x + 1), to compare update formulas."""

    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule

    def predict(self, x: torch.Tensor, t, step: int = 0):
        return 0.5 * x + 1.0


def test_dpm_solver_starts_at_zero_snr_like_ddim():
    # From ᾱ = 0 the DPM-Solver++ step is DDIM's in the limit (h = ∞), and the step after it is first order
    # (r = ∞). diffusers' DPM-Solver clamps ᾱ_T to 2⁻²⁴ instead of taking the limit, so with two steps the two
    # samplers agree to that clamp's size (√2⁻²⁴ ≈ 2.4e-4 of the latents per step), not to round-off.
    schedule = NoiseSchedule(zero_terminal_snr=True)
    start = torch.randn(1, 4, 2, 6, 6, generator=torch.Generator().manual_seed(3))
    model = _Linear(schedule)
    ddim, dpm = _run("ddim", model, start, 2, schedule), _run("dpmpp", model, start, 2, schedule)
    torch.testing.assert_close(dpm, ddim, rtol=0, atol=5e-3)
    # With more steps the second-order corrections make the two differ (the comparison above is not vacuous).
    assert not torch.allclose(_run("dpmpp", model, start, 4, schedule), _run("ddim", model, start, 4, schedule),
                              atol=1e-2)


def test_epsilon_sampling_on_a_zero_snr_schedule_is_refused():
    from interanimate.diffusion.sampler import sample

    with pytest.raises(ValueError, match="needs a v-prediction model"):
        sample(None, torch.zeros(1, 3, 8, 8), torch.zeros(1, 9, 2, 8, 8), [0],
               schedule=NoiseSchedule(zero_terminal_snr=True), prediction_type="epsilon")
