"""Attention processors that add InterAnimate's three attention paths to diffusers ``Attention`` layers.

- reference attention (Animate Anyone, arXiv 2311.17117 §3.2): the ReferenceNet's self-attention inputs are
  written to a per-call ``reference_bank``; the denoising UNet's spatial self-attention appends the matching
  layer's reference tokens to its keys and values;
- interaction attention (arXiv 2504.10905 §3.2): chosen spatial self-attention layers read the dynamic spatial
  latents ``L_s`` and chosen motion-module (temporal) self-attention layers read the temporal latents ``L_t``;
  the branch output is multiplied by the softened hand ∪ contact region mask and a zero-initialised gate;
- identity attention (IP-Adapter-style decoupled cross-attention): cross-attention layers add attention over
  identity tokens, weighted to the face region, with a zero-initialised gate.

Processors hold only their layer name. Everything that changes per call arrives through
``cross_attention_kwargs`` as one ``AttentionContext`` (or, for the ReferenceNet, a ``ReferenceBank`` that the
caller owns), so nothing is left on a module between calls and the parameters of the new branches live in their
own ``ModelMixin`` models (``InteractionSystem``, ``IDPreserver``), not inside the UNet's state dict.

The base attention computation repeats diffusers' ``AttnProcessor2_0`` operation for operation, so a processor
whose extra branches are inactive (or gated to zero) returns bit-identical outputs to the stock processor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from einops import rearrange

from interanimate.models.attention_kernel import attention
from interanimate.models.attention_layers import (  # noqa: F401 (re-exported: the processors' layer names)
    attention_names,
    cross_attention_names,
    is_temporal,
    layer_key,
    spatial_self_attention_names,
    temporal_self_attention_names,
)

if TYPE_CHECKING:
    from interanimate.models.id_preserver import IDPreserver
    from interanimate.models.interaction_system import InteractionSystem


def soften_mask(mask: torch.Tensor, size: tuple[int, int], blur_radius: int) -> torch.Tensor:
    """Area-downsample a soft mask ``(n, 1, H, W)`` to ``size`` and box-blur it with ``blur_radius``.

    Area averaging keeps a cell at exactly zero when none of its pixels is in the region, and the box blur
    widens the support by ``blur_radius`` cells only, so "outside the softened region" stays exactly zero.
    """
    if tuple(mask.shape[-2:]) != tuple(size):
        mask = F.adaptive_avg_pool2d(mask, size)
    if blur_radius > 0:
        k = 2 * blur_radius + 1
        mask = F.avg_pool2d(mask, k, stride=1, padding=blur_radius, count_include_pad=False)
    return mask.clamp(0.0, 1.0)


@dataclass
class AttentionContext:
    """Per-call inputs for the processors. Build a new one for every UNet call; it is never stored on a module.

    Args:
        batch_size: ``b``; the UNet runs frames folded into the batch, ``(b f)``.
        num_frames: ``f``.
        latent_size: ``(H, W)`` of the latents entering the UNet; used to recover each level's spatial size.
        reference_features: ReferenceNet self-attention inputs by layer name, each ``(b, n_ref, c)``.
        reference_keep: ``(b,)`` bool; ``False`` hides the reference from that sample (condition dropout / CFG).
        interaction: the ``InteractionSystem`` whose layers the interaction processors call.
        spatial_latents: dynamic ``L_s`` per frame, ``(b f, n, d)``.
        temporal_latents: dynamic ``L_t`` for the clip, ``(b, f m, d)``.
        region_mask: soft hand ∪ contact mask at latent resolution, ``(b, f, H, W)``; ``None`` = act everywhere.
        id_preserver: the ``IDPreserver`` whose layers the identity processors call.
        identity_tokens: ``(b, T, cross_attention_dim)``.
        identity_weight: face weighting at latent resolution ``(b, f, H, W)``, already multiplied by "identity
            present"; ``None`` = weight 1 everywhere.
        mask_blur_radius: see ``soften_mask``.
        reference_kv: the reference tokens already projected by each layer's ``to_k`` and ``to_v``, by layer name,
            each ``((b, n_ref, inner), (b, n_ref, inner))`` (``InterAnimateModel.reference_keys_values``): they do
            not change across steps, so a sampler projects them once per clip; ``None`` projects them in every call.
        single_key_shortcut: attention over a single key (the cross-attention's one context token) returns that
            key's value without computing the softmax, which over one key is exactly 1.
    """

    batch_size: int
    num_frames: int
    latent_size: tuple[int, int]
    reference_features: dict[str, torch.Tensor] | None = None
    reference_keep: torch.Tensor | None = None
    interaction: InteractionSystem | None = None
    spatial_latents: torch.Tensor | None = None
    temporal_latents: torch.Tensor | None = None
    region_mask: torch.Tensor | None = None
    id_preserver: IDPreserver | None = None
    identity_tokens: torch.Tensor | None = None
    identity_weight: torch.Tensor | None = None
    mask_blur_radius: int = 1
    reference_kv: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
    single_key_shortcut: bool = False
    _cache: dict = field(default_factory=dict, repr=False)

    def level_size(self, num_tokens: int) -> tuple[int, int]:
        """Spatial size of the UNet level whose feature map has ``num_tokens`` positions."""
        height, width = self.latent_size
        for level in range(12):
            h, w = -(-height // 2**level), -(-width // 2**level)  # stride-2 convs round up
            if h * w == num_tokens:
                return h, w
        raise ValueError(f"no UNet level of a {height}x{width} latent has {num_tokens} positions")

    def _level_mask(self, which: str, mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        key = (which, size)
        if key not in self._cache:
            flat = rearrange(mask, "b f h w -> (b f) 1 h w")
            self._cache[key] = soften_mask(flat, size, self.mask_blur_radius)  # (b f, 1, h, w)
        return self._cache[key]

    def spatial_mask(self, which: str, num_tokens: int) -> torch.Tensor | None:
        """Mask for spatial tokens ``(b f, h w, 1)``; ``which`` is ``"region"`` or ``"identity"``."""
        mask = self.region_mask if which == "region" else self.identity_weight
        if mask is None:
            return None
        level = self._level_mask(which, mask, self.level_size(num_tokens))
        return rearrange(level, "bf 1 h w -> bf (h w) 1")

    def temporal_mask(self, which: str, num_sequences: int) -> torch.Tensor | None:
        """Mask for temporal tokens ``(b h w, f, 1)``."""
        mask = self.region_mask if which == "region" else self.identity_weight
        if mask is None:
            return None
        h, w = self.level_size(num_sequences // self.batch_size)
        level = self._level_mask(which, mask, (h, w))
        return rearrange(level, "(b f) 1 h w -> (b h w) f 1", f=self.num_frames)


# ----------------------------------------------------------------------------------------- shared attention


def _attend(attn: Attention, query_states: torch.Tensor, key_value_states: torch.Tensor,
            attention_mask: torch.Tensor | None = None, single_key_shortcut: bool = False) -> torch.Tensor:
    """Multi-head attention up to (not including) the output projection; same op order as AttnProcessor2_0.

    With ``single_key_shortcut`` and one key, every query's output is that key's value (softmax over one key is
    exactly 1), returned as a broadcast view ``(b, n, inner)``.
    """
    if (single_key_shortcut and key_value_states.shape[1] == 1 and attention_mask is None
            and attn.norm_k is None):
        value = attn.to_v(key_value_states)  # (b, 1, inner)
        return value.expand(query_states.shape[0], query_states.shape[1], value.shape[-1])
    return _attend_projected(attn, attn.to_q(query_states), attn.to_k(key_value_states), attn.to_v(key_value_states),
                             attention_mask)


def _attend_projected(attn: Attention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``_attend`` from projected ``query (b, n, inner)`` and ``key``, ``value (b, m, inner)``."""
    batch_size = query.shape[0]
    head_dim = key.shape[-1] // attn.heads
    query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
    key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
    value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    out = attention(query, key, value, attn_mask=attention_mask)
    return out.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim).to(query.dtype)


