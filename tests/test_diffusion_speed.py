"""The sampler's savings: exact ones leave the result unchanged, approximate ones stay close and do save work."""

from __future__ import annotations

import pytest
import torch

from interanimate.diffusion import NoiseSchedule, sample
from interanimate.models import InterAnimateModel
from interanimate.pipelines.interanimate_pipeline import PLAIN_SPEED, InterAnimatePipeline, SamplingSpeed
from interanimate.training.batch import random_batch
from interanimate.training.config import Config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(Config().model, sample_size=32).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # open every zero-initialised branch so every input matters
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return model


@pytest.fixture(scope="module")
def batch():
    return random_batch(2, 6, 32, seed=4)


def _sample(model, batch, **kwargs):
    return sample(model, batch["reference_pixel_values"], batch["conditions"], [1, 2], schedule=NoiseSchedule(),
                  pattern_id=batch["pattern_id"], identity_embedding=batch["identity_embedding"],
                  num_inference_steps=4, decode=False, **kwargs)


def _unet_batches(model, fn):
    sizes = []
    hook = model.unet.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        result = fn()
    finally:
        hook.remove()
    return result, sizes


def test_conditioning_once_per_clip_and_batched_windows_change_nothing(model, batch):
    plain = _sample(model, batch, window_frames=4, cache_conditions=False, batch_windows=False)
    calls = {"pose_guider": 0}
    hook = model.pose_guider.register_forward_hook(lambda *a: calls.__setitem__("pose_guider", calls["pose_guider"] + 1))
    try:
        fast = _sample(model, batch, window_frames=4)
    finally:
        hook.remove()
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    assert calls["pose_guider"] == 2  # once for the clip, once for its doubled (guided) batch — not per step


def test_guidance_interval_drops_the_unconditional_half_outside_it(model, batch):
    everywhere, sizes = _unet_batches(model, lambda: _sample(model, batch))
    assert sizes == [4] * 4
    # ddim at 4 steps visits t = 999, 749, 499, 249: the interval [0, 0.6] guides the last two only
    interval, sizes = _unet_batches(model, lambda: _sample(model, batch, guidance_interval=(0.0, 0.6)))
    assert sizes == [2, 2, 4, 4]
    whole, _ = _unet_batches(model, lambda: _sample(model, batch, guidance_interval=(0.0, 1.0)))
    torch.testing.assert_close(whole, everywhere)
    assert not torch.allclose(interval, everywhere)


def test_deep_features_reused_on_the_same_input_reproduce_the_whole_unet(model, batch):
    factor = model.latent_scale_factor
    latents = torch.randn(2, 4, 6, 32 // factor, 32 // factor, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([500, 500])
    with torch.no_grad():
        features = model.compute_reference_features(model.encode(batch["reference_pixel_values"], sample=False))
        args = dict(reference_features=features, pattern_id=batch["pattern_id"],
                    identity_embedding=batch["identity_embedding"])
        cache = {}
        whole = model(latents, timesteps, batch["conditions"], feature_cache=cache, **args)
        deep_calls = {"mid": 0}
        hook = model.unet.mid_block.register_forward_hook(lambda *a: deep_calls.__setitem__("mid", 1))
        try:
            shallow = model(latents, timesteps, batch["conditions"], feature_cache=cache, **args)
        finally:
            hook.remove()
        other = model(latents + 0.5, timesteps, batch["conditions"], feature_cache=cache, **args)
    torch.testing.assert_close(shallow, whole, rtol=1e-5, atol=1e-6)
    assert deep_calls["mid"] == 0  # the reuse path skipped the deep blocks
    assert not torch.allclose(other, whole)  # the shallow path still reads its input


def test_deep_cache_and_bf16_stay_close_to_the_plain_result(model, batch):
    plain = _sample(model, batch)
    scale = plain.abs().mean().item()
    for kwargs in (dict(deep_cache_interval=2), dict(autocast_dtype=torch.bfloat16)):
        approximate = _sample(model, batch, **kwargs)
        gap = (approximate - plain).abs().mean().item()
        assert 0 < gap < 0.1 * scale, (kwargs, gap, scale)


def test_window_policy_and_speed_settings(model):
    pipe = InterAnimatePipeline.from_model(model, window_frames=8)
    assert pipe.motion_positions == 32
    assert pipe.window_for(16, "fit") == 16 and pipe.window_for(16, "trained") == 8
    assert pipe.window_for(40, "fit") == 8  # longer than the positions: windows of the trained length
    with pytest.raises(ValueError, match="window policy"):
        pipe.window_for(16, "wide")
    plain = PLAIN_SPEED.sampler_options(pipe, 16)
    assert plain == dict(window_frames=8, batch_windows=False, cache_conditions=False, guidance_interval=None,
                         deep_cache_interval=1, autocast_dtype=None)
    assert SamplingSpeed(autocast=None).sampler_options(pipe, 16)["window_frames"] == 16
    assert SamplingSpeed(autocast="always").sampler_options(pipe, 16)["autocast_dtype"] == torch.bfloat16
