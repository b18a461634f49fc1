"""LPIPS with the AlexNet backbone (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features
as a Perceptual Metric", Eq. 1), version 0.1.

    d(x, y) = sum_l  mean_{h,w}  || w_l ⊙ (x̂_l - ŷ_l) ||^2

where ``x̂_l`` are the ReLU outputs of AlexNet's five conv layers, unit-normalised along channels, and
``w_l`` are the learned non-negative channel weights ("lin" layers). Inputs are RGB in ``[-1, 1]``,
first mapped by the fixed scaling layer ``(x - shift) / scale`` with the constants below.

Parameter names match the reference package's model so its files load directly: the backbone as
``net.slice{1..5}.{i}.weight/bias`` (``i`` = the index in torchvision's ``alexnet.features``) and the
lin layers as ``lin{0..4}.model.1.weight`` of shape ``(1, C_l, 1, 1)`` (index 0 is a dropout). The
published weights are two files: the lin layers (``alex.pth``, v0.1) and the ImageNet AlexNet
(``alexnet-owt-7be5be79.pth``, keys ``features.{i}.*``); ``load_weights`` takes both, or one file
with the combined names.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from interanimate.evaluation.backbones.base import MetricBackbone
from interanimate.evaluation.backbones.weights import WeightsInfo, load_into, load_state_dict, verify_weights

# Scaling layer constants of LPIPS v0.1 (the reference package's ScalingLayer).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_CHANNELS = (64, 192, 384, 256, 256)
_NORM_EPS = 1e-10

# torchvision AlexNet ``features`` layout: index -> (in, out, kernel, stride, padding) for the convs.
_ALEX_CONVS = {0: (3, 64, 11, 4, 2), 3: (64, 192, 5, 1, 2), 6: (192, 384, 3, 1, 1), 8: (384, 256, 3, 1, 1), 10: (256, 256, 3, 1, 1)}
# LPIPS slices of ``features``: slice k covers these indices and ends at a ReLU whose output is tapped.
_SLICES = ((0, 1), (2, 3, 4), (5, 6, 7), (8, 9), (10, 11))


class ScalingLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # non-persistent: constants of the method, not learned weights
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class AlexNetSlices(nn.Module):
    """AlexNet's conv trunk cut into the five LPIPS slices (``slice1`` … ``slice5``)."""

    def __init__(self) -> None:
        super().__init__()
        for k, indices in enumerate(_SLICES, start=1):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            for i in indices:
                if i in _ALEX_CONVS:
                    cin, cout, kernel, stride, padding = _ALEX_CONVS[i]
                    layers[str(i)] = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding)
                elif i in (2, 5):
                    layers[str(i)] = nn.MaxPool2d(kernel_size=3, stride=2)
                else:
                    layers[str(i)] = nn.ReLU()
            self.add_module(f"slice{k}", nn.Sequential(layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for k in range(1, len(_SLICES) + 1):
            x = getattr(self, f"slice{k}")(x)
            taps.append(x)
        return taps  # channels LPIPS_CHANNELS


class LinearLayer(nn.Module):
    """A 1x1 conv to one channel without bias, behind a dropout (``model.0``) as in the reference."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, stride=1, padding=0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _unit_normalise(x: torch.Tensor) -> torch.Tensor:
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + _NORM_EPS)


class LPIPSAlex(MetricBackbone):
    """LPIPS v0.1 with AlexNet; ``forward(x, y)`` returns ``(b,)`` distances for RGB in ``[-1, 1]``."""

    metric = "LPIPS"
    feature_space = "alexnet_lin"
    registry_key = "lpips_alex_lin_v0.1"

    def __init__(self) -> None:
        super().__init__()
        self.scaling_layer = ScalingLayer()
        self.net = AlexNetSlices()
        for k, channels in enumerate(LPIPS_CHANNELS):
            self.add_module(f"lin{k}", LinearLayer(channels))
        self.backbone_info: WeightsInfo | None = None
        self.eval()

    @property
    def is_standard(self) -> bool:
        """Both the lin layers and the AlexNet backbone must be the published ones."""
        return super().is_standard and self.backbone_info is not None and self.backbone_info.is_standard

    @property
    def weights_status(self) -> str:
        if self.weights_info is None or self.backbone_info is None:
            return "random"
        return "standard" if self.is_standard else "unverified"

    def metric_name(self, frechet: bool = False) -> str:
        return super().metric_name(frechet=False)

    @staticmethod
    def backbone_to_lpips_names(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """torchvision AlexNet names (``features.{i}.*``) -> ``net.slice{k}.{i}.*``; classifier dropped."""
        slice_of = {i: k for k, indices in enumerate(_SLICES, start=1) for i in indices}
        out = {}
        for name, tensor in state_dict.items():
            parts = name.split(".")
            if parts[0] == "features" and int(parts[1]) in slice_of:
                out[f"net.slice{slice_of[int(parts[1])]}.{'.'.join(parts[1:])}"] = tensor
        return out

    def load_weights(self, path: str | Path, backbone_path: str | Path | None = None,
                     assume_standard: bool = False) -> WeightsInfo:
        """Load the lin layers from ``path`` and the AlexNet from ``backbone_path``; or, with no
        ``backbone_path``, both from ``path`` in the combined naming (then only ``assume_standard``
        can make the result "LPIPS", since no published file has that layout).

        Args:
            path: lin-layer file (published ``alex.pth``) or a combined state dict.
            backbone_path: torchvision ImageNet AlexNet file (published ``alexnet-owt-7be5be79.pth``).
            assume_standard: the user vouches for both files.
        """
        lin = load_state_dict(path)
        # a full model state dict from the reference package carries the scaling constants: check them
        for key, expected in (("scaling_layer.shift", LPIPS_SHIFT), ("scaling_layer.scale", LPIPS_SCALE)):
            if key in lin:
                if not torch.allclose(lin.pop(key).flatten().float(), torch.tensor(expected), atol=1e-6):
                    raise ValueError(f"{path}: {key} differs from the LPIPS v0.1 constants")
        if backbone_path is not None:
            backbone = self.backbone_to_lpips_names(load_state_dict(backbone_path))
            combined = {**backbone, **{k: v for k, v in lin.items() if k.startswith("lin")}}
            load_into(self, combined, f"{path} + {backbone_path}")
            self.backbone_info = verify_weights(backbone_path, "alexnet_imagenet", assume_standard)
        else:
            load_into(self, lin, str(path))
            self.backbone_info = verify_weights(path, "alexnet_imagenet", assume_standard)
        self.weights_info = verify_weights(path, self.registry_key, assume_standard)
        self.eval()
        return self.weights_info

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(b, 3, h, w)`` RGB in ``[-1, 1]`` pairs -> ``(b,)`` LPIPS distances (Zhang et al. Eq. 1)."""
        fx = self.net(self.scaling_layer(x.float()))
        fy = self.net(self.scaling_layer(y.float()))
        total = torch.zeros(x.shape[0], device=x.device)
        for k, (a, b) in enumerate(zip(fx, fy)):
            diff = (_unit_normalise(a) - _unit_normalise(b)) ** 2
            total = total + getattr(self, f"lin{k}")(diff).mean(dim=(1, 2, 3))  # spatial average
        return total
