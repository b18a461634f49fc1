"""Gradients reach exactly the parameters each stage trains."""

from __future__ import annotations

import pytest
import torch

from interanimate.diffusion import NoiseSchedule, compute_loss
from interanimate.models import InterAnimateModel
from interanimate.training.batch import random_batch
from interanimate.training.config import Config, DropoutConfig
from interanimate.training.stages import apply_stage, uses_motion_modules


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(Config().model, sample_size=32)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # open the zero-initialised gates/outputs so every branch carries gradient
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.1, generator=g)
    return model


def _groups(names):
    return {n.split(".")[0] + ("/motion" if ".motion_modules." in n else "") for n in names}


def _backward(model, stage):
    model.zero_grad(set_to_none=True)
    config = Config()
    batch = random_batch(2, 1 if stage == 1 else 3, 32, seed=stage)
    terms = compute_loss(model, batch, NoiseSchedule(), config.loss, DropoutConfig(0.0, 0.0, 0.0),
                         generator=torch.Generator().manual_seed(0), use_motion_modules=uses_motion_modules(stage))
    terms["loss"].backward()


@pytest.mark.parametrize("stage", [1, 2])
def test_gradients_reach_exactly_the_stage_modules(model, stage):
    trainable = set(apply_stage(model, stage))
    _backward(model, stage)
    for name, param in model.named_parameters():
        if name in trainable:
            assert param.grad is not None and param.grad.abs().sum() > 0, f"{name} trains in stage {stage} but gets no gradient"
        else:
            assert param.grad is None, f"{name} is frozen in stage {stage} but got a gradient"


def test_stage_membership():
    model = InterAnimateModel.from_config(Config().model, sample_size=32)
    stage1, stage2 = set(apply_stage(model, 1)), set(apply_stage(model, 2))
    assert _groups(stage1) == {"reference_net", "unet", "pose_guider", "id_preserver", "interaction"}
    assert _groups(stage2) == {"unet/motion", "interaction"}
    assert "interaction.spatial_latents" in stage1 and "interaction.spatial_latents" not in stage2
    assert "interaction.temporal_latents" in stage2 and "interaction.temporal_latents" not in stage1
    gates = {n for n, _ in model.named_parameters() if n.endswith(".gate") and n.startswith("interaction.")}
    assert gates and gates <= stage2
    assert _groups(apply_stage(model, 0)) == {"vae"}


def test_stage_zero_trains_only_the_vae(model):
    apply_stage(model, 0)
    model.zero_grad(set_to_none=True)
    pixels = random_batch(1, 1, 32)["reference_pixel_values"]
    reconstruction = model.vae(pixels).sample
    ((reconstruction - pixels) ** 2).mean().backward()
    grads = {n.split(".")[0] for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {"vae"}
