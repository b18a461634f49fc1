"""Region-aware Interaction System (arXiv 2504.10905 §3.2): learnable interaction latents and their attention layers.

``L_s ∈ R^{n×d}`` holds spatial interaction priors (contact appearance, contact-induced facial deformation);
``L_t ∈ R^{m×d}`` holds temporal priors (contact dynamics). Both are made dynamic per clip and frame by the
interaction pattern and the frame's pose features (FiLM: ``L̃ = L ⊙ (1 + γ(c)) + β(c)``, ``c = e_pattern +
P(pose_t)``), then read by interaction-attention layers placed in chosen UNet levels. Each layer's output is
scaled by a zero-initialised gate; the region mask is applied by the attention processor that calls the layer.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from einops import rearrange

from interanimate.models.attention_kernel import attention
from interanimate.models.attention_layers import (
    layer_key,
    spatial_self_attention_names,
    temporal_self_attention_names,
)
from interanimate.taxonomy import NUM_PATTERNS


class InteractionAttention(nn.Module):
    """Cross-attention from UNet tokens (``dim``) to interaction latents (``latent_dim``), output gated (init 0)."""

    def __init__(self, dim: int, latent_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(latent_dim, dim, bias=False)
        self.to_v = nn.Linear(latent_dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, hidden_states: torch.Tensor, latents: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        """``hidden_states (B, N, dim)``, ``latents (B / repeat, K, latent_dim)`` → ``(B, N, dim)``.

        ``repeat`` lets many query sequences (e.g. every spatial position of a temporal layer) share one latent
        set without materialising copies of it before the projections.
        """
        key = self.to_k(latents).repeat_interleave(repeat, dim=0)  # (B, K, dim)
        value = self.to_v(latents).repeat_interleave(repeat, dim=0)
        query = self.to_q(hidden_states)
        query, key, value = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in (query, key, value))
        out = attention(query, key, value)
        out = rearrange(out, "b h n d -> b n (h d)")
        return self.gate * self.to_out(out)


class LatentConditioner(nn.Module):
    """FiLM of a latent set by the pattern embedding and per-frame pose features; zero-init (identity at start)."""

    def __init__(self, latent_dim: int, pose_feature_dim: int, num_patterns: int):
        super().__init__()
        # Index 0 is "unlabelled" (pattern id -1); pattern k is at k + 1.
        self.pattern_embedding = nn.Embedding(num_patterns + 1, latent_dim)
        self.pose_proj = nn.Linear(pose_feature_dim, latent_dim)
        self.film = nn.Linear(latent_dim, 2 * latent_dim)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, latents: torch.Tensor, pattern_id: torch.Tensor, pose_features: torch.Tensor) -> torch.Tensor:
        """``latents (K, d)``, ``pattern_id (b,)``, ``pose_features (b, f, p)`` → ``(b, f, K, d)``."""
        cond = self.pattern_embedding(pattern_id + 1)[:, None] + self.pose_proj(pose_features)  # (b, f, d)
        scale, shift = self.film(F.silu(cond)).chunk(2, dim=-1)  # (b, f, d) each
        return latents * (1 + scale[:, :, None]) + shift[:, :, None]


class InteractionSystem(ModelMixin, ConfigMixin):
    """Spatial/temporal interaction latents, their conditioners and the interaction-attention layers.

    Args:
        num_spatial_latents: ``n``, rows of ``L_s``.
        num_temporal_latents: ``m``, rows of ``L_t``.
        latent_dim: ``d``.
        pose_feature_dim: width of the pose guider's pooled per-frame features.
        spatial_layers: UNet spatial self-attention layer names that read ``L_s``.
        spatial_dims: their channel widths.
        temporal_layers: motion-module self-attention layer names that read ``L_t``.
        temporal_dims: their channel widths.
        attention_head_dim: per-head width of the interaction attention.
        num_patterns: size of the pattern vocabulary (the taxonomy's 18); id ``-1`` means unlabelled.
    """

    @register_to_config
    def __init__(
        self,
        num_spatial_latents: int = 8,
        num_temporal_latents: int = 4,
        latent_dim: int = 16,
        pose_feature_dim: int = 16,
        spatial_layers: tuple[str, ...] = (),
        spatial_dims: tuple[int, ...] = (),
        temporal_layers: tuple[str, ...] = (),
        temporal_dims: tuple[int, ...] = (),
        attention_head_dim: int = 8,
        num_patterns: int = NUM_PATTERNS,
    ):
        super().__init__()
        if len(spatial_layers) != len(spatial_dims) or len(temporal_layers) != len(temporal_dims):
            raise ValueError("each interaction layer needs exactly one channel width")
        self.spatial_latents = nn.Parameter(torch.randn(num_spatial_latents, latent_dim))
        self.temporal_latents = nn.Parameter(torch.randn(num_temporal_latents, latent_dim))
        self.spatial_conditioner = LatentConditioner(latent_dim, pose_feature_dim, num_patterns)
        self.temporal_conditioner = LatentConditioner(latent_dim, pose_feature_dim, num_patterns)

        def heads(dim: int) -> int:
            return max(1, dim // attention_head_dim) if dim % attention_head_dim == 0 else 1

        self.spatial_attention = nn.ModuleDict(
            {layer_key(n): InteractionAttention(dim, latent_dim, heads(dim)) for n, dim in zip(spatial_layers, spatial_dims)}
        )
        self.temporal_attention = nn.ModuleDict(
            {layer_key(n): InteractionAttention(dim, latent_dim, heads(dim)) for n, dim in zip(temporal_layers, temporal_dims)}
        )

    @classmethod
    def for_unet(cls, unet: nn.Module, blocks: tuple[str, ...], **kwargs) -> "InteractionSystem":
        """Place interaction layers in every spatial/temporal self-attention under the given block prefixes."""
        modules = dict(unet.named_modules())

        def chosen(names: list[str]) -> list[str]:
            return [n for n in names if any(n == b or n.startswith(b + ".") for b in blocks)]

        spatial = chosen(spatial_self_attention_names(unet))
        temporal = chosen(temporal_self_attention_names(unet))
        if not spatial and not temporal:
            raise ValueError(f"interaction blocks {list(blocks)} contain no attention layers of this UNet")
        return cls(
            spatial_layers=tuple(spatial),
            spatial_dims=tuple(modules[n].to_q.in_features for n in spatial),
            temporal_layers=tuple(temporal),
            temporal_dims=tuple(modules[n].to_q.in_features for n in temporal),
            **kwargs,
        )

    def spatial_layer(self, name: str) -> InteractionAttention | None:
        key = layer_key(name)
        return self.spatial_attention[key] if key in self.spatial_attention else None

    def temporal_layer(self, name: str) -> InteractionAttention | None:
        key = layer_key(name)
        return self.temporal_attention[key] if key in self.temporal_attention else None

    def gates(self) -> list[nn.Parameter]:
        return [layer.gate for layer in (*self.spatial_attention.values(), *self.temporal_attention.values())]

    def forward(self, pattern_id: torch.Tensor, pose_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dynamic latents for one clip batch.

        Args:
            pattern_id: ``(b,)`` long, ``-1`` = unlabelled.
            pose_features: ``(b, f, pose_feature_dim)`` pooled pose-guider features per frame.

        Returns:
            spatial latents ``(b f, n, d)`` (each frame reads its own) and temporal latents ``(b, f m, d)`` (each
            frame sequence reads the latents of all frames, so they carry the clip's contact dynamics).
        """
        spatial = self.spatial_conditioner(self.spatial_latents, pattern_id, pose_features)  # (b, f, n, d)
        temporal = self.temporal_conditioner(self.temporal_latents, pattern_id, pose_features)  # (b, f, m, d)
        return rearrange(spatial, "b f n d -> (b f) n d"), rearrange(temporal, "b f m d -> b (f m) d")
