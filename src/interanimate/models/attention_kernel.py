"""The one scaled-dot-product attention call every InterAnimate attention path goes through.

Under bf16 autocast, ``float32_attention()`` keeps the attention kernel itself in float32 while the projections
around it (linear layers, convolutions) run in bf16. On CPU this is the faster split at the presets' head sizes
(4–8 channels per head): bf16 halves the cost of the projections and convolutions but torch's CPU attention kernel
is slower in bf16 than in float32 there (docs/benchmarks.md). The switch is a context variable, like
``torch.autocast`` itself, so nothing is stored on a module.
"""

from __future__ import annotations

import contextlib
import contextvars

import torch
import torch.nn.functional as F

_FLOAT32_ATTENTION = contextvars.ContextVar("interanimate_float32_attention", default=False)


@contextlib.contextmanager
def float32_attention(enabled: bool = True):
    """Within this block, ``attention`` computes in float32 whatever the autocast dtype (outputs keep the queries'
    dtype, so the layers after it see what they would under autocast)."""
    token = _FLOAT32_ATTENTION.set(bool(enabled))
    try:
        yield
    finally:
        _FLOAT32_ATTENTION.reset(token)


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` on ``(b, heads, n, d)`` tensors (no dropout, not causal); in float32 inside
    ``float32_attention()``."""
    if _FLOAT32_ATTENTION.get() and (query.dtype != torch.float32 or torch.is_autocast_enabled(query.device.type)):
        dtype = query.dtype
        with torch.autocast(query.device.type, enabled=False):
            out = F.scaled_dot_product_attention(query.float(), key.float(), value.float(),
                                                 attn_mask=None if attn_mask is None else attn_mask.float()
                                                 if attn_mask.is_floating_point() else attn_mask)
        return out.to(dtype)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask)
