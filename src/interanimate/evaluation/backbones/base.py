"""Shared behaviour of the metric backbones: weight loading and honest naming."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from interanimate.evaluation.backbones.weights import WeightsInfo, load_into, load_state_dict, verify_weights


class MetricBackbone(nn.Module):
    """A network whose published weights define a metric.

    Subclasses set ``metric`` (the conventional name, e.g. ``"FID"``), ``feature_space`` (a name for
    the features that is true whatever the weights, e.g. ``"inception_v3_pool3"``) and
    ``registry_key`` (the ``PUBLISHED_WEIGHTS`` entry), and may override ``convert_state_dict`` to map a
    published layout onto their own parameter names.
    """

    metric: str = ""
    feature_space: str = ""
    registry_key: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.weights_info: WeightsInfo | None = None

    @property
    def is_standard(self) -> bool:
        """True only after loading the published weights (hash-verified or asserted by the user)."""
        return self.weights_info is not None and self.weights_info.is_standard

    @property
    def weights_status(self) -> str:
        if self.weights_info is None:
            return "random"
        return "standard" if self.weights_info.is_standard else "unverified"

    def metric_name(self, frechet: bool = True) -> str:
        """The name a report may print: the conventional one (``"FID"``) only for standard weights,
        otherwise e.g. ``"frechet_inception_v3_pool3_unverified"``."""
        if self.is_standard:
            return self.metric
        prefix = "frechet_" if frechet else ""
        return f"{prefix}{self.feature_space}_{self.weights_status}"

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return state_dict

    def load_weights(self, path: str | Path, assume_standard: bool = False) -> WeightsInfo:
        """Load a local weight file (safetensors or pickle-free ``.pth``) with the published names.

        Args:
            path: the file.
            assume_standard: the user vouches that the file holds the published weights (for
                converted copies whose hash differs); recorded as ``"user-asserted"``.
        """
        state_dict = self.convert_state_dict(load_state_dict(path))
        load_into(self, state_dict, str(path))
        self.weights_info = verify_weights(path, self.registry_key, assume_standard)
        self.eval()
        return self.weights_info
