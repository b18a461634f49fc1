"""Checkpoints describe themselves: save → load reproduces outputs; the sd15 loading path reads diffusers folders."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel

from interanimate.models import IDPreserver, InteractionSystem, InterAnimateModel, PoseGuider
from interanimate.training.batch import random_batch
from interanimate.training.config import Config, PretrainedConfig

NUM_FRAMES = 2


def _outputs(model: InterAnimateModel, batch) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        latents = model.encode(batch["pixel_values"], generator=g)
        reference = model.compute_reference_features(model.encode(batch["reference_pixel_values"], sample=False))
        return model(latents, torch.tensor([3, 600]), batch["conditions"], reference,
                     pattern_id=batch["pattern_id"], identity_embedding=batch["identity_embedding"],
                     identity_present=batch["identity_present"])


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-zero values everywhere (gates and zero-init layers included), so every weight matters in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def test_save_load_reproduces_outputs(tmp_path):
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(Config().model, sample_size=32).eval()
    _randomise(model)
    batch = random_batch(2, NUM_FRAMES, 32, seed=3)
    before = _outputs(model, batch)
    model.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = InterAnimateModel.from_pretrained(tmp_path / "ckpt").eval()
    assert isinstance(loaded.interaction, InteractionSystem) and isinstance(loaded.id_preserver, IDPreserver)
    assert isinstance(loaded.pose_guider, PoseGuider)
    assert torch.equal(_outputs(loaded, batch), before)


def test_new_like_has_the_same_architecture_and_settings():
    """What sharded training rebuilds its gathered weights into: loading the weights reproduces the outputs."""
    config = Config()
    config.model.pose_guider.block_out_channels = (12, 24)  # not the part's default: settings must carry over
    config.model.interaction.mask_blur_radius = 2
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(config.model, sample_size=32).eval()
    _randomise(model)
    model.vae.register_to_config(scaling_factor=0.5)
    copy = model.new_like().eval()
    assert not torch.equal(copy.pose_guider.conv_in.weight, model.pose_guider.conv_in.weight)  # fresh weights
    assert copy.mask_blur_radius == 2 and copy.vae.config.scaling_factor == 0.5
    copy.load_state_dict(model.state_dict(), strict=True)
    batch = random_batch(2, NUM_FRAMES, 32, seed=3)
    assert torch.equal(_outputs(copy, batch), _outputs(model, batch))


def test_ablated_model_round_trips_without_absent_components(tmp_path):
    config = Config()
    config.model.interaction.enabled = False
    config.model.id_preserver.enabled = False
    model = InterAnimateModel.from_config(config.model, sample_size=32)
    model.save_pretrained(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt" / "interaction").exists()
    loaded = InterAnimateModel.from_pretrained(tmp_path / "ckpt")
    assert loaded.interaction is None and loaded.id_preserver is None


def test_loading_a_folder_that_is_not_a_checkpoint_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an InterAnimate model folder"):
        InterAnimateModel.from_pretrained(tmp_path)


@pytest.fixture(scope="module")
def sd_folders(tmp_path_factory):
    """Tiny SD-1.5-format (unet/, vae/) and AnimateDiff MotionAdapter folders written with ``save_pretrained``."""
    root = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(1)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1, attention_head_dim=4, cross_attention_dim=24, norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(8, 16, 16), layers_per_block=1,
        latent_channels=4, norm_num_groups=4, sample_size=32, scaling_factor=0.18215,
    )
    adapter = MotionAdapter(block_out_channels=(8, 16), motion_layers_per_block=1, motion_num_attention_heads=2,
                            motion_norm_num_groups=4, motion_max_seq_length=16)
    with torch.no_grad():
        for p in adapter.parameters():  # pretrained adapters are not zero
            p.normal_(0, 0.1)
    unet.save_pretrained(root / "sd15" / "unet")
    vae.save_pretrained(root / "sd15" / "vae")
    adapter.save_pretrained(root / "motion_adapter")
    return root, unet, vae, adapter


def test_sd15_path_loads_unet_vae_and_motion_adapter_from_local_folders(sd_folders):
    root, unet, vae, adapter = sd_folders
    config = Config().model
    config = dataclasses.replace(
        config,
        pretrained=PretrainedConfig(sd_path=str(root / "sd15"), motion_adapter_path=str(root / "motion_adapter"),
                                    required=True),
        pose_guider=dataclasses.replace(config.pose_guider, block_out_channels=(8, 16, 16)),
    )
    model = InterAnimateModel.from_config(config, sample_size=32)

    unet_state = unet.state_dict()
    ours = model.unet.state_dict()
    spatial = [k for k in unet_state if k in ours]
    assert len(spatial) == len(unet_state)  # every SD weight has its place in the motion UNet
    assert all(torch.equal(ours[k], unet_state[k]) for k in spatial)
    assert all(torch.equal(v, unet_state[k]) for k, v in model.reference_net.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(vae.state_dict().values(), model.vae.state_dict().values()))
    adapter_state = adapter.state_dict()
    motion = {k: v for k, v in ours.items() if ".motion_modules." in k}
    assert len(motion) == len(adapter_state)
    for key, value in motion.items():
        assert torch.equal(value, adapter_state[key]), key
    assert model.vae.config.scaling_factor == pytest.approx(0.18215)
    assert model.id_preserver.config.cross_attention_dim == 24

    # New modules start as no-ops on top of the pretrained ones.
    batch = random_batch(2, NUM_FRAMES, 32, seed=4)
    full = _outputs(model, batch)
    plain = _outputs(InterAnimateModel(model.vae, model.reference_net, model.unet, model.pose_guider), batch)
    assert full.shape == (2, 4, NUM_FRAMES, 8, 8)
    assert torch.equal(full, plain)


def test_sd15_path_rejects_a_pose_guider_that_does_not_match_the_vae(sd_folders):
    root = sd_folders[0]
    config = dataclasses.replace(Config().model, pretrained=PretrainedConfig(sd_path=str(root / "sd15")))
    with pytest.raises(ValueError, match="downsampling steps"):
        InterAnimateModel.from_config(config, sample_size=32)


def test_sd15_path_takes_the_composite_conditions(sd_folders):
    """``model.composite_conditions=true`` on the pretrained path: the SD weights load as without it, the composite
    channels enter through a zero-initialised convolution (a no-op until trained) and are read once it moves."""
    from interanimate.data.composite_pairs import NUM_COMPOSITE_CHANNELS

    root = sd_folders[0]
    config = Config().model
    config = dataclasses.replace(
        config, composite_conditions=True,
        pretrained=PretrainedConfig(sd_path=str(root / "sd15"), motion_adapter_path=str(root / "motion_adapter"),
                                    required=True),
        pose_guider=dataclasses.replace(config.pose_guider, block_out_channels=(8, 16, 16)),
    )
    model = InterAnimateModel.from_config(config, sample_size=32).eval()
    plain = InterAnimateModel.from_config(dataclasses.replace(config, composite_conditions=False), sample_size=32).eval()
    assert model.pose_guider.conv_in_composite is not None and plain.pose_guider.conv_in_composite is None
    assert not model.pose_guider.conv_in_composite.weight.any()
    # A trained pose guider (its zero-initialised output convolution moved), with the composite input still new.
    _randomise(model.pose_guider, seed=6)
    with torch.no_grad():
        model.pose_guider.conv_in_composite.weight.zero_()
        if model.pose_guider.conv_in_composite.bias is not None:
            model.pose_guider.conv_in_composite.bias.zero_()
    plain.pose_guider.load_state_dict({k: v for k, v in model.pose_guider.state_dict().items()
                                       if not k.startswith("conv_in_composite")})
    batch = random_batch(2, NUM_FRAMES, 32, seed=4)
    g = torch.Generator().manual_seed(5)
    b, _, f, h, w = batch["conditions"].shape
    composite = torch.cat([batch["conditions"], torch.rand(b, NUM_COMPOSITE_CHANNELS, f, h, w, generator=g)], 1)
    expected = _outputs(plain, batch)
    assert torch.equal(_outputs(model, {**batch, "conditions": composite}), expected)
    with torch.no_grad():
        model.pose_guider.conv_in_composite.weight.normal_(0, 0.5)
    assert not torch.allclose(_outputs(model, {**batch, "conditions": composite}), expected, atol=1e-4)


def test_the_sd15_benchmark_builds_sd15s_architecture(monkeypatch):
    """``benchmarks/bench_sd15.py`` times SD-1.5's shapes with random weights: its overrides build a UNet with
    SD-1.5's 859,520,964 parameters and a VAE with its 83,653,863, and the sd15 preset's pose guider on top."""
    import importlib
    from pathlib import Path

    from interanimate.training.config import load_config

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    bench = importlib.import_module("bench_sd15")
    config = load_config("sd15", bench.SD15_ARCHITECTURE)
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = InterAnimateModel.from_config(config.model, sample_size=config.data.resolution)
    spatial = sum(p.numel() for n, p in model.unet.named_parameters() if "motion_modules" not in n)
    assert spatial == 859_520_964
    assert sum(p.numel() for p in model.vae.parameters()) == 83_653_863
    assert model.unet.config.sample_size == 64 and model.latent_scale_factor == 8
