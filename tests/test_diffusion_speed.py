"""The sampler's savings: exact ones leave the result unchanged, approximate ones stay close and do save work."""

from __future__ import annotations

import pytest
import torch

from interanimate.diffusion import NoiseSchedule, sample
from interanimate.models import InterAnimateModel
from interanimate.pipelines.interanimate_pipeline import PLAIN_SPEED, InterAnimatePipeline, SamplingSpeed, bf16_is_fast
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


def test_shallower_cache_reuses_more_and_reproduces_the_whole_unet_on_the_same_input(model, batch):
    factor = model.latent_scale_factor
    latents = torch.randn(2, 4, 6, 32 // factor, 32 // factor, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([500, 500])
    last = model.unet.up_blocks[-1]
    with torch.no_grad():
        features = model.compute_reference_features(model.encode(batch["reference_pixel_values"], sample=False))
        args = dict(reference_features=features, pattern_id=batch["pattern_id"],
                    identity_embedding=batch["identity_embedding"])
        cache = {"shallow_layers": 1}
        whole = model(latents, timesteps, batch["conditions"], feature_cache=cache, **args)
        calls = []
        hooks = [model.unet.down_blocks[0].resnets[0].register_forward_hook(lambda *a: calls.append("down")),
                 last.resnets[0].register_forward_hook(lambda *a: calls.append("up0")),
                 last.resnets[-1].register_forward_hook(lambda *a: calls.append("last"))]
        try:
            shallow = model(latents, timesteps, batch["conditions"], feature_cache=cache, **args)
        finally:
            for hook in hooks:
                hook.remove()
        other = model(latents + 0.5, timesteps, batch["conditions"], feature_cache=cache, **args)
        with pytest.raises(ValueError, match="shallow_layers"):
            model(latents, timesteps, batch["conditions"], feature_cache={"shallow_layers": len(last.resnets) + 1},
                  **args)
    torch.testing.assert_close(shallow, whole, rtol=1e-5, atol=1e-6)
    assert calls == ["last"]  # only the last layer of the last up block ran: no down-block layer, no other up layer
    assert not torch.allclose(other, whole)
    with pytest.raises(ValueError, match="deep_cache_layers"):
        _sample(model, batch, deep_cache_interval=2, deep_cache_layers=0)


def test_reference_keys_values_once_per_clip_change_nothing(model, batch):
    with torch.no_grad():
        reference = model.compute_reference_features(model.encode(batch["reference_pixel_values"], sample=False))
        kv = model.reference_keys_values(reference)
    name = next(iter(reference))
    layer = model.unet.get_submodule(name)
    tokens = []
    hook = layer.to_k.register_forward_hook(lambda module, args, out: tokens.append(args[0].shape[:-1].numel()))
    try:
        plain = _sample(model, batch)
        projected_plain = sum(tokens)
        tokens.clear()
        fast = _sample(model, batch, precompute_attention=True)
        projected_fast = sum(tokens)
    finally:
        hook.remove()
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6)
    # 4 guided steps; in each, the conditional half's 2 samples × 6 frames read the reference tokens: projected per
    # frame and step without the cache, once per sample with it
    reference_tokens = reference[name].shape[1]
    assert projected_plain - projected_fast == 4 * 2 * 6 * reference_tokens - 2 * reference_tokens
    assert set(kv) == set(reference)
    key, value = kv[name]
    torch.testing.assert_close(key, layer.to_k(reference[name]))
    assert value.shape == key.shape == (*reference[name].shape[:2], layer.to_k.out_features)


def test_float32_attention_keeps_the_kernel_in_float32_under_bf16_autocast():
    from interanimate.models.attention_kernel import attention, float32_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 64, 4, generator=g) for _ in range(3))
    exact = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        qb, kb, vb = q.bfloat16(), k.bfloat16(), v.bfloat16()
        low = attention(qb, kb, vb)
        with float32_attention():
            kept = attention(qb, kb, vb)
    assert kept.dtype == low.dtype == torch.bfloat16
    reference = torch.nn.functional.scaled_dot_product_attention(qb.float(), kb.float(), vb.float())
    torch.testing.assert_close(kept, reference.bfloat16(), rtol=0, atol=0)
    assert (kept.float() - exact).abs().max() <= (low.float() - exact).abs().max() + 1e-3


def test_deep_cache_and_bf16_stay_close_to_the_plain_result(model, batch):
    plain = _sample(model, batch)
    scale = plain.abs().mean().item()
    for kwargs in (dict(deep_cache_interval=2), dict(deep_cache_interval=2, deep_cache_layers=1),
                   dict(autocast_dtype=torch.bfloat16),
                   dict(autocast_dtype=torch.bfloat16, float32_attention=True, precompute_attention=True)):
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
    assert plain == dict(window_frames=8, batch_windows=False, cache_conditions=False, precompute_attention=False,
                         guidance_interval=None, deep_cache_interval=1, deep_cache_layers=None, autocast_dtype=None,
                         float32_attention=False)
    assert SamplingSpeed(autocast=None).sampler_options(pipe, 16)["window_frames"] == 16
    assert SamplingSpeed(autocast="always").sampler_options(pipe, 16)["autocast_dtype"] == torch.bfloat16
    # on CPU, bf16 autocast only with the attention kernel kept in float32
    assert SamplingSpeed(float32_attention=False).sampler_options(pipe, 16)["autocast_dtype"] is None
    assert not bf16_is_fast("cpu", float32_attention=False)
