"""InterAnimateModel: the components of the region-aware video diffusion model and how one denoising call uses them.

Like a diffusers pipeline, it is a container: every component is a self-describing ``ModelMixin`` saved to its own
subfolder (``vae/``, ``reference_net/``, ``unet/``, ``pose_guider/``, ``interaction/``, ``id_preserver/``) plus
``interanimate.json`` for the container's own options, so ``from_pretrained(dir)`` needs no code or config file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
from einops import rearrange

from interanimate.data.composite_pairs import NUM_COMPOSITE_CHANNELS
from interanimate.data.conditions import CONDITION_CHANNELS
from interanimate.data.io import json_safe
from interanimate.errors import MissingInputError
from interanimate.models.attention_processors import AttentionContext
from interanimate.models.id_preserver import IDPreserver
from interanimate.models.interaction_system import InteractionSystem
from interanimate.models.interanimate_unet import InterAnimateUNet
from interanimate.models.parts import MODEL_PARTS
from interanimate.models.pose_guider import PoseGuider
from interanimate.models.reference_net import ReferenceNet
from interanimate.models.vae import build_vae, load_vae, vae_scale_factor

CONTAINER_FILE = "interanimate.json"
HAND_CHANNEL = CONDITION_CHANNELS.index("hand_region")
FACE_CHANNEL = CONDITION_CHANNELS.index("face_region")
CONTACT_CHANNEL = CONDITION_CHANNELS.index("contact_region")
PART_CLASSES = {"vae": AutoencoderKL, "reference_net": ReferenceNet, "unet": InterAnimateUNet,
                "pose_guider": PoseGuider, "interaction": InteractionSystem, "id_preserver": IDPreserver}
# Part settings a warm start may change: they describe the data (size) or are copied with the weights (scaling).
_COPY_IGNORED_SETTINGS = {"sample_size", "scaling_factor"}


def _settings(part) -> dict:
    """A part's config without diffusers' private keys (``_use_default_values`` would make ``from_config`` replace
    settings given positionally by their defaults)."""
    return {k: v for k, v in part.config.items() if not k.startswith("_")}


@dataclass
class ClipConditioning:
    """What one clip's conditions give every denoising call (see ``InterAnimateModel.prepare_conditioning``).

    ``pose_embedding (b, c, f, h, w)``; ``spatial_latents (b, f, n, d)``; ``temporal_latents (b, f, m, d)``;
    ``region_mask`` and ``identity_weight (b, f, h, w)``; ``identity_tokens (b, T, c)``. Absent parts are ``None``.
    """

    pose_embedding: torch.Tensor
    spatial_latents: torch.Tensor | None = None
    temporal_latents: torch.Tensor | None = None
    region_mask: torch.Tensor | None = None
    identity_tokens: torch.Tensor | None = None
    identity_weight: torch.Tensor | None = None
    mask_blur_radius: int = 1

    def _map(self, fn_frames, fn_clip) -> "ClipConditioning":
        def per_frame(x):
            return None if x is None else fn_frames(x)

        return ClipConditioning(
            pose_embedding=fn_frames(self.pose_embedding.transpose(1, 2)).transpose(1, 2),
            spatial_latents=per_frame(self.spatial_latents), temporal_latents=per_frame(self.temporal_latents),
            region_mask=per_frame(self.region_mask), identity_weight=per_frame(self.identity_weight),
            identity_tokens=None if self.identity_tokens is None else fn_clip(self.identity_tokens),
            mask_blur_radius=self.mask_blur_radius)

    def frames(self, start: int, end: int) -> "ClipConditioning":
        """The frames ``[start, end)`` of every part (a temporal window)."""
        return self._map(lambda x: x[:, start:end], lambda x: x)

    def select(self, index: torch.Tensor | slice) -> "ClipConditioning":
        """The samples ``index`` of every part."""
        return self._map(lambda x: x[index], lambda x: x[index])

    def repeat(self, times: int) -> "ClipConditioning":
        """The batch repeated ``times`` times (``[c; c]`` for guidance)."""
        return self._map(lambda x: torch.cat([x] * times), lambda x: torch.cat([x] * times))

    def attention_context(self, reference_features, reference_keep, model, reference_kv=None,
                          single_key_shortcut: bool = False) -> AttentionContext:
        """A fresh ``AttentionContext`` for one UNet call on these frames."""
        batch_size, _, num_frames, height, width = self.pose_embedding.shape
        ctx = AttentionContext(batch_size=batch_size, num_frames=num_frames, latent_size=(height, width),
                               reference_features=reference_features, reference_keep=reference_keep,
                               mask_blur_radius=self.mask_blur_radius, reference_kv=reference_kv,
                               single_key_shortcut=single_key_shortcut)
        if self.spatial_latents is not None:
            ctx.interaction = model.interaction
            ctx.spatial_latents = rearrange(self.spatial_latents, "b f n d -> (b f) n d")
            ctx.temporal_latents = rearrange(self.temporal_latents, "b f m d -> b (f m) d")
            ctx.region_mask = self.region_mask
        if self.identity_tokens is not None:
            ctx.id_preserver = model.id_preserver
            ctx.identity_tokens = self.identity_tokens
            ctx.identity_weight = self.identity_weight
        return ctx


def masks_from_conditions(conditions: torch.Tensor) -> dict[str, torch.Tensor]:
    """``conditions (b, C, f, H, W)`` → ``hand_mask``, ``face_mask``, ``contact_mask``, each ``(b, 1, f, H, W)``."""
    return {
        "hand_mask": conditions[:, HAND_CHANNEL : HAND_CHANNEL + 1],
        "face_mask": conditions[:, FACE_CHANNEL : FACE_CHANNEL + 1],
        "contact_mask": conditions[:, CONTACT_CHANNEL : CONTACT_CHANNEL + 1],
    }


def to_latent_resolution(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-downsample a pixel mask ``(b, 1, f, H, W)`` to ``(b, f, h, w)`` (soft values at region borders)."""
    num_frames = mask.shape[2]
    flat = rearrange(mask.float(), "b 1 f h w -> (b f) 1 h w")
    flat = F.adaptive_avg_pool2d(flat, size)
    return rearrange(flat, "(b f) 1 h w -> b f h w", f=num_frames)


