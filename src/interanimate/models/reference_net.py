"""ReferenceNet (Animate Anyone, arXiv 2311.17117 §3.2): a 2-D UNet over the reference image's latent.

It has the denoising UNet's spatial architecture (the ``sd15`` preset initialises both from the same SD-1.5 UNet),
so every spatial self-attention layer of the denoising UNet has a ReferenceNet layer of the same name and width;
the two are paired by name, never by tensor shape. Its self-attention inputs are collected once per clip and read
by the denoising UNet at every step (see ``SpatialSelfAttnProcessor``).
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel

from interanimate.models.attention_processors import InstallsProcessors, ReferenceBank, install_reference_processors


class ReferenceNet(InstallsProcessors, UNet2DConditionModel):
    """``UNet2DConditionModel`` whose self-attention layers record their inputs into a caller-owned bank.

    Constructor arguments are those of ``UNet2DConditionModel`` (the config is saved and restored with it). Build
    one with ``from_config``, ``from_pretrained`` (also from an SD-1.5 ``unet`` folder) or ``from_unet2d``: these
    install the recording processors.
    """

    install_processors = staticmethod(install_reference_processors)

    @classmethod
    def from_unet2d(cls, unet: UNet2DConditionModel) -> "ReferenceNet":
        net = cls.from_config(unet.config)
        net.load_state_dict(unet.state_dict())
        return net

    def unused_module_prefixes(self) -> list[str]:
        """Modules that run after the last recorded self-attention input, so never influence the reference features.

        They stay in the checkpoint (the config describes a whole UNet, as the SD-1.5 weights do) but do not train.
        """
        up_index = max(i for i, b in enumerate(self.up_blocks) if getattr(b, "attentions", None))
        block = self.up_blocks[up_index]
        a = len(block.attentions) - 1
        t = len(block.attentions[a].transformer_blocks) - 1
        last = f"up_blocks.{up_index}.attentions.{a}"
        prefixes = [f"{last}.transformer_blocks.{t}.{part}" for part in ("attn1", "norm2", "attn2", "norm3", "ff")]
        prefixes += [f"{last}.transformer_blocks.{i}" for i in range(t + 1, len(block.attentions[a].transformer_blocks))]
        prefixes += [f"{last}.proj_out", f"up_blocks.{up_index}.upsamplers", "conv_norm_out", "conv_out"]
        prefixes += [f"up_blocks.{up_index}.resnets.{i}" for i in range(a + 1, len(block.resnets))]
        prefixes += [f"up_blocks.{i}" for i in range(up_index + 1, len(self.up_blocks))]
        return prefixes

    def compute_reference_features(self, reference_latents: torch.Tensor,
                                   encoder_hidden_states: torch.Tensor) -> dict[str, torch.Tensor]:
        """``reference_latents (b, c, h, w)`` → self-attention inputs by layer name, each ``(b, h_l w_l, c_l)``.

        The reference is encoded at timestep 0 (it is clean), once per clip.
        """
        bank = ReferenceBank()
        timestep = torch.zeros(reference_latents.shape[0], device=reference_latents.device, dtype=torch.long)
        self(reference_latents, timestep, encoder_hidden_states=encoder_hidden_states,
             cross_attention_kwargs={"reference_bank": bank}, return_dict=False)
        if not bank.features:
            raise RuntimeError("ReferenceNet has no recording processors; build it with from_config/from_pretrained")
        return bank.features