def _with_shared_tokens(own: torch.Tensor, shared: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``[own; shared]`` along the tokens: ``own (b f, n, c)``, ``shared (b, m, c)`` read by all ``f`` frames of its
    sample → ``(b f, n + m, c)``, in one copy (no per-frame repeat of ``shared`` first)."""
    rows, tokens, channels = own.shape
    own = own.view(rows // num_frames, num_frames, tokens, channels)
    shared = shared[:, None].expand(-1, num_frames, -1, -1)
    return torch.cat([own, shared.to(own.dtype)], dim=2).view(rows, -1, channels)


def _project_out(attn: Attention, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
    if attn.residual_connection:
        hidden_states = hidden_states + residual
    return hidden_states / attn.rescale_output_factor


def _check_input(attn: Attention, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
    if hidden_states.ndim != 3 or attn.spatial_norm is not None or attn.group_norm is not None:
        raise ValueError("InterAnimate processors expect transformer-block attention on (batch, tokens, channels)")
    if attention_mask is not None:
        raise ValueError("InterAnimate processors do not take a UNet attention_mask; use AttentionContext")


# --------------------------------------------------------------------------------------------- processors


class ReferenceBank:
    """The ReferenceNet's recorded self-attention inputs, ``features[layer name] = (b, h w, c)``.

    An object of its own rather than a dict: wrappers that rebuild plain containers found in a module's inputs (FSDP's
    forward hooks do) pass it on as the same object, so what the layers record reaches the caller.
    """

    def __init__(self):
        self.features: dict[str, torch.Tensor] = {}


class LayerProcessor:
    """A processor installed on one named attention layer; the name selects the layer's own parts (its reference
    features, interaction and identity branches)."""

    def __init__(self, name: str):
        self.name = name


class ReferenceWriteProcessor(LayerProcessor):
    """ReferenceNet self-attention: plain attention that also records its input in the caller's ``reference_bank``."""

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, reference_bank: ReferenceBank | None = None):
        _check_input(attn, hidden_states, attention_mask)
        if reference_bank is not None:
            reference_bank.features[self.name] = hidden_states  # (b, h w, c)
        return _project_out(attn, _attend(attn, hidden_states, hidden_states), hidden_states)


