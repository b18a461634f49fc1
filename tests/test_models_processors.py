"""Behaviour of the attention processors and the zero-initialised branches on the tiny model."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNetMotionModel
from diffusers.models.attention_processor import AttnProcessor2_0

from interanimate.models import AttentionContext, InterAnimateModel
from interanimate.models.interanimate_model import to_latent_resolution
from interanimate.models.attention_processors import soften_mask
from interanimate.training.batch import random_batch
from interanimate.training.config import Config

NUM_FRAMES = 3


@pytest.fixture(scope="module")
def model() -> InterAnimateModel:
    torch.manual_seed(0)
    return InterAnimateModel.from_config(Config().model, sample_size=32).eval()


@pytest.fixture(scope="module")
def inputs(model):
    batch = random_batch(batch_size=2, num_frames=NUM_FRAMES, resolution=32, seed=1)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        latents = model.encode(batch["pixel_values"], generator=g)
        reference = model.compute_reference_features(model.encode(batch["reference_pixel_values"], sample=False))
    return batch, latents, reference


def _predict(model, batch, latents, reference, **overrides):
    kwargs = dict(pattern_id=batch["pattern_id"], identity_embedding=batch["identity_embedding"],
                  identity_present=batch["identity_present"])
    kwargs.update(overrides)
    with torch.no_grad():
        return model(latents, torch.tensor([50, 700]), batch["conditions"], reference, **kwargs)


def _plain(model) -> InterAnimateModel:
    """The same weights without the interaction system and the ID preserver."""
    return InterAnimateModel(model.vae, model.reference_net, model.unet, model.pose_guider, None, None)


def _set_gates(model, value: float):
    for gate in [*model.interaction.gates(), *model.id_preserver.gates()]:
        gate.data.fill_(value)


def _perturb(module: torch.nn.Module, seed: int = 3):
    """Give zero-initialised weights random values, so a branch has a visible effect once its gate opens."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        if p.ndim > 1 and not p.abs().any():
            p.data.normal_(0, 0.5, generator=g)


def test_processors_without_context_match_stock_unet_motion_model(model):
    """The custom forward + processors compute exactly what diffusers' UNetMotionModel computes."""
    ours_unet = type(model.unet).from_config(model.unet.config)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # random weights everywhere, so motion modules are not identities
        for p in ours_unet.parameters():
            p.normal_(0, 0.2, generator=g)
    stock = UNetMotionModel.from_config(model.unet.config)
    stock.load_state_dict(ours_unet.state_dict())
    stock.set_attn_processor(AttnProcessor2_0())
    sample = torch.randn(2, 4, NUM_FRAMES, 16, 16, generator=g)
    context = torch.randn(2, 1, 16, generator=g)
    with torch.no_grad():
        ours = ours_unet(sample, torch.tensor([10, 900]), context)
        # The stock model expects the context already repeated per frame.
        theirs = stock(sample, torch.tensor([10, 900]), context.repeat_interleave(NUM_FRAMES, dim=0)).sample
    assert torch.equal(ours, theirs)


def test_zero_initialised_branches_leave_output_unchanged(model, inputs):
    batch, latents, reference = inputs
    assert not model.pose_guider.conv_out.weight.any()
    assert all(not g.any() for g in [*model.interaction.gates(), *model.id_preserver.gates()])
    full = _predict(model, batch, latents, reference)
    plain = _predict(_plain(model), batch, latents, reference)
    without_pose = _predict(_plain(model), batch, latents, reference, pose_keep=torch.zeros(2, dtype=torch.bool))
    assert torch.equal(full, plain)
    assert torch.equal(full, without_pose)


def test_open_gates_change_the_output(model, inputs):
    """Guards the test above: the branches are wired in, so opening the gates must change the prediction."""
    batch, latents, reference = inputs
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        _set_gates(model, 0.5)
        _perturb(model.interaction)
        assert not torch.allclose(_predict(model, batch, latents, reference),
                                  _predict(_plain(model), batch, latents, reference))
    finally:
        model.load_state_dict(state)


def _attention_module(model, name):
    return dict(model.unet.named_modules())[name]


def _context(model, batch, region_mask, with_interaction=True):
    b, f = 2, NUM_FRAMES
    pose = model.pose_guider(batch["conditions"])
    ctx = AttentionContext(batch_size=b, num_frames=f, latent_size=(16, 16), region_mask=region_mask)
    if with_interaction:
        ctx.interaction = model.interaction
        ctx.spatial_latents, ctx.temporal_latents = model.interaction(batch["pattern_id"], pose.features)
    return ctx


