"""Inception-I3D (Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?"), RGB stream, 400 classes.

FVD (Unterthiner et al. 2018) fits Gaussians to the 400-d Kinetics-400 logits of this network (time-
averaged) for clips resized to 224x224 with pixel values scaled to ``[-1, 1]``; 16-frame clips are the
usual choice. The parameter names follow the widely used PyTorch port (``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_3b.b1b.bn.running_var``, ``logits.conv3d.bias``), so its ``rgb_imagenet.pt`` loads directly.

TensorFlow's ``SAME`` padding is reproduced exactly: convolutions and max pools pad asymmetrically
(the extra pixel at the end) by an amount that depends on the input size, before an unpadded op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from interanimate.evaluation.backbones.base import MetricBackbone

I3D_INPUT_SIZE = 224
I3D_NUM_CLASSES = 400
I3D_POOL_DIM = 1024


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF SAME padding (front, back) for one dimension."""
    if size % stride == 0:
        total = max(kernel - stride, 0)
    else:
        total = max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    t, h, w = x.shape[2:]
    pt, ph, pw = (_same_padding(s, k, st) for s, k, st in zip((t, h, w), kernel, stride))
    return F.pad(x, (*pw, *ph, *pt))  # zero padding; inputs to pools are post-ReLU, so zeros never win wrongly


class Unit3D(nn.Module):
    """SAME-padded 3-D conv + optional batch norm (eps 1e-3) + optional ReLU (names ``conv3d.*``, ``bn.*``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 batch_norm: bool = True, activation: bool = True, bias: bool = False):
        super().__init__()
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.activation = activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, stride=self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


def _max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    return F.max_pool3d(_pad_same(x, kernel, stride), kernel, stride)


class InceptionBlock3D(nn.Module):
    """Four-branch inception module; ``channels`` = (b0, b1a, b1b, b2a, b2b, b3b) output widths."""

    def __init__(self, in_channels: int, channels: tuple[int, int, int, int, int, int]):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = channels
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, kernel=(3, 3, 3))
        self.b3b = Unit3D(in_channels, c3b)
        self.out_channels = c0 + c1b + c2b + c3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)], dim=1)


# (name, in_channels, branch widths) in network order, from the I3D paper's Fig. 3 / Inception-v1.
_BLOCKS_3: tuple = (("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)), ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)))
_BLOCKS_4: tuple = (
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
)
_BLOCKS_5: tuple = (("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)), ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)))


class InceptionI3D(MetricBackbone):
    """Inception-I3D RGB with the published parameter names.

    ``forward`` returns the FVD features: ``(b, 400)`` Kinetics logits averaged over time.
    ``pooled_features`` returns the ``(b, 1024)`` time-averaged global pool before the classifier.

    Args:
        num_classes: classifier outputs (400 for Kinetics-400).
    """

    metric = "FVD"
    feature_space = "i3d_logits"
    registry_key = "fvd_i3d_kinetics400"

    def __init__(self, num_classes: int = I3D_NUM_CLASSES):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, kernel=(7, 7, 7), stride=(2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel=(3, 3, 3))
        for name, cin, widths in _BLOCKS_3 + _BLOCKS_4 + _BLOCKS_5:
            self.add_module(name, InceptionBlock3D(cin, widths))
        self.logits = Unit3D(I3D_POOL_DIM, num_classes, batch_norm=False, activation=False, bias=True)
        self.eval()

    @staticmethod
    def preprocess(videos: torch.Tensor) -> torch.Tensor:
        """``(b, 3, f, h, w)`` RGB in ``[0, 1]`` -> ``(b, 3, f, 224, 224)`` in ``[-1, 1]`` (bilinear resize)."""
        b, c, f, h, w = videos.shape
        frames = videos.float().permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)  # (b f) c h w
        frames = F.interpolate(frames, size=(I3D_INPUT_SIZE, I3D_INPUT_SIZE), mode="bilinear", align_corners=False)
        frames = frames.reshape(b, f, c, I3D_INPUT_SIZE, I3D_INPUT_SIZE).permute(0, 2, 1, 3, 4)  # b c f h w
        return 2.0 * frames - 1.0

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``(b, 3, f, 224, 224)`` -> ``(b, 1024, f', 1, 1)`` after the 2x7x7 average pool."""
        x = self.Conv3d_1a_7x7(x)  # (b, 64, f/2, 112, 112)
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))  # (b, 64, f/2, 56, 56)
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))  # (b, 192, f/2, 56, 56)
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))  # (b, 192, f/2, 28, 28)
        for name, _, _ in _BLOCKS_3:
            x = getattr(self, name)(x)
        x = _max_pool_same(x, (3, 3, 3), (2, 2, 2))  # (b, 480, f/4, 14, 14)
        for name, _, _ in _BLOCKS_4:
            x = getattr(self, name)(x)
        x = _max_pool_same(x, (2, 2, 2), (2, 2, 2))  # (b, 832, f/8, 7, 7)
        for name, _, _ in _BLOCKS_5:
            x = getattr(self, name)(x)
        # the published model average-pools 2x7x7 without padding; clips shorter than 16 frames
        # (f/8 < 2) would make that pool empty, so the temporal window shrinks to what is there
        kt = min(2, x.shape[2])
        return F.avg_pool3d(x, (kt, x.shape[3], x.shape[4]), stride=1)  # (b, 1024, f', 1, 1)

    @torch.no_grad()
    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """``(b, 3, f, h, w)`` RGB in ``[0, 1]`` -> ``(b, 400)`` time-averaged logits (FVD features)."""
        x = self.logits(self._pool(self.preprocess(videos)))  # (b, 400, f', 1, 1); dropout is identity at eval
        return x.flatten(2).mean(dim=2)

    @torch.no_grad()
    def pooled_features(self, videos: torch.Tensor) -> torch.Tensor:
        """``(b, 3, f, h, w)`` RGB in ``[0, 1]`` -> ``(b, 1024)`` time-averaged pooled features."""
        return self._pool(self.preprocess(videos)).flatten(2).mean(dim=2)
