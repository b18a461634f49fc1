"""The VAE: diffusers ``AutoencoderKL``, built small from a config (from-scratch presets) or loaded from a local folder."""

from __future__ import annotations

from pathlib import Path

from diffusers import AutoencoderKL

from interanimate.errors import MissingInputError


def build_vae(block_out_channels: tuple[int, ...] = (32, 64), layers_per_block: int = 1, latent_channels: int = 4,
              norm_num_groups: int = 8, scaling_factor: float = 1.0, sample_size: int = 32) -> AutoencoderKL:
    """A small ``AutoencoderKL`` with ``len(block_out_channels) - 1`` downsampling steps, trained in stage 0."""
    n = len(block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        latent_channels=latent_channels,
        norm_num_groups=norm_num_groups,
        sample_size=sample_size,
        scaling_factor=scaling_factor,
    )


def load_vae(path: str | Path, subfolder: str | None = None) -> AutoencoderKL:
    """Load a diffusers-format VAE from a local folder (never from the hub; safetensors only)."""
    path = Path(path)
    folder = path / subfolder if subfolder else path
    if not (folder / "config.json").is_file():
        raise MissingInputError(f"no diffusers VAE at {folder} (expected config.json and weights saved with save_pretrained)")
    return AutoencoderKL.from_pretrained(path, subfolder=subfolder, local_files_only=True, use_safetensors=True)


def vae_scale_factor(vae: AutoencoderKL) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)
