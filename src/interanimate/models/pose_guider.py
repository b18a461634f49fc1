"""PoseGuider (Animate Anyone, arXiv 2311.17117 §3.2): a small conv encoder of the per-frame condition maps.

It maps the condition maps (hand skeleton, face contours, region masks) from pixel resolution to the latent
resolution and to the width of the UNet's first level; the output is added to the UNet's ``conv_in`` features of
the noisy latents. The last convolution is zero-initialised, so an untrained guider leaves the UNet unchanged.
It also returns pooled pre-output features per frame, which make the interaction latents pose-dependent.

With ``composite_channels`` (``data.composite_pairs``: a composite frame and its hand and contact regions, read after
the condition maps) a second input convolution reads them; it is zero-initialised, so a guider that gains it reads the
condition maps exactly as before until training changes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from einops import rearrange

from interanimate.data.conditions import NUM_CONDITION_CHANNELS


@dataclass
class PoseGuiderOutput(BaseOutput):
    """``embedding (b, c_out, f, h, w)`` to add to the UNet input features; ``features (b, f, c_last)`` pooled."""

    embedding: torch.Tensor
    features: torch.Tensor


class PoseGuider(ModelMixin, ConfigMixin):
    """Conv encoder with one stride-2 conv per VAE downsampling step.

    Args:
        conditioning_channels: channels of the condition maps (``NUM_CONDITION_CHANNELS``).
        block_out_channels: widths of the encoder stages; ``len - 1`` stride-2 steps, so set
            ``len(block_out_channels) = log2(vae_scale_factor) + 1``.
        embedding_channels: output width, the UNet's ``block_out_channels[0]``.
        composite_channels: extra input channels after the condition maps (0: none; ``NUM_COMPOSITE_CHANNELS``
            for render-then-refine models).
    """

    @register_to_config
    def __init__(
        self,
        conditioning_channels: int = NUM_CONDITION_CHANNELS,
        block_out_channels: tuple[int, ...] = (16, 32),
        embedding_channels: int = 8,
        composite_channels: int = 0,
    ):
        super().__init__()
        self.conv_in = nn.Conv2d(conditioning_channels, block_out_channels[0], 3, padding=1)
        self.conv_in_composite = None
        if composite_channels:
            self.conv_in_composite = nn.Conv2d(composite_channels, block_out_channels[0], 3, padding=1)
            nn.init.zeros_(self.conv_in_composite.weight)
            nn.init.zeros_(self.conv_in_composite.bias)
        self.blocks = nn.ModuleList()
        for c_in, c_out in zip(block_out_channels[:-1], block_out_channels[1:]):
            self.blocks.append(nn.Conv2d(c_in, c_in, 3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, 3, padding=1, stride=2))
        self.conv_out = nn.Conv2d(block_out_channels[-1], embedding_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def feature_dim(self) -> int:
        return self.config.block_out_channels[-1]

    @property
    def input_channels(self) -> int:
        """Channels ``forward`` expects: the condition maps, then the composite channels if any."""
        return int(self.config.conditioning_channels) + int(self.config.composite_channels)

    def forward(self, conditions: torch.Tensor) -> PoseGuiderOutput:
        """``conditions (b, C, f, H, W)`` (maps in [0, 1], then any composite channels) → embedding
        ``(b, c, f, H / 2^k, W / 2^k)`` and pooled features."""
        num_frames = conditions.shape[2]
        if conditions.shape[1] != self.input_channels:
            raise ValueError(f"the pose guider reads {self.input_channels} condition channels "
                             f"({self.config.composite_channels} of them composite), got {conditions.shape[1]}")
        x = rearrange(conditions, "b c f h w -> (b f) c h w").to(self.conv_in.weight.dtype)
        maps = int(self.config.conditioning_channels)
        h = self.conv_in(x[:, :maps])
        if self.conv_in_composite is not None:
            h = h + self.conv_in_composite(x[:, maps:])
        x = F.silu(h)
        for block in self.blocks:
            x = F.silu(block(x))
        features = rearrange(x.mean(dim=(2, 3)), "(b f) c -> b f c", f=num_frames)
        embedding = rearrange(self.conv_out(x), "(b f) c h w -> b c f h w", f=num_frames)
        return PoseGuiderOutput(embedding=embedding, features=features)
