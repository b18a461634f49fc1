"""Metric backbones in plain torch (FID Inception-v3, FVD I3D, LPIPS AlexNet) and offline feature spaces.

Standard metric names are only printed for standard weights; see ``weights.PUBLISHED_WEIGHTS``.
"""

from interanimate.evaluation.backbones.base import MetricBackbone
from interanimate.evaluation.backbones.dlib_face import DlibFaceDescriptor
from interanimate.evaluation.backbones.i3d import InceptionI3D
from interanimate.evaluation.backbones.inception import FIDInceptionV3
from interanimate.evaluation.backbones.lpips import LPIPSAlex
from interanimate.evaluation.backbones.weights import (
    PUBLISHED_WEIGHTS,
    PublishedWeights,
    WeightsError,
    WeightsInfo,
    load_state_dict,
    sha256_file,
    verify_weights,
)

__all__ = [
    "PUBLISHED_WEIGHTS",
    "DlibFaceDescriptor",
    "FIDInceptionV3",
    "InceptionI3D",
    "LPIPSAlex",
    "MetricBackbone",
    "PublishedWeights",
    "WeightsError",
    "WeightsInfo",
    "load_state_dict",
    "sha256_file",
    "verify_weights",
]
