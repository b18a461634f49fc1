"""Training stages as data: which parameters each stage trains (PRODUCT.md §6). The one place that says so.

- stage 0 (VAE, from-scratch presets): the VAE.
- stage 1 (image, single frames, motion modules skipped): ReferenceNet, the spatial UNet (everything but the
  motion modules), PoseGuider, ID Preserver, the spatial interaction latents with their conditioner and spatial
  interaction-attention layers (gates included).
  Cross-attention weights that only ever see the fixed one-token zero context (``InterAnimateModel.context_tokens``)
  cannot learn and stay frozen: the key/value projections of every ``attn2``, and the ReferenceNet's whole
  ``norm2``/``attn2`` pair (it has no identity branch, so that pair only adds a constant bias).
- stage 2 (video): the motion modules, the temporal interaction latents with their conditioner and temporal
  interaction-attention layers, and every interaction gate (spatial gates are re-balanced against the new
  temporal branch).
"""

from __future__ import annotations

import torch.nn as nn


STAGES = {
    0: "vae",
    1: "image",
    2: "video",
}


def _is_motion(name: str) -> bool:
    return ".motion_modules." in f".{name}"


def _reads_only_zero_context(name: str, whole_block: bool) -> bool:
    if ".attn2.to_k." in name or ".attn2.to_v." in name:
        return True
    return whole_block and (".attn2." in name or ".norm2." in name) and ".transformer_blocks." in name


def stage_trainable(name: str, stage: int, unused_reference_modules: tuple[str, ...] = ()) -> bool:
    """Whether the parameter called ``name`` (as in ``InterAnimateModel.named_parameters()``) trains in ``stage``.

    ``unused_reference_modules``: ReferenceNet module prefixes that run after its last recorded layer
    (``ReferenceNet.unused_module_prefixes()``); they never influence the reference features.
    """
    component, _, rest = name.partition(".")
    if stage == 0:
        return component == "vae"
    if stage == 1:
        if component == "reference_net":
            unused = any(rest == p or rest.startswith(p + ".") for p in unused_reference_modules)
            return not unused and not _reads_only_zero_context(rest, True)
        if component == "unet":
            return not _is_motion(rest) and not _reads_only_zero_context(rest, False)
        if component in ("pose_guider", "id_preserver"):
            return True
        if component == "interaction":
            return rest == "spatial_latents" or rest.startswith(("spatial_conditioner.", "spatial_attention."))
        return False
    if stage == 2:
        if component == "unet":
            return _is_motion(rest)
        if component == "interaction":
            return (rest == "temporal_latents" or rest.startswith(("temporal_conditioner.", "temporal_attention."))
                    or rest.endswith(".gate"))
        return False
    raise ValueError(f"unknown stage {stage}; stages are {sorted(STAGES)}")


def apply_stage(model: nn.Module, stage: int) -> list[str]:
    """Set ``requires_grad`` of every parameter for ``stage``; returns the names of the trainable ones."""
    trainable = []
    unused = tuple(model.reference_net.unused_module_prefixes())
    for name, param in model.named_parameters():
        param.requires_grad_(stage_trainable(name, stage, unused))
        if param.requires_grad:
            trainable.append(name)
    if not trainable:
        raise ValueError(f"stage {stage} ({STAGES[stage]}) has nothing to train in this model")
    return trainable


def uses_motion_modules(stage: int) -> bool:
    """Stage 1 trains the spatial layers on single frames without the temporal layers (Animate Anyone §3.3)."""
    return stage == 2