class SpatialSelfAttnProcessor(LayerProcessor):
    """Denoising-UNet spatial self-attention: reference attention, plus interaction attention over ``L_s``.

    Keys/values are ``[x; r]`` where ``r`` is the ReferenceNet's matching-layer input for the clip's reference,
    shared by every frame. The interaction branch is ``gate · M · Attn(x, L̃_s)`` (arXiv 2504.10905 §3.2) with
    ``M`` the softened region mask at this level.
    """

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, attention_context: AttentionContext | None = None):
        _check_input(attn, hidden_states, attention_mask)
        ctx = attention_context
        if ctx is not None and ctx.reference_features is not None:
            attended = self._with_reference(attn, hidden_states, ctx)
        else:
            attended = _attend(attn, hidden_states, hidden_states)
        out = _project_out(attn, attended, hidden_states)
        if ctx is not None and ctx.interaction is not None and ctx.spatial_latents is not None:
            layer = ctx.interaction.spatial_layer(self.name)
            if layer is not None:
                branch = layer(hidden_states, ctx.spatial_latents)  # (b f, h w, c), gate applied
                region = ctx.spatial_mask("region", hidden_states.shape[1])
                out = out + (branch if region is None else branch * region)
        return out


    def _with_reference(self, attn: Attention, hidden_states: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """Attention over ``[x; r]``; the frames of samples whose reference is hidden attend over ``x`` alone.

        Those samples are attended separately rather than through a key mask: the same result (masked keys carry
        zero weight) at half the keys, and a masked kernel is slower than an unmasked one on CPU.
        """
        keep = ctx.reference_keep
        if keep is not None and not bool(keep.any()):
            return _attend(attn, hidden_states, hidden_states)
        if keep is None or bool(keep.all()):
            return self._attend_reference(attn, hidden_states, ctx, None)
        rows = keep.repeat_interleave(ctx.num_frames)  # (b f,)
        hidden = hidden_states[~rows]
        dropped = _attend(attn, hidden, hidden)
        out = dropped.new_empty(hidden_states.shape[0], *dropped.shape[1:])
        out[~rows] = dropped
        out[rows] = self._attend_reference(attn, hidden_states[rows], ctx, keep)
        return out

    def _attend_reference(self, attn: Attention, hidden_states: torch.Tensor, ctx: AttentionContext,
                          samples: torch.Tensor | None) -> torch.Tensor:
        """Attention over ``[x; r]`` for the frames of ``samples`` (``(b,)`` bool; ``None``: all samples), whose rows
        ``hidden_states`` are."""
        num_frames = ctx.num_frames
        projected = None if ctx.reference_kv is None else ctx.reference_kv.get(self.name)
        if projected is None:
            reference = ctx.reference_features[self.name]  # (b, n_ref, c): every frame reads the same tokens
            if samples is not None:
                reference = reference[samples]
            return _attend(attn, hidden_states, _with_shared_tokens(hidden_states, reference, num_frames))
        reference_key, reference_value = projected
        if samples is not None:
            reference_key, reference_value = reference_key[samples], reference_value[samples]
        key = _with_shared_tokens(attn.to_k(hidden_states), reference_key, num_frames)
        value = _with_shared_tokens(attn.to_v(hidden_states), reference_value, num_frames)
        return _attend_projected(attn, attn.to_q(hidden_states), key, value)


class TemporalSelfAttnProcessor(LayerProcessor):
    """Motion-module self-attention over frames, plus interaction attention over ``L_t``.

    Hidden states are ``(b h w, f, c)``; every spatial position's frame sequence reads the clip's dynamic temporal
    latents ``(b, f m, d)``; the branch is masked per position and frame.
    """

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, attention_context: AttentionContext | None = None):
        _check_input(attn, hidden_states, attention_mask)
        ctx = attention_context
        out = _project_out(attn, _attend(attn, hidden_states, hidden_states), hidden_states)
        if ctx is not None and ctx.interaction is not None and ctx.temporal_latents is not None:
            layer = ctx.interaction.temporal_layer(self.name)
            if layer is not None:
                positions = hidden_states.shape[0] // ctx.batch_size
                branch = layer(hidden_states, ctx.temporal_latents, repeat=positions)  # (b h w, f, c)
                region = ctx.temporal_mask("region", hidden_states.shape[0])
                out = out + (branch if region is None else branch * region)
        return out