@pytest.mark.parametrize("layer_kind", ["spatial", "temporal"])
def test_region_mask_confines_interaction_to_region(model, inputs, layer_kind):
    batch = inputs[0]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        _set_gates(model, 1.0)
        _perturb(model.interaction)
        names = (model.interaction.config.spatial_layers if layer_kind == "spatial"
                 else model.interaction.config.temporal_layers)
        name = names[0]  # down_blocks.0: 16x16 positions
        attn = _attention_module(model, name)
        region = to_latent_resolution(torch.maximum(batch["hand_mask"], batch["contact_mask"]), (16, 16))
        g = torch.Generator().manual_seed(7)
        if layer_kind == "spatial":
            hidden = torch.randn(2 * NUM_FRAMES, 16 * 16, attn.to_q.in_features, generator=g)
        else:
            hidden = torch.randn(2 * 16 * 16, NUM_FRAMES, attn.to_q.in_features, generator=g)
        with torch.no_grad():
            masked = attn(hidden, attention_context=_context(model, batch, region))
            plain = attn(hidden, attention_context=_context(model, batch, region, with_interaction=False))
            everywhere = attn(hidden, attention_context=_context(model, batch, None))
        soft = soften_mask(region.flatten(0, 1)[:, None], (16, 16), model.mask_blur_radius)  # (b f, 1, h, w)
        if layer_kind == "spatial":
            outside = (soft.flatten(1) == 0)[:, :, None].expand_as(masked)  # (b f, h w, c)
        else:
            outside = (soft.view(2, NUM_FRAMES, 256).permute(0, 2, 1).reshape(-1, NUM_FRAMES) == 0)
            outside = outside[:, :, None].expand_as(masked)  # (b h w, f, c)
        diff = (masked - plain).abs()
        assert outside.any() and (~outside).any()
        assert torch.equal(diff[outside], torch.zeros_like(diff[outside]))
        assert diff[~outside].max() > 1e-3
        # Ablation "no region masking": the branch acts outside the region too.
        assert (everywhere - plain).abs()[outside].max() > 1e-3
    finally:
        model.load_state_dict(state)


def test_empty_region_leaves_model_output_unchanged_with_open_gates(model, inputs):
    batch, latents, reference = inputs
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        for gate in model.interaction.gates():
            gate.data.fill_(1.0)
        _perturb(model.interaction)
        empty = torch.zeros_like(batch["hand_mask"])
        masked = _predict(model, batch, latents, reference, hand_mask=empty, contact_mask=empty)
        plain = _predict(_plain(model), batch, latents, reference)
        assert torch.equal(masked, plain)
        assert not torch.allclose(_predict(model, batch, latents, reference), plain)
    finally:
        model.load_state_dict(state)


def test_identity_branch_only_acts_where_the_face_is_and_when_present(model, inputs):
    batch, latents, reference = inputs
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        for gate in model.id_preserver.gates():
            gate.data.fill_(1.0)
        plain = _predict(_plain(model), batch, latents, reference)
        absent = _predict(model, batch, latents, reference, identity_present=torch.zeros(2, dtype=torch.bool))
        no_face = _predict(model, batch, latents, reference, face_mask=torch.zeros_like(batch["face_mask"]))
        present = _predict(model, batch, latents, reference)
        assert torch.equal(absent, plain)
        assert torch.equal(no_face, plain)
        assert not torch.allclose(present, plain)
    finally:
        model.load_state_dict(state)


def test_dropped_reference_equals_no_reference(model, inputs):
    """CFG's unconditional branch: hiding the reference by mask is attention without reference tokens."""
    batch, latents, reference = inputs
    dropped = _predict(model, batch, latents, reference, reference_keep=torch.tensor([False, True]))
    none = _predict(model, batch, latents, None)
    kept = _predict(model, batch, latents, reference)
    torch.testing.assert_close(dropped[0], none[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dropped[1], kept[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(kept[0], none[0], atol=1e-4)


def test_reference_features_are_paired_by_layer_name(model, inputs):
    reference = inputs[2]
    spatial = [n for n, m in model.unet.named_modules() if n.endswith(".attn1") and ".motion_modules." not in n]
    assert set(reference) == set(spatial)
    for name, feature in reference.items():
        assert feature.shape[-1] == dict(model.unet.named_modules())[name].to_q.in_features


def test_context_is_not_stored_on_modules(model, inputs):
    batch, latents, reference = inputs
    _predict(model, batch, latents, reference)
    for module in [model.unet, model.reference_net]:
        for name, proc in module.attn_processors.items():
            assert set(vars(proc)) <= {"name"}, name
