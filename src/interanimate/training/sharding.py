"""Fully sharded training (FSDP2, torch's ``fully_shard``) for launches with ``configs/accelerate/fsdp*.yaml``.

``accelerate launch`` starts the processes and their process group; the loop shards each stage's model itself, in
the same way on GPUs (NCCL) and on CPU processes (gloo), where accelerate would silently run DDP instead:

- **Units.** Every layer of the UNet's blocks (each ResNet, spatial transformer and motion module) is one unit, and
  while stage 0 trains the VAE, the VAE's layers too. The ReferenceNet is one unit, gathered by
  ``compute_reference_features``: what the denoising UNet uses are the inputs its attention layers record, which
  leave the layers outside their outputs, so a layer-level unit would find its parameters freed in the backward
  pass. Everything else (pose guider, interaction system, ID preserver, UNet stems and samplers) belongs to the
  root unit, the stage's training objective. From stage 1 on the VAE is frozen and left out of the sharding: every
  process keeps it whole.
- **Memory.** ``fsdp_reshard_after_forward: true`` frees the gathered parameters after each unit's forward pass
  (ZeRO-3); ``false`` keeps them until the backward pass, so only gradients and optimizer states are sharded (ZeRO-2).
- **Checkpoints stay whole-model safetensors.** Weights, EMA shadows and optimizer states are gathered with
  ``torch.distributed.checkpoint.state_dict`` (``full_state_dict``) and written by the main process, so a run
  checkpointed under FSDP resumes under FSDP or DDP alike (with the same number of processes).
- **Between stages** the sharded model is gathered back into an ordinary one, whose EMA weights the next stage
  shards again with its own trainable set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from interanimate.errors import UserError

# The training objective holds the model as ``model``: state-dict keys carry this prefix.
_MODEL_PREFIX = "model."


class ShardingSetupError(UserError, ValueError):
    """An FSDP or DeepSpeed launch setting this loop cannot honour."""


@dataclass(frozen=True)
class ShardingSettings:
    """What a launch asks of the sharding (read from accelerate's FSDP settings)."""

    reshard_after_forward: bool = True


def sharding_settings(distributed_type: str, num_processes: int,
                      environ: dict[str, str] | None = None) -> ShardingSettings | None:
    """The FSDP settings of this launch, or ``None`` when it is not sharded (one process, DDP).

    ``distributed_type`` is accelerate's (``"FSDP"`` on GPUs); on CPU processes accelerate reports ``MULTI_CPU``
    for an FSDP launch, so the launcher's ``ACCELERATE_USE_FSDP`` variable is read as well. Settings this loop
    cannot honour are refused with a ``ShardingSetupError`` that names the setting and the fix.
    """
    from accelerate.utils import str_to_bool

    environ = os.environ if environ is None else environ
    if distributed_type == "DEEPSPEED" or str_to_bool(environ.get("ACCELERATE_USE_DEEPSPEED", "false")):
        raise ShardingSetupError(
            "DeepSpeed launches are not supported by `interanimate train`; for ZeRO-2 sharding launch with "
            "configs/accelerate/fsdp_zero2.yaml (FSDP sharding gradients and optimizer states)")
    if distributed_type == "FSDP" and num_processes < 2:  # accelerate would wrap the model in its own FSDP
        raise ShardingSetupError("an FSDP launch needs at least 2 processes (--num_processes); for one process run "
                                 "`interanimate train` without accelerate launch")
    fsdp = distributed_type == "FSDP" or str_to_bool(environ.get("ACCELERATE_USE_FSDP", "false"))
    if not fsdp or num_processes < 2:
        return None
    version = int(environ.get("FSDP_VERSION", "1"))
    if version != 2:
        raise ShardingSetupError(f"fsdp_version: {version} is not supported by `interanimate train`; set "
                                 "fsdp_version: 2 in the accelerate config (see configs/accelerate/fsdp.yaml)")
    for key, fix in (("FSDP_OFFLOAD_PARAMS", "fsdp_offload_params: false"),
                     ("FSDP_ACTIVATION_CHECKPOINTING", "fsdp_activation_checkpointing: false and the training "
                                                       "setting train.gradient_checkpointing=true")):
        if str_to_bool(environ.get(key, "false")):
            raise ShardingSetupError(f"{key.lower()}: true is not supported by `interanimate train`; use {fix}")
    reshard = environ.get("FSDP_RESHARD_AFTER_FORWARD", "true").strip().lower()
    if reshard not in ("true", "false"):
        raise ShardingSetupError(f"fsdp_reshard_after_forward: {reshard} is not supported with fsdp_version: 2; "
                                 "use true (shard parameters too) or false (ZeRO-2)")
    return ShardingSettings(reshard_after_forward=reshard == "true")


def device_mesh(device: torch.device):
    """A one-dimensional mesh over all processes (the process group accelerate set up)."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh(device.type, (dist.get_world_size(),))


# Lists whose members the UNets and the VAE call one by one (InterAnimateUNet runs the layers of a block itself, so a
# block's own forward is never called and could not gather its parameters).
_UNIT_LISTS = ("resnets", "attentions", "motion_modules")


def shard_units(objective: nn.Module, shard_vae: bool) -> list[nn.Module]:
    """The layers sharded as units of their own (see the module docstring); none contains another."""
    skipped = set(objective.model.reference_net.modules())
    if not shard_vae:
        skipped |= set(objective.model.vae.modules())
    units: dict[int, nn.Module] = {}
    for module in objective.modules():
        if module in skipped:
            continue
        for name in _UNIT_LISTS:
            layers = getattr(module, name, None)
            if isinstance(layers, nn.ModuleList):
                units.update((id(layer), layer) for layer in layers)
    return list(units.values())


def shard_objective(objective: nn.Module, stage: int, settings: ShardingSettings, mesh) -> int:
    """Shard ``objective`` (a ``TrainingObjective``) in place for ``stage``; returns the number of units."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    shard_vae = stage == 0
    units = shard_units(objective, shard_vae)
    for unit in units:
        fully_shard(unit, mesh=mesh, reshard_after_forward=settings.reshard_after_forward)
    # The ReferenceNet's product is what its self-attention layers record, not its output: as one unit whose
    # gathering method returns those features, its backward pass finds its parameters gathered again.
    reference_net = objective.model.reference_net
    fully_shard(reference_net, mesh=mesh, reshard_after_forward=settings.reshard_after_forward)
    register_fsdp_forward_method(reference_net, "compute_reference_features")
    ignored = None if shard_vae else set(objective.model.vae.parameters())
    fully_shard(objective, mesh=mesh, reshard_after_forward=settings.reshard_after_forward, ignored_params=ignored)
    return len(units) + 2


def local_bytes(tensors) -> int:
    """Bytes of ``tensors`` held by this process (its shard of sharded ones)."""
    from torch.distributed.tensor import DTensor

    return sum((t.to_local() if isinstance(t, DTensor) else t).numel() * t.element_size() for t in tensors)


def local_parameter_bytes(module: nn.Module) -> tuple[int, int]:
    """``(bytes this process holds, bytes of the whole model)`` of ``module``'s parameters."""
    return local_bytes(module.parameters()), sum(p.numel() * p.element_size() for p in module.parameters())


def _options(main_process_only: bool, device: torch.device):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # With cpu_offload the full tensors land on the CPU of the main process only; gloo (CPU processes) cannot take
    # that path, so there every process receives them.
    return StateDictOptions(full_state_dict=True, cpu_offload=main_process_only and device.type == "cuda")


def full_model_state(objective: nn.Module, main_process_only: bool, device: torch.device) -> dict[str, torch.Tensor]:
    """The whole model's weights, keyed as ``InterAnimateModel.state_dict()``. Every process must call this;
    with ``main_process_only`` on GPUs the others receive an empty dict."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    state = get_model_state_dict(objective, options=_options(main_process_only, device))
    return {key[len(_MODEL_PREFIX):]: value for key, value in state.items() if key.startswith(_MODEL_PREFIX)}


def full_optimizer_states(objective: nn.Module, optimizer: torch.optim.Optimizer,
                          device: torch.device) -> dict[str, dict[str, Any]]:
    """The optimizer state per parameter name (``{name: {field: value}}``), gathered whole. Every process must call
    this; only the main process's result is complete on GPUs."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    state = get_optimizer_state_dict(objective, optimizer, options=_options(True, device))
    return {key[len(_MODEL_PREFIX):]: dict(fields) for key, fields in state.get("state", {}).items()}


def load_optimizer_states(objective: nn.Module, optimizer: torch.optim.Optimizer, names: set[str],
                          read_states, is_main_process: bool) -> None:
    """Load whole per-name optimizer states into a sharded optimizer; each process keeps its own shard.

    ``names`` are the parameter names the states are saved for (every process checks them); ``read_states()``
    returns the states themselves (``{name: {field: value}}``) and is called by the main process only, which
    broadcasts them. Every process must call this.
    """
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )

    # The local (sharded) state dict names the parameter groups as the whole one would, without gathering anything.
    template = get_optimizer_state_dict(objective, optimizer, options=StateDictOptions(full_state_dict=False))
    expected = {key[len(_MODEL_PREFIX):] for group in template["param_groups"] for key in group["params"]}
    unknown = sorted(set(names) - expected)
    if unknown:
        raise ValueError(f"optimizer state for {unknown[0]!r}, which this stage does not train")
    state = {}
    if is_main_process:
        template["state"] = {_MODEL_PREFIX + name: fields for name, fields in read_states().items()}
        state = template
    set_optimizer_state_dict(objective, optimizer, state,
                             options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """A sharded tensor gathered whole (every process must call this); other tensors as they are."""
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def shard_like(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``full`` distributed as ``like`` is (a no-op for unsharded tensors). Every process must call this."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if isinstance(like, DTensor):
        return distribute_tensor(full.to(like.device, like.dtype), like.device_mesh, like.placements)
    return full.to(like.device, like.dtype)


__all__ = ["ShardingSettings", "ShardingSetupError", "device_mesh", "full_model_state", "full_optimizer_states",
           "full_tensor", "load_optimizer_states", "local_bytes", "local_parameter_bytes", "shard_like", "shard_objective",
           "shard_units", "sharding_settings"]
