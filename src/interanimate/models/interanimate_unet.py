"""Denoising UNet: SD-style 2-D UNet + AnimateDiff motion modules (arXiv 2307.04725), with InterAnimate inputs.

It is a ``UNetMotionModel`` (same parameters, same config, so ``from_unet2d(sd_unet, motion_adapter)`` loads an
SD-1.5 UNet and an AnimateDiff motion adapter unchanged) with its own forward pass that

- adds the PoseGuider embedding to the ``conv_in`` features of the noisy latents (Animate Anyone §3.2);
- hands the per-call ``AttentionContext`` to every attention layer, motion modules included (diffusers' motion
  blocks do not forward ``cross_attention_kwargs`` to their motion modules);
- can skip the motion modules, for the image stage where the spatial UNet trains on single frames.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.utils import logging as diffusers_logging
from einops import rearrange
from torch.utils.checkpoint import checkpoint

from interanimate.models.attention_processors import AttentionContext, InstallsProcessors, install_unet_processors


class InterAnimateUNet(InstallsProcessors, UNetMotionModel):
    """Constructor arguments are those of ``UNetMotionModel``; build with ``from_config``, ``from_pretrained`` or
    ``from_unet2d`` (these install InterAnimate's attention processors)."""

    install_processors = staticmethod(install_unet_processors)

    @classmethod
    def from_unet2d(cls, unet: UNet2DConditionModel, motion_adapter: MotionAdapter | None = None,
                    load_weights: bool = True) -> "InterAnimateUNet":
        level = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # silence the dtype-cast notice of a same-dtype .to()
        try:
            model = super().from_unet2d(unet, motion_adapter, load_weights=load_weights)
        finally:
            diffusers_logging.set_verbosity(level)
        install_unet_processors(model)
        return model

    def temporal_modules(self) -> list[nn.Module]:
        blocks = [*self.down_blocks, self.mid_block, *self.up_blocks]
        return [m for block in blocks for m in getattr(block, "motion_modules", [])]

    def zero_init_motion_modules(self) -> None:
        """Zero the output projection of every new motion module, so inserting them is the identity (AnimateDiff)."""
        for module in self.temporal_modules():
            nn.init.zeros_(module.proj_out.weight)
            nn.init.zeros_(module.proj_out.bias)

    # ------------------------------------------------------------------------------------------------ forward

    def _layer(self, resnet, attention, motion, hidden_states, temb, encoder_hidden_states, num_frames,
               kwargs, use_motion):
        hidden_states = resnet(hidden_states, temb)
        if attention is not None:
            hidden_states = attention(hidden_states, encoder_hidden_states=encoder_hidden_states,
                                      cross_attention_kwargs=kwargs, return_dict=False)[0]
        if motion is not None and use_motion:
            hidden_states = motion(hidden_states, num_frames=num_frames, cross_attention_kwargs=kwargs)
        return hidden_states

    def _run_layer(self, *args):
        if torch.is_grad_enabled() and self.is_gradient_checkpointing:
            return checkpoint(self._layer, *args, use_reentrant=False)
        return self._layer(*args)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        encoder_hidden_states: torch.Tensor,
        pose_embedding: torch.Tensor | None = None,
        attention_context: AttentionContext | None = None,
        use_motion_modules: bool = True,
        feature_cache: dict | None = None,
    ) -> torch.Tensor:
        """Predict the noise (or v) for a clip.

        Args:
            sample: noisy latents ``(b, c, f, h, w)``.
            timestep: ``(b,)`` or a scalar.
            encoder_hidden_states: cross-attention context ``(b, T, cross_attention_dim)``, shared by the frames.
            pose_embedding: PoseGuider output ``(b, block_out_channels[0], f, h, w)``.
            attention_context: per-call inputs of the attention processors.
            use_motion_modules: ``False`` skips the temporal layers (image stage).
            feature_cache: deep-feature reuse between sampling steps (DeepCache, Ma et al. 2023, arXiv 2312.00858):
                an empty dict runs the whole UNet and stores, under ``"deep"``, the features that enter the last up
                block; a dict holding them runs only the shallow path (``conv_in``, the first down block's layers and
                the last up block) on the stored deep features. ``None``: the whole UNet, nothing stored. A
                ``"shallow_layers": r`` entry sets the cache depth: the reuse path re-runs only the last ``r`` layers
                of the last up block (default all of them), so the features stored are those entering its layer
                ``n − r``; a smaller ``r`` skips more of the full-resolution level, which needs only ``conv_in`` and
                the first ``r − 1`` layers of the first down block for its skip connections.

        Returns:
            ``(b, out_channels, f, h, w)``.
        """
        batch_size, _, num_frames, height, width = sample.shape
        timesteps = torch.as_tensor(timestep, device=sample.device)
        timesteps = timesteps.reshape(-1).expand(batch_size)
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype=self.dtype))
        emb = emb.repeat_interleave(num_frames, dim=0)  # (b f, c_t)
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(num_frames, dim=0)  # (b f, T, c)
        kwargs = {"attention_context": attention_context}

        # (b, c, f, h, w) -> (b f, c, h, w): frames are folded into the batch for the 2-D layers.
        hidden_states = self.conv_in(rearrange(sample, "b c f h w -> (b f) c h w"))
        if pose_embedding is not None:
            hidden_states = hidden_states + rearrange(pose_embedding, "b c f h w -> (b f) c h w")

        skips = [hidden_states]
        def run_block_layers(block, hidden_states, limit=None):  # a down block's layers (the first `limit`), skips kept
            attentions = getattr(block, "attentions", None)
            for i, resnet in enumerate(block.resnets[:limit]):
                hidden_states = self._run_layer(
                    resnet, attentions[i] if attentions is not None else None, block.motion_modules[i],
                    hidden_states, emb, encoder_hidden_states, num_frames, kwargs, use_motion_modules)
                skips.append(hidden_states)
            return hidden_states

        last_layers = len(self.up_blocks[-1].resnets)
        shallow = last_layers if feature_cache is None else int(feature_cache.get("shallow_layers", last_layers))
        if not 1 <= shallow <= last_layers:
            raise ValueError(f"shallow_layers must be between 1 and the last up block's {last_layers} layers, "
                             f"got {shallow}")
        if feature_cache is not None and "deep" in feature_cache:
            # The last `shallow` layers of the last up block pop the first `shallow` skips: conv_in's output and the
            # outputs of the first down block's first `shallow - 1` layers.
            run_block_layers(self.down_blocks[0], hidden_states, limit=shallow - 1)
            return self._last_up_block(feature_cache["deep"], skips, emb, encoder_hidden_states, num_frames, kwargs,
                                       use_motion_modules, start=last_layers - shallow)
        for block in self.down_blocks:
            hidden_states = run_block_layers(block, hidden_states)
            if block.downsamplers is not None:
                for downsampler in block.downsamplers:
                    hidden_states = downsampler(hidden_states)
                skips.append(hidden_states)

        mid = self.mid_block
        hidden_states = mid.resnets[0](hidden_states, emb)
        mid_motion = getattr(mid, "motion_modules", [None] * len(mid.attentions))
        for attention, resnet, motion in zip(mid.attentions, mid.resnets[1:], mid_motion):
            hidden_states = attention(hidden_states, encoder_hidden_states=encoder_hidden_states,
                                      cross_attention_kwargs=kwargs, return_dict=False)[0]
            if motion is not None and use_motion_modules:
                hidden_states = motion(hidden_states, num_frames=num_frames, cross_attention_kwargs=kwargs)
            hidden_states = resnet(hidden_states, emb)

        for block in self.up_blocks[:-1]:
            hidden_states = self._up_block(block, hidden_states, skips, emb, encoder_hidden_states, num_frames,
                                           kwargs, use_motion_modules)
        return self._last_up_block(hidden_states, skips, emb, encoder_hidden_states, num_frames, kwargs,
                                   use_motion_modules, store=feature_cache, store_at=last_layers - shallow)

    def _up_block(self, block, hidden_states, skips, emb, encoder_hidden_states, num_frames, kwargs, use_motion,
                  start=0, store=None, store_at=0):
        """Layers ``start…`` of an up block; ``store["deep"]`` receives the input of layer ``store_at``."""
        attentions = getattr(block, "attentions", None)
        for i, resnet in enumerate(block.resnets):
            if i < start:
                continue
            if store is not None and i == store_at:
                store["deep"] = hidden_states
            skip = skips.pop()
            hidden_states = torch.cat([hidden_states, skip], dim=1)
            hidden_states = self._run_layer(
                resnet, attentions[i] if attentions is not None else None, block.motion_modules[i],
                hidden_states, emb, encoder_hidden_states, num_frames, kwargs, use_motion)
        if block.upsamplers is not None:
            # Upsample to the skip's size so odd latent sizes work.
            size = skips[-1].shape[-2:] if skips else None
            for upsampler in block.upsamplers:
                hidden_states = upsampler(hidden_states, output_size=size)
        return hidden_states

    def _last_up_block(self, hidden_states, skips, emb, encoder_hidden_states, num_frames, kwargs, use_motion,
                       start=0, store=None, store_at=0):
        hidden_states = self._up_block(self.up_blocks[-1], hidden_states, skips, emb, encoder_hidden_states,
                                       num_frames, kwargs, use_motion, start=start, store=store, store_at=store_at)
        if self.conv_norm_out is not None:
            hidden_states = self.conv_act(self.conv_norm_out(hidden_states))
        hidden_states = self.conv_out(hidden_states)
        return rearrange(hidden_states, "(b f) c h w -> b c f h w", f=num_frames)
