"""ID Preserver (arXiv 2504.10905 §3.3): identity embedding → a few tokens → decoupled cross-attention.

The embedding is a face-recognition descriptor (dlib 128-d offline, ArcFace 512-d from a local ONNX file). It is
projected to ``num_tokens`` tokens of the UNet's cross-attention width; every UNet cross-attention layer gets its
own key/value projections for those tokens (decoupled cross-attention, as in IP-Adapter, arXiv 2308.06721) and a
zero-initialised gate. The identity processor weights the branch to the face region.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_utils import ModelMixin

from interanimate.models.attention_kernel import attention
from interanimate.models.attention_layers import cross_attention_names, layer_key


class IdentityAttention(nn.Module):
    """Keys/values for identity tokens in one cross-attention layer; queries are the layer's own ``to_q``."""

    def __init__(self, cross_attention_dim: int, inner_dim: int):
        super().__init__()
        self.to_k = nn.Linear(cross_attention_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(cross_attention_dim, inner_dim, bias=False)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, attn: Attention, hidden_states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``hidden_states (B, N, c)``, ``tokens (B, T, cross)`` → ``(B, N, inner)`` before ``attn.to_out``."""
        batch_size = hidden_states.shape[0]
        query = attn.to_q(hidden_states)
        key, value = self.to_k(tokens), self.to_v(tokens)
        head_dim = query.shape[-1] // attn.heads
        query, key, value = (t.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2) for t in (query, key, value))
        out = attention(query, key, value)
        return self.gate * out.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim)


class IDPreserver(ModelMixin, ConfigMixin):
    """Identity tokens and per-layer decoupled cross-attention projections.

    Args:
        embedding_dim: width of the identity embedding (128 for dlib, 512 for ArcFace).
        num_tokens: number of identity tokens.
        cross_attention_dim: the UNet's cross-attention width.
        layers: names of the UNet cross-attention layers that get an identity branch.
        inner_dims: their attention widths.
    """

    @register_to_config
    def __init__(
        self,
        embedding_dim: int = 128,
        num_tokens: int = 4,
        cross_attention_dim: int = 16,
        layers: tuple[str, ...] = (),
        inner_dims: tuple[int, ...] = (),
    ):
        super().__init__()
        if len(layers) != len(inner_dims):
            raise ValueError("each identity layer needs exactly one attention width")
        self.proj = nn.Sequential(
            nn.Linear(embedding_dim, embedding_dim * 2),
            nn.GELU(),
            nn.Linear(embedding_dim * 2, num_tokens * cross_attention_dim),
        )
        self.norm = nn.LayerNorm(cross_attention_dim)
        self.attention = nn.ModuleDict(
            {layer_key(n): IdentityAttention(cross_attention_dim, dim) for n, dim in zip(layers, inner_dims)}
        )

    @classmethod
    def for_unet(cls, unet: nn.Module, **kwargs) -> "IDPreserver":
        modules = dict(unet.named_modules())
        names = cross_attention_names(unet)
        return cls(
            cross_attention_dim=unet.config.cross_attention_dim,
            layers=tuple(names),
            inner_dims=tuple(modules[n].to_q.out_features for n in names),
            **kwargs,
        )

    def layer(self, name: str) -> IdentityAttention | None:
        key = layer_key(name)
        return self.attention[key] if key in self.attention else None

    def gates(self) -> list[nn.Parameter]:
        return [layer.gate for layer in self.attention.values()]

    def forward(self, identity_embedding: torch.Tensor) -> torch.Tensor:
        """``(b, embedding_dim)`` → identity tokens ``(b, num_tokens, cross_attention_dim)``.

        The embedding is L2-normalised first: face-recognition descriptors are compared by angle, and their raw
        norm differs between dlib and ArcFace.
        """
        embedding = F.normalize(identity_embedding.to(self.proj[0].weight.dtype), dim=-1)
        tokens = self.proj(embedding).view(embedding.shape[0], self.config.num_tokens, -1)
        return self.norm(tokens)
