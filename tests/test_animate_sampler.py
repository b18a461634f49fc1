"""Samplers behind `animate`: DPM-Solver++(2M), overlapping temporal windows, per-seed reproducibility."""

from __future__ import annotations

import pytest
import torch

from interanimate.diffusion import NoiseSchedule
from interanimate.diffusion.sampler import blend_weights, sample, temporal_windows
from interanimate.models import InterAnimateModel
from interanimate.training.batch import random_batch
from interanimate.training.config import Config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(Config().model, sample_size=32).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # open every zero-initialised branch so windows, guidance and identity matter
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return model


def _sample(model, batch, seeds, **kwargs):
    n = len(seeds)
    return sample(model, batch["reference_pixel_values"][:n], batch["conditions"][:n], seeds,
                  schedule=NoiseSchedule(), pattern_id=batch["pattern_id"][:n],
                  identity_embedding=batch["identity_embedding"][:n], num_inference_steps=3, decode=False, **kwargs)


def test_windows_cover_the_clip_with_full_length_windows():
    assert temporal_windows(8, None) == [(0, 8)]
    assert temporal_windows(8, 16) == [(0, 8)]
    assert temporal_windows(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert temporal_windows(11, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10), (7, 11)]
    with pytest.raises(ValueError, match="overlap"):
        temporal_windows(10, 4, 4)


def test_blend_weights_sum_to_one_and_ramp_linearly():
    windows = temporal_windows(10, 4, 2)
    weights = blend_weights(windows, 10)
    total = torch.zeros(10)
    for (start, end), w in zip(windows, weights):
        total[start:end] += w
    torch.testing.assert_close(total, torch.ones(10))
    # First frame belongs to the first window alone; inside an overlap the earlier window fades out linearly.
    assert weights[0][0] == 1.0
    assert weights[0][2] > weights[0][3] > 0
    assert weights[1][0] < weights[1][1]


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp"])
def test_samples_depend_on_their_seed_not_on_the_batch(model, sampler):
    batch = random_batch(2, 6, 32, seed=0)
    kwargs = dict(sampler=sampler, window_frames=4, window_overlap=2)
    pair = _sample(model, batch, [11, 12], **kwargs)
    alone = _sample(model, batch, [11], **kwargs)
    again = _sample(model, batch, [11, 12], **kwargs)
    other = _sample(model, batch, [13, 12], **kwargs)
    torch.testing.assert_close(pair[:1], alone, atol=1e-4, rtol=1e-3)  # CPU kernels differ by batch size
    assert torch.equal(pair, again)
    assert not torch.allclose(pair[0], other[0])
    torch.testing.assert_close(pair[1], other[1], atol=1e-4, rtol=1e-3)


def test_reference_features_once_per_clip_with_windows(model):
    batch = random_batch(1, 6, 32, seed=0)
    calls = {"reference_net": 0, "unet": 0}
    batches = []

    def unet_call(module, args):
        calls["unet"] += 1
        batches.append(args[0].shape[:3])

    hooks = [model.reference_net.register_forward_hook(lambda *a: calls.__setitem__("reference_net", calls["reference_net"] + 1)),
             model.unet.register_forward_pre_hook(unet_call)]
    try:
        _sample(model, batch, [0], sampler="dpmpp", window_frames=4, window_overlap=2)
    finally:
        for hook in hooks:
            hook.remove()
    # 3 steps, each one call holding 2 windows of 4 frames × (unconditional, conditional)
    assert calls == {"reference_net": 1, "unet": 3}
    assert batches == [(2 * 2, 4, 4)] * 3


def test_one_step_dpmpp_equals_ddim(model):
    # With one step both jump straight to x̂₀ of the first prediction.
    batch = random_batch(1, 2, 32, seed=3)
    torch.testing.assert_close(sample(model, batch["reference_pixel_values"], batch["conditions"], [5],
                                      schedule=NoiseSchedule(), sampler="dpmpp", num_inference_steps=1, decode=False),
                               sample(model, batch["reference_pixel_values"], batch["conditions"], [5],
                                      schedule=NoiseSchedule(), sampler="ddim", num_inference_steps=1, decode=False))


def test_dpmpp_second_order_differs_from_ddim_and_converges(model):
    batch = random_batch(1, 2, 32, seed=4)

    def run(name, steps):
        return sample(model, batch["reference_pixel_values"], batch["conditions"], [7], schedule=NoiseSchedule(),
                      sampler=name, num_inference_steps=steps, decode=False)

    assert not torch.allclose(run("dpmpp", 4), run("ddim", 4))
    # Both solve the same ODE: with many steps they agree far better than with few.
    fine_gap = (run("dpmpp", 20) - run("ddim", 20)).abs().mean()
    coarse_gap = (run("dpmpp", 4) - run("ddim", 4)).abs().mean()
    assert fine_gap < coarse_gap


def test_windowed_equals_single_window_when_the_window_covers_the_clip(model):
    batch = random_batch(1, 4, 32, seed=2)
    torch.testing.assert_close(_sample(model, batch, [3], window_frames=4), _sample(model, batch, [3]))


def test_unknown_sampler_is_refused(model):
    batch = random_batch(1, 2, 32, seed=0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        _sample(model, batch, [0], sampler="euler")
