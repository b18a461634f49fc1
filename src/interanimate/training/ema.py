"""Exponential moving average of the parameters a stage trains.

After update ``n`` (0-based, counted from the start of the stage) the shadow ``s`` of a parameter ``θ`` is

    β_n = min(ema_decay, (1 + n) / (10 + n))
    s   ← β_n · s + (1 − β_n) · θ,            s initialised to θ at the start of the stage.

The warm-up term ``(1 + n) / (10 + n)`` keeps the first updates from being dominated by the initial weights (the
``num_updates`` form of TensorFlow's ``ExponentialMovingAverage``). Shadows are float32 whatever the training dtype.
Under FSDP each process keeps the shadows of its own parameter shards; ``full_shadows`` gathers them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from interanimate.training.sharding import full_tensor, shard_like


def ema_decay_at(num_updates: int, ema_decay: float) -> float:
    """``β_n`` of the module docstring."""
    return min(ema_decay, (1.0 + num_updates) / (10.0 + num_updates))


class EMA:
    """Shadows of ``model``'s parameters whose names are in ``names``.

    Args:
        model: the unwrapped model (parameters are looked up by name).
        names: parameters to average (the stage's trainable ones).
        decay: the ``ema_decay`` ceiling of the schedule.
    """

    def __init__(self, model: nn.Module, names: list[str], decay: float):
        params = dict(model.named_parameters())
        self.decay = decay
        self.num_updates = 0
        self.shadow = {name: params[name].detach().float().clone() for name in names}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        beta = ema_decay_at(self.num_updates, self.decay)
        params = dict(model.named_parameters())
        for name, shadow in self.shadow.items():
            shadow.lerp_(params[name].detach().float(), 1.0 - beta)  # s + (1-β)(θ - s) = β s + (1-β) θ
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        for name, shadow in self.shadow.items():
            params[name].copy_(shadow.to(params[name].dtype))

    @torch.no_grad()
    def swap(self, model: nn.Module) -> None:
        """Exchange the model's weights and the shadows (call twice to undo): validation samples with EMA weights."""
        params = dict(model.named_parameters())
        for name, shadow in self.shadow.items():
            raw = params[name].detach().float().clone()
            params[name].copy_(shadow.to(params[name].dtype))
            self.shadow[name] = raw

    def full_shadows(self, keep: bool = True) -> dict[str, torch.Tensor]:
        """The shadows as whole tensors on the CPU. Under FSDP every process must call this, one tensor is gathered
        at a time, and processes with ``keep=False`` (all but the one that writes) receive an empty dict."""
        shadows = {}
        for name, t in self.shadow.items():
            whole = full_tensor(t)
            if keep:
                shadows[name] = whole.cpu()
        return shadows

    def save(self, path: Path, shadows: dict[str, torch.Tensor]) -> None:
        """Write ``shadows`` (``full_shadows()``, gathered beforehand by every process) to ``path``."""
        save_file({name: t.detach().cpu().contiguous() for name, t in shadows.items()}, str(path),
                  metadata={"num_updates": str(self.num_updates), "decay": repr(self.decay)})

    def load(self, path: Path) -> None:
        from safetensors import safe_open

        tensors = load_file(str(path))
        if set(tensors) != set(self.shadow):
            raise ValueError(f"{path}: EMA tensors do not match the parameters this stage trains")
        with safe_open(str(path), framework="pt") as handle:
            self.num_updates = int(handle.metadata()["num_updates"])
        self.shadow = {name: shard_like(tensors[name].float(), like) for name, like in self.shadow.items()}
