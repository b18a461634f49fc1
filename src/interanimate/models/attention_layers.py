"""Names of a UNet's attention layers, by kind, and their keys in a ``ModuleDict``.

The attention processors, the interaction system and the ID preserver all address layers by these names, so
they live below all three.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention


def layer_key(name: str) -> str:
    """A UNet module path (``down_blocks.0.attentions.0.transformer_blocks.0.attn1``) as a ``ModuleDict`` key."""
    return name.replace(".", "__")


def attention_names(model: torch.nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, Attention)]


def is_temporal(name: str) -> bool:
    return ".motion_modules." in name


def spatial_self_attention_names(model: torch.nn.Module) -> list[str]:
    return [n for n in attention_names(model) if n.endswith(".attn1") and not is_temporal(n)]


def temporal_self_attention_names(model: torch.nn.Module) -> list[str]:
    return [n for n in attention_names(model) if n.endswith(".attn1") and is_temporal(n)]


def cross_attention_names(model: torch.nn.Module) -> list[str]:
    return [n for n in attention_names(model) if n.endswith(".attn2") and not is_temporal(n)]