class IdentityCrossAttnProcessor(LayerProcessor):
    """Cross-attention plus decoupled identity attention: ``Attn(x, c) + gate · W_face · Attn(x, id_tokens)``."""

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, attention_context: AttentionContext | None = None):
        _check_input(attn, hidden_states, attention_mask)
        ctx = attention_context
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        out = _attend(attn, hidden_states, context, single_key_shortcut=ctx is not None and ctx.single_key_shortcut)
        if ctx is not None and ctx.id_preserver is not None and ctx.identity_tokens is not None:
            layer = ctx.id_preserver.layer(self.name)
            if layer is not None:
                tokens = ctx.identity_tokens.repeat_interleave(ctx.num_frames, dim=0)  # (b f, T, c_cross)
                branch = layer(attn, hidden_states, tokens)  # (b f, h w, inner), gate applied
                weight = ctx.spatial_mask("identity", hidden_states.shape[1])
                out = out + (branch if weight is None else branch * weight)
        return _project_out_broadcast(attn, out, hidden_states)


def _project_out_broadcast(attn: Attention, attended: torch.Tensor, hidden_states: torch.Tensor) -> torch.Tensor:
    """``_project_out`` that projects a broadcast (single-key) result once per sample, not once per query."""
    if not attn.residual_connection and attended.dim() == 3 and attended.shape[1] > 1 and attended.stride(1) == 0:
        return _project_out(attn, attended[:, :1], hidden_states[:, :1]).expand(*hidden_states.shape[:2], -1)
    return _project_out(attn, attended, hidden_states)


class PlainAttnProcessor:
    """Stock attention that accepts (and ignores) the InterAnimate context, so no layer warns about it."""

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, attention_context: AttentionContext | None = None,
                 reference_bank: ReferenceBank | None = None):
        _check_input(attn, hidden_states, attention_mask)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        shortcut = attention_context is not None and attention_context.single_key_shortcut
        return _project_out_broadcast(attn, _attend(attn, hidden_states, context, single_key_shortcut=shortcut),
                                      hidden_states)


# ----------------------------------------------------------------------------------------------- installing


def install_reference_processors(reference_net: torch.nn.Module) -> None:
    """ReferenceNet: spatial self-attention records into ``reference_bank``; other layers stay plain."""
    processors = {}
    for name in attention_names(reference_net):
        processors[name + ".processor"] = (
            ReferenceWriteProcessor(name) if name.endswith(".attn1") else PlainAttnProcessor()
        )
    reference_net.set_attn_processor(processors)


def install_unet_processors(unet: torch.nn.Module) -> None:
    """Denoising UNet: every spatial self-attention, motion self-attention and cross-attention gets its processor.

    The processors decide per call (from the ``AttentionContext``) which branches run, so installing them is
    done once, at construction, and the same UNet serves the plain and the full model.
    """
    processors = {}
    for name in attention_names(unet):
        if name.endswith(".attn1"):
            proc = TemporalSelfAttnProcessor(name) if is_temporal(name) else SpatialSelfAttnProcessor(name)
        elif name.endswith(".attn2") and not is_temporal(name):
            proc = IdentityCrossAttnProcessor(name)
        else:
            proc = PlainAttnProcessor()
        processors[name + ".processor"] = proc
    unet.set_attn_processor(processors)


class InstallsProcessors:
    """Mixin for a diffusers model class with InterAnimate's processors: ``from_config`` and ``from_pretrained``
    install them (with the class's ``install_processors``) on every model they build or load."""

    @staticmethod
    def install_processors(model: torch.nn.Module) -> None:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config=None, **kwargs):
        model = super().from_config(config, **kwargs)
        cls.install_processors(model[0] if isinstance(model, tuple) else model)  # a tuple: return_unused_kwargs
        return model

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        cls.install_processors(model)
        return model
