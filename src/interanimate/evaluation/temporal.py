"""Temporal coherence: flow-warping error and a flicker index between consecutive frames.

**Warping error** (Lai et al. 2018, "Learning Blind Video Temporal Consistency", Eq. 9): for each pair
``(t, t+1)`` the optical flow ``F_{t->t+1}`` is estimated, frame ``t+1`` is warped back onto frame ``t``
(``W(x) = I_{t+1}(x + F(x))``), and the mean squared difference ``|I_t - W|^2`` is taken over the pixels
that are *valid*: the flow lands inside the frame and passes the forward-backward consistency test
for occlusions of Sundaram et al. 2010 (``|F_f + F_b(x + F_f)|^2 <= 0.01 (|F_f|^2 + |F_b|^2) + 0.5``).
Pixels are RGB scaled to ``[0, 1]`` and the squared error is averaged over channels, so values are in
``[0, 1]``. Lai et al. estimate the flow on the *input* video and score the output; for generated
video with a driving/ground-truth video, pass it as ``flow_source``; without one the flow comes from
the scored video itself (then the metric measures how well consecutive frames are explained by
*some* motion — frame drops, shuffles and texture boiling raise it).

**Flicker index**: the mean absolute difference of luma ``Y`` (BT.601, in ``[0, 1]``) between
consecutive frames, ``mean_x |Y_{t+1}(x) - Y_t(x)|`` — by default after motion compensation (frame
``t+1`` warped onto ``t`` as above, over the valid pixels), so camera/hand motion is not counted as
flicker; with ``compensate=False`` it is the raw frame difference used for near-static clips.

Both accept a ``(F, H, W)`` boolean region mask (e.g. the hand ∪ contact region): pair ``t`` is
scored on ``mask[t]`` (the pixels of frame ``t`` the warp lands on); pairs with no valid pixel in the
region give NaN. OpenCV's DIS flow (Kroeger et al. 2016, "medium" preset) is the default; Farneback
(2003) is available.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


def _to_float(frames: np.ndarray) -> np.ndarray:
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / 255.0
    return frames.astype(np.float32, copy=False)


def _gray_u8(frame: np.ndarray) -> np.ndarray:
    f = _to_float(frame)
    gray = f @ _LUMA.astype(np.float32) if f.ndim == 3 else f
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


class FlowEstimator:
    """Dense optical flow between two frames with OpenCV.

    Args:
        method: ``"dis"`` (DIS, medium preset) or ``"farneback"``.
    """

    def __init__(self, method: str = "dis"):
        if method not in ("dis", "farneback"):
            raise ValueError(f"unknown flow method {method!r}; use 'dis' or 'farneback'")
        self.method = method
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if method == "dis" else None

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow ``(H, W, 2)`` float32 such that ``source(x) ≈ target(x + flow(x))``."""
        a, b = _gray_u8(source), _gray_u8(target)
        if self._dis is not None:
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def warp(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward warp: ``out(x) = image(x + flow(x))`` (bilinear) and the in-frame mask ``(H, W)``."""
    height, width = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = gx + flow[..., 0]
    map_y = gy + flow[..., 1]
    out = cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return out, inside


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Non-occluded pixels by forward-backward consistency (Sundaram et al. 2010) and in-frame landing."""
    backward_at, inside = warp(backward, forward)  # F_b evaluated at x + F_f(x)
    total = forward + backward_at
    lhs = np.sum(total * total, axis=-1)
    rhs = 0.01 * (np.sum(forward * forward, axis=-1) + np.sum(backward_at * backward_at, axis=-1)) + 0.5
    return inside & (lhs <= rhs)


@dataclass
class TemporalScores:
    """Per-pair temporal metrics (``(F-1,)`` float64, NaN where nothing was scored).

    Attributes:
        warping_error: mean squared warping error (Lai et al. 2018) in ``[0, 1]``.
        flicker: mean absolute luma change in ``[0, 1]`` (motion-compensated unless disabled).
        valid_fraction: fraction of (region) pixels that passed the occlusion test.
    """

    warping_error: np.ndarray
    flicker: np.ndarray
    valid_fraction: np.ndarray

    def summary(self) -> dict[str, float]:
        def mean(v: np.ndarray) -> float:
            return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

        return {
            "warping_error": mean(self.warping_error),
            "flicker": mean(self.flicker),
            "valid_fraction": mean(self.valid_fraction),
            "pairs_scored": int(np.isfinite(self.warping_error).sum()),
        }


def temporal_scores(
    frames: np.ndarray,
    region_mask: np.ndarray | None = None,
    flow_source: np.ndarray | None = None,
    method: str = "dis",
    compensate_flicker: bool = True,
) -> TemporalScores:
    """Warping error and flicker for every consecutive pair of a video.

    Args:
        frames: ``(F, H, W, 3)`` RGB (uint8, or float in ``[0, 1]``) or ``(F, H, W)`` grey video to score.
        region_mask: optional ``(F, H, W)`` bool; pair ``t`` is scored inside ``region_mask[t]``.
        flow_source: optional video of the same size to estimate the flow on (e.g. the driving or
            ground-truth video); defaults to ``frames``.
        method: optical flow method, ``"dis"`` or ``"farneback"``.
        compensate_flicker: warp before differencing for the flicker index.
    """
    if frames.ndim not in (3, 4) or frames.shape[0] < 2:
        raise ValueError(f"need a video of at least 2 frames as (F, H, W[, C]); got shape {frames.shape}")
    source = frames if flow_source is None else flow_source
    if source.shape[:3] != frames.shape[:3]:
        raise ValueError(f"flow_source {source.shape} and frames {frames.shape} differ in size")
    if region_mask is not None and region_mask.shape != frames.shape[:3]:
        raise ValueError(f"region_mask must be {frames.shape[:3]}, got {region_mask.shape}")
    flow = FlowEstimator(method)
    video = _to_float(frames)
    luma = video @ _LUMA.astype(np.float32) if video.ndim == 4 else video
    num_pairs = frames.shape[0] - 1
    warping = np.full(num_pairs, np.nan)
    flicker = np.full(num_pairs, np.nan)
    valid_fraction = np.full(num_pairs, np.nan)
    for t in range(num_pairs):
        forward = flow(source[t], source[t + 1])
        backward = flow(source[t + 1], source[t])
        valid = consistency_mask(forward, backward)
        region = np.ones(valid.shape, bool) if region_mask is None else region_mask[t].astype(bool)
        if not region.any():
            continue
        scored = valid & region
        valid_fraction[t] = scored.sum() / region.sum()
        warped, _ = warp(video[t + 1], forward)
        if scored.any():
            err = (video[t] - warped) ** 2
            err = err.mean(axis=-1) if err.ndim == 3 else err
            warping[t] = float(err[scored].mean())
        if compensate_flicker:
            warped_luma, _ = warp(luma[t + 1], forward)
            if scored.any():
                flicker[t] = float(np.abs(warped_luma - luma[t])[scored].mean())
        else:
            changed = region if region_mask is None else (region | region_mask[t + 1].astype(bool))
            flicker[t] = float(np.abs(luma[t + 1] - luma[t])[changed].mean())
    return TemporalScores(warping, flicker, valid_fraction)