class InterAnimateModel(nn.Module):
    """The full model.

    Args:
        vae: ``AutoencoderKL``.
        reference_net: ``ReferenceNet`` with the UNet's spatial architecture.
        unet: ``InterAnimateUNet`` (2-D UNet + motion modules).
        pose_guider: ``PoseGuider`` whose output width is ``unet.config.block_out_channels[0]``.
        interaction: ``InteractionSystem`` or ``None`` (ablation: no interaction latents).
        id_preserver: ``IDPreserver`` or ``None`` (ablation: no ID preserver).
        region_masking: ``False`` lets the interaction latents act everywhere (ablation).
        mask_blur_radius: box-blur radius, in cells of each UNet level, that softens the region mask.
    """

    def __init__(self, vae: AutoencoderKL, reference_net: ReferenceNet, unet: InterAnimateUNet,
                 pose_guider: PoseGuider, interaction: InteractionSystem | None = None,
                 id_preserver: IDPreserver | None = None, region_masking: bool = True, mask_blur_radius: int = 1):
        super().__init__()
        if pose_guider.config.embedding_channels != unet.config.block_out_channels[0]:
            raise ValueError("pose_guider.embedding_channels must equal unet.block_out_channels[0]")
        self.vae = vae
        self.reference_net = reference_net
        self.unet = unet
        self.pose_guider = pose_guider
        self.interaction = interaction
        self.id_preserver = id_preserver
        self.region_masking = region_masking
        self.mask_blur_radius = mask_blur_radius

    # ---------------------------------------------------------------------------------------------- building

    @classmethod
    def from_config(cls, config, sample_size: int = 32) -> "InterAnimateModel":
        """Build from a ``training.config.ModelConfig``: from scratch, or from local SD-1.5 / AnimateDiff folders.

        With ``config.pretrained.sd_path`` the UNet and ReferenceNet start from ``<sd_path>/unet`` and the VAE from
        ``<sd_path>/vae`` (or ``vae_path``); with ``motion_adapter_path`` the motion modules are loaded from a
        ``MotionAdapter`` folder, otherwise they are new and zero-initialised. New modules start as no-ops.
        """
        pre = config.pretrained
        if pre.sd_path is not None:
            unet2d = UNet2DConditionModel.from_pretrained(pre.sd_path, subfolder="unet", local_files_only=True,
                                                          use_safetensors=True)
        else:
            u = config.unet
            unet2d = UNet2DConditionModel(
                sample_size=sample_size // 2 ** (len(config.vae.block_out_channels) - 1),
                in_channels=config.vae.latent_channels,
                out_channels=config.vae.latent_channels,
                down_block_types=tuple(u.down_block_types),
                up_block_types=tuple(u.up_block_types),
                block_out_channels=tuple(u.block_out_channels),
                layers_per_block=u.layers_per_block,
                attention_head_dim=u.attention_head_dim,
                cross_attention_dim=u.cross_attention_dim,
                norm_num_groups=u.norm_num_groups,
            )
        if pre.vae_path is not None:
            vae = load_vae(pre.vae_path)
        elif pre.sd_path is not None:
            vae = load_vae(pre.sd_path, subfolder="vae")
        else:
            v = config.vae
            vae = build_vae(v.block_out_channels, v.layers_per_block, v.latent_channels, v.norm_num_groups,
                            v.scaling_factor, sample_size)

        if pre.motion_adapter_path is not None:
            adapter = MotionAdapter.from_pretrained(pre.motion_adapter_path, local_files_only=True,
                                                    use_safetensors=True)
            unet = InterAnimateUNet.from_unet2d(unet2d, adapter)
        else:
            u = config.unet
            layers = unet2d.config.layers_per_block
            adapter = MotionAdapter(
                block_out_channels=tuple(unet2d.config.block_out_channels),
                motion_layers_per_block=layers,
                motion_num_attention_heads=u.motion_num_attention_heads,
                motion_norm_num_groups=unet2d.config.norm_num_groups,
                motion_max_seq_length=u.motion_max_seq_length,
                use_motion_mid_block=u.use_motion_mid_block,
            )
            unet = InterAnimateUNet.from_unet2d(unet2d, adapter)
            unet.zero_init_motion_modules()  # new temporal layers start as the identity (AnimateDiff)
        reference_net = ReferenceNet.from_unet2d(unet2d)

        steps = len(config.pose_guider.block_out_channels) - 1
        if 2**steps != vae_scale_factor(vae):
            raise ValueError(
                f"model.pose_guider.block_out_channels has {steps} downsampling steps but the VAE downsamples "
                f"{vae_scale_factor(vae)}x; give it {vae_scale_factor(vae).bit_length()} entries")
        pose_guider = PoseGuider(config.pose_guider.conditioning_channels, tuple(config.pose_guider.block_out_channels),
                                 unet.config.block_out_channels[0],
                                 composite_channels=NUM_COMPOSITE_CHANNELS if config.composite_conditions else 0)
        interaction = None
        if config.interaction.enabled:
            ic = config.interaction
            interaction = InteractionSystem.for_unet(
                unet, tuple(ic.blocks), num_spatial_latents=ic.num_spatial_latents,
                num_temporal_latents=ic.num_temporal_latents, latent_dim=ic.latent_dim,
                pose_feature_dim=pose_guider.feature_dim, attention_head_dim=ic.attention_head_dim)
        id_preserver = None
        if config.id_preserver.enabled:
            id_preserver = IDPreserver.for_unet(unet, embedding_dim=config.id_preserver.embedding_dim,
                                                num_tokens=config.id_preserver.num_tokens)
        return cls(vae, reference_net, unet, pose_guider, interaction, id_preserver,
                   region_masking=config.interaction.region_masking,
                   mask_blur_radius=config.interaction.mask_blur_radius)

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        components = {}
        for name in MODEL_PARTS:
            module = getattr(self, name)
            if module is not None:
                module.save_pretrained(directory / name, safe_serialization=True)
                components[name] = PART_CLASSES[name].__name__
        options = {"components": components, "region_masking": self.region_masking,
                   "mask_blur_radius": self.mask_blur_radius}
        (directory / CONTAINER_FILE).write_text(json.dumps(options, indent=2))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "InterAnimateModel":
        directory = Path(directory)
        index = directory / CONTAINER_FILE
        if not index.is_file():
            raise MissingInputError(f"{directory} is not an InterAnimate model folder (no {CONTAINER_FILE})")
        options = json.loads(index.read_text())
        parts = {
            name: cls_.from_pretrained(directory / name, local_files_only=True, use_safetensors=True)
            if name in options["components"] else None
            for name, cls_ in PART_CLASSES.items()
        }
        return cls(**parts, region_masking=options["region_masking"], mask_blur_radius=options["mask_blur_radius"])

    def new_like(self) -> "InterAnimateModel":
        """A new model with this one's architecture and settings, its weights freshly initialised on the default
        device (build it under ``torch.device("meta")`` to allocate nothing)."""
        parts = {name: None if getattr(self, name) is None
                 else PART_CLASSES[name].from_config(_settings(getattr(self, name))) for name in MODEL_PARTS}
        return type(self)(**parts, region_masking=self.region_masking, mask_blur_radius=self.mask_blur_radius)

    def copy_parts_from(self, directory: str | Path, parts: tuple[str, ...] = ()) -> list[str]:
        """Warm start: copy the weights of ``parts`` (all present ones when empty) from the model saved in
        ``directory``. The architectures must match part by part; copying the VAE copies its latent scaling factor.
        Returns the names of the parts copied."""
        try:
            source = type(self).from_pretrained(directory)
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"cannot read the model in {directory}: {first}") from None
        names = list(parts) or [n for n in MODEL_PARTS if getattr(self, n) is not None]
        for name in names:
            mine, theirs = getattr(self, name), getattr(source, name)
            if mine is None or theirs is None:
                where = "this model" if mine is None else str(directory)
                raise ValueError(f"cannot copy {name} from {directory}: {where} has no {name}")
            # Settings that leave shapes alone (head counts, group norms) change what the weights mean. They are
            # compared as plain data: a tuple in one config equals the list in the other.
            ours, source_settings = json_safe(_settings(mine)), json_safe(_settings(theirs))
            # A pose guider may gain composite inputs: they are zero-initialised, so the copy behaves as the source.
            gains_composite = name == "pose_guider" and not source_settings.get("composite_channels")
            ignored = _COPY_IGNORED_SETTINGS | ({"composite_channels"} if gains_composite else set())
            differ = sorted(k for k in set(ours) | set(source_settings) if k not in ignored
                            and ours.get(k) != source_settings.get(k))
            if differ:
                shown = ", ".join(f"{k}: {source_settings.get(k)!r} there, {ours.get(k)!r} here" for k in differ[:3])
                raise ValueError(f"cannot copy {name} from {directory}: the architectures differ ({shown})")
            try:
                missing, unexpected = mine.load_state_dict(theirs.state_dict(), strict=not gains_composite)
                if unexpected or any(not key.startswith("conv_in_composite.") for key in missing):
                    raise RuntimeError(f"missing {missing}, unexpected {unexpected}")
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[-1].strip()
                raise ValueError(f"cannot copy {name} from {directory}: the architectures differ ({first})") from None
            if name == "vae":
                mine.register_to_config(scaling_factor=theirs.config.scaling_factor)
        return names

    # ----------------------------------------------------------------------------------------------- helpers

    @property
    def latent_scale_factor(self) -> int:
        return vae_scale_factor(self.vae)

    def encode(self, pixel_values: torch.Tensor, generator: torch.Generator | None = None,
               sample: bool = True) -> torch.Tensor:
        """``(b, 3, H, W)`` or ``(b, 3, f, H, W)`` in [-1, 1] → scaled latents of the same layout.

        ``sample=False`` takes the posterior mode (deterministic; used for the reference at sampling time).
        """
        video = pixel_values.ndim == 5
        x = rearrange(pixel_values, "b c f h w -> (b f) c h w") if video else pixel_values
        posterior = self.vae.encode(x.to(self.vae.dtype)).latent_dist
        latents = (posterior.sample(generator) if sample else posterior.mode()) * self.vae.config.scaling_factor
        if video:
            latents = rearrange(latents, "(b f) c h w -> b c f h w", f=pixel_values.shape[2])
        return latents

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents ``(b, c, f, h, w)`` → pixels ``(b, 3, f, H, W)`` in [-1, 1]."""
        num_frames = latents.shape[2]
        flat = rearrange(latents, "b c f h w -> (b f) c h w") / self.vae.config.scaling_factor
        pixels = self.vae.decode(flat.to(self.vae.dtype)).sample.clamp(-1, 1)
        return rearrange(pixels, "(b f) c h w -> b c f h w", f=num_frames)

    def context_tokens(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The UNets' cross-attention context: one zero token (there is no text prompt).

        Appearance reaches the UNet through reference attention and identity through the decoupled ID branch;
        the pretrained text cross-attention then contributes only its output bias.
        """
        return torch.zeros(batch_size, 1, self.unet.config.cross_attention_dim, device=device, dtype=dtype)

    def compute_reference_features(self, reference_latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """ReferenceNet features of ``reference_latents (b, c, h, w)``: compute once per clip, reuse every step."""
        context = self.context_tokens(reference_latents.shape[0], reference_latents.device, reference_latents.dtype)
        return self.reference_net.compute_reference_features(reference_latents, context)

    def reference_keys_values(self, reference_features: dict[str, torch.Tensor]
                              ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The reference tokens projected by the matching denoising-UNet layer's ``to_k`` and ``to_v``:
        ``{name: (key, value)}``, each ``(b, n_ref, inner)``. They do not depend on the step, so a sampler computes
        them once per clip and passes them to ``forward(reference_kv=...)``."""
        out = {}
        for name, tokens in reference_features.items():
            attn = self.unet.get_submodule(name)
            out[name] = (attn.to_k(tokens), attn.to_v(tokens))
        return out

    # ----------------------------------------------------------------------------------------------- forward

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        conditions: torch.Tensor,
        reference_features: dict[str, torch.Tensor] | None = None,
        pattern_id: torch.Tensor | None = None,
        identity_embedding: torch.Tensor | None = None,
        identity_present: torch.Tensor | None = None,
        reference_keep: torch.Tensor | None = None,
        pose_keep: torch.Tensor | None = None,
        hand_mask: torch.Tensor | None = None,
        face_mask: torch.Tensor | None = None,
        contact_mask: torch.Tensor | None = None,
        use_motion_modules: bool = True,
        conditioning: ClipConditioning | None = None,
        reference_kv: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        single_key_shortcut: bool = False,
        **unet_kwargs,
    ) -> torch.Tensor:
        """One denoising prediction for a clip.

        Args:
            noisy_latents: ``(b, c, f, h, w)``.
            timesteps: ``(b,)``.
            conditions: condition maps ``(b, C, f, H, W)`` in [0, 1] at pixel resolution.
            reference_features: from ``compute_reference_features``; ``None`` = no reference attention.
            pattern_id: ``(b,)`` long, ``-1`` = unlabelled (default: all unlabelled).
            identity_embedding: ``(b, embedding_dim)``; ``None`` = no identity branch.
            identity_present: ``(b,)`` bool; ``False`` switches the identity branch off for that sample.
            reference_keep / pose_keep: ``(b,)`` bool condition-dropout masks (``False`` = dropped).
            hand_mask, face_mask, contact_mask: ``(b, 1, f, H, W)``; default: the region channels of ``conditions``.
            use_motion_modules: ``False`` for the image stage.
            conditioning: from ``prepare_conditioning`` for these conditions (then ``conditions``, ``pattern_id``,
                the identity inputs, ``pose_keep`` and the masks are not read again).
            reference_kv: ``reference_keys_values(reference_features)``, computed once per clip (``None``: the
                reference tokens are projected in every call; the result is the same).
            single_key_shortcut: attention over the one context token returns its value directly (exact).
            unet_kwargs: passed to the UNet (``feature_cache``).

        Returns:
            the UNet prediction ``(b, c, f, h, w)`` (ε or v, per the training objective).
        """
        batch_size, _, num_frames, height, width = noisy_latents.shape
        device, dtype = noisy_latents.device, noisy_latents.dtype
        if conditioning is None:
            conditioning = self.prepare_conditioning(
                conditions, (height, width), pattern_id=pattern_id, identity_embedding=identity_embedding,
                identity_present=identity_present, pose_keep=pose_keep, hand_mask=hand_mask, face_mask=face_mask,
                contact_mask=contact_mask, dtype=dtype)
        ctx = conditioning.attention_context(reference_features, reference_keep, self, reference_kv=reference_kv,
                                             single_key_shortcut=single_key_shortcut)
        context = self.context_tokens(batch_size, device, dtype)
        return self.unet(noisy_latents, timesteps, context, pose_embedding=conditioning.pose_embedding.to(dtype),
                         attention_context=ctx, use_motion_modules=use_motion_modules, **unet_kwargs)

    def prepare_conditioning(self, conditions: torch.Tensor, latent_size: tuple[int, int], *,
                             pattern_id: torch.Tensor | None = None, identity_embedding: torch.Tensor | None = None,
                             identity_present: torch.Tensor | None = None, pose_keep: torch.Tensor | None = None,
                             hand_mask: torch.Tensor | None = None, face_mask: torch.Tensor | None = None,
                             contact_mask: torch.Tensor | None = None,
                             dtype: torch.dtype = torch.float32) -> ClipConditioning:
        """Everything a denoising call derives from the conditions and not from the noisy latents: the pose-guider
        embedding, the dynamic interaction latents, the region mask, the identity tokens and their face weighting.

        None of it depends on the timestep, so a sampler computes it once per clip (``forward(conditioning=...)``);
        every part is per frame, so ``ClipConditioning.frames`` cuts it to a temporal window exactly.
        """
        batch_size = conditions.shape[0]
        device = conditions.device
        derived = masks_from_conditions(conditions)
        hand_mask = derived["hand_mask"] if hand_mask is None else hand_mask
        face_mask = derived["face_mask"] if face_mask is None else face_mask
        contact_mask = derived["contact_mask"] if contact_mask is None else contact_mask

        pose = self.pose_guider(conditions)
        pose_embedding, pose_features = pose.embedding, pose.features
        if pose_keep is not None:
            keep = pose_keep.to(pose_embedding.dtype)
            pose_embedding = pose_embedding * keep[:, None, None, None, None]
            pose_features = pose_features * keep[:, None, None]
        out = ClipConditioning(pose_embedding=pose_embedding, mask_blur_radius=self.mask_blur_radius)
        if self.interaction is not None:
            if pattern_id is None:
                pattern_id = torch.full((batch_size,), -1, dtype=torch.long, device=device)
            num_frames = conditions.shape[2]
            spatial, temporal = self.interaction(pattern_id, pose_features.to(dtype))
            out.spatial_latents = rearrange(spatial, "(b f) n d -> b f n d", f=num_frames)
            out.temporal_latents = rearrange(temporal, "b (f m) d -> b f m d", f=num_frames)
            if self.region_masking:
                # Interaction priors act where the hand is and where it touches the face (hand ∪ contact).
                region = torch.maximum(hand_mask, contact_mask)
                out.region_mask = to_latent_resolution(region, latent_size).to(dtype)
        if self.id_preserver is not None and identity_embedding is not None:
            out.identity_tokens = self.id_preserver(identity_embedding).to(dtype)
            weight = to_latent_resolution(face_mask, latent_size).to(dtype)  # (b, f, h, w)
            if identity_present is not None:
                weight = weight * identity_present.to(dtype)[:, None, None, None]
            out.identity_weight = weight
        return out
