"""Full-reference pixel metrics: SSIM, PSNR and L1, on whole frames and on crops.

Conventions (chosen so numbers are comparable with the field's usual tools):

* **SSIM** is the Gaussian-window SSIM of Wang et al. 2004 ("Image quality assessment: from error
  visibility to structural similarity", IEEE TIP 13(4)), Eq. 13, with ``K1 = 0.01``, ``K2 = 0.03``,
  an isotropic Gaussian of ``sigma = 1.5`` truncated at ``3.5 sigma`` (an 11-tap window), population
  (not sample) covariances, ``reflect`` borders, and the mean taken over the map after discarding a
  strip of the window radius around the border. These are exactly scikit-image's
  ``structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=R)``; colour images are scored per channel and the channel SSIMs averaged.
* **PSNR** is ``10 log10(R^2 / MSE)`` over all pixels and channels (``inf`` for identical inputs).
* **L1** is the mean absolute difference divided by ``R``, so it lies in ``[0, 1]`` for any dtype.

``R`` (``data_range``) is 255 for ``uint8`` input and must be given for float input. Frames are
``(H, W)`` or ``(H, W, C)``; videos are ``(F, H, W)`` or ``(F, H, W, C)`` (the data side's layout).
Boxes are pixels ``(x0, y0, x1, y1)`` with the contract's convention (origin at the top-left corner
of the top-left pixel); a crop takes the pixels whose centres lie inside the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from interanimate.data import schema

SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # 11-tap window at sigma 1.5, as in Wang et al. 2004
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # ndimage's radius rule
SSIM_MIN_SIDE = 2 * SSIM_RADIUS + 1  # crops smaller than one window have no defined SSIM


def _data_range(image: np.ndarray, data_range: float | None) -> float:
    if data_range is not None:
        return float(data_range)
    if image.dtype == np.uint8:
        return 255.0
    if image.dtype == np.uint16:
        return 65535.0
    raise ValueError(f"data_range is required for {image.dtype} images (e.g. 1.0 for [0, 1] floats)")


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) frame, got shape {a.shape}")


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> np.ndarray:
    """Per-pixel SSIM map ``(H, W)`` or ``(H, W, C)`` (Wang et al. 2004, Eq. 13), border not cropped."""
    _check_pair(a, b)
    r = _data_range(a, data_range)
    x = a.astype(np.float64, copy=False)
    y = b.astype(np.float64, copy=False)
    sigma = (SSIM_SIGMA, SSIM_SIGMA, 0.0) if x.ndim == 3 else SSIM_SIGMA  # no blur across channels

    def blur(img: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(img, sigma=sigma, truncate=SSIM_TRUNCATE, mode="reflect")

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x  # population (co)variances, Wang et al.'s convention
    var_y = blur(y * y) - mu_y * mu_y
    cov_xy = blur(x * y) - mu_x * mu_y
    c1 = (SSIM_K1 * r) ** 2
    c2 = (SSIM_K2 * r) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return numerator / denominator


def ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Mean SSIM of two frames; NaN when a side is shorter than the 11-pixel window."""
    _check_pair(a, b)
    if min(a.shape[:2]) < SSIM_MIN_SIDE:
        return float("nan")
    s = ssim_map(a, b, data_range)
    p = SSIM_RADIUS
    inner = s[p:-p, p:-p]
    if inner.ndim == 3:  # mean per channel, then over channels (same value as the joint mean)
        return float(np.mean([inner[..., c].mean(dtype=np.float64) for c in range(inner.shape[-1])]))
    return float(inner.mean(dtype=np.float64))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    _check_pair(a, b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical frames."""
    r = _data_range(a, data_range)
    err = mse(a, b)
    if a.size == 0:
        return float("nan")
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(r * r / err))


def l1(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Mean absolute difference divided by the data range (in ``[0, 1]``)."""
    _check_pair(a, b)
    if a.size == 0:
        return float("nan")
    r = _data_range(a, data_range)
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))) / r)


# --------------------------------------------------------------------------------------------------
# Boxes from keypoints and crops


def keypoint_box(
    points: np.ndarray,
    confidence: np.ndarray | None = None,
    margin: float = 0.1,
    frame_size: tuple[int, int] | None = None,
    square: bool = False,
) -> np.ndarray:
    """Bounding box ``(x0, y0, x1, y1)`` of keypoints, grown by ``margin`` x its size on every side.

    Args:
        points: ``(..., K, 2)`` pixel coordinates; NaN points are ignored.
        confidence: ``(..., K)``; points with confidence <= 0 are ignored.
        margin: fraction of the box's width/height added on each side (hand crops want context
            around the fingers).
        frame_size: ``(height, width)`` to clip the box to the frame.
        square: grow the shorter side so the box is square around its centre.

    Returns:
        ``(..., 4)`` float32 boxes; NaN where no point is valid.
    """
    pts = np.asarray(points, dtype=np.float64)
    valid = np.all(np.isfinite(pts), axis=-1)
    if confidence is not None:
        valid &= np.asarray(confidence) > 0
    xs = np.where(valid, pts[..., 0], np.nan)
    ys = np.where(valid, pts[..., 1], np.nan)
    any_valid = valid.any(axis=-1)
    with np.errstate(all="ignore"):
        x0 = np.nanmin(np.where(any_valid[..., None], xs, 0.0), axis=-1)
        x1 = np.nanmax(np.where(any_valid[..., None], xs, 0.0), axis=-1)
        y0 = np.nanmin(np.where(any_valid[..., None], ys, 0.0), axis=-1)
        y1 = np.nanmax(np.where(any_valid[..., None], ys, 0.0), axis=-1)
    w, h = x1 - x0, y1 - y0
    if square:
        side = np.maximum(w, h)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x0, x1, y0, y1 = cx - side / 2, cx + side / 2, cy - side / 2, cy + side / 2
        w = h = side
    box = np.stack([x0 - margin * w, y0 - margin * h, x1 + margin * w, y1 + margin * h], axis=-1)
    if frame_size is not None:
        height, width = frame_size
        box[..., 0::2] = np.clip(box[..., 0::2], 0, width)
        box[..., 1::2] = np.clip(box[..., 1::2], 0, height)
    box[~any_valid] = np.nan
    return box.astype(np.float32)


def hand_boxes(hand_keypoints: np.ndarray, margin: float = 0.15, frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """``(F, 2, 21, 3)`` hand keypoints (contract layout) -> ``(F, 2, 4)`` crop boxes, NaN when absent."""
    hk = np.asarray(hand_keypoints)
    return keypoint_box(hk[..., :2], hk[..., 2], margin=margin, frame_size=frame_size, square=True)


def face_boxes(face_keypoints: np.ndarray, margin: float = 0.1, frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """``(F, 68, 2)`` iBUG-68 landmarks -> ``(F, 4)`` crop boxes, NaN when the face is absent."""
    return keypoint_box(face_keypoints, None, margin=margin, frame_size=frame_size)


def crop(image: np.ndarray, box: np.ndarray | tuple[float, float, float, float]) -> np.ndarray:
    """The pixels of ``image`` whose centres lie inside ``box`` (empty when the box is NaN or outside)."""
    b = np.asarray(box, dtype=np.float64)
    if not np.all(np.isfinite(b)):
        return image[:0, :0]
    height, width = image.shape[:2]
    # pixel i has its centre at i + 0.5; it is inside when x0 <= i + 0.5 < x1
    x0 = int(np.clip(np.ceil(b[0] - 0.5), 0, width))
    x1 = int(np.clip(np.ceil(b[2] - 0.5), 0, width))
    y0 = int(np.clip(np.ceil(b[1] - 0.5), 0, height))
    y1 = int(np.clip(np.ceil(b[3] - 0.5), 0, height))
    return image[y0:max(y0, y1), x0:max(x0, x1)]


# --------------------------------------------------------------------------------------------------
# Video level


@dataclass
class PixelScores:
    """Per-frame pixel metrics of one video (NaN where a frame had no valid crop).

    Attributes:
        ssim, psnr, l1: ``(F,)`` float64.
        mse: ``(F,)`` float64, kept so a video-level PSNR can be formed from the mean MSE.
        data_range: the ``R`` used.
    """

    ssim: np.ndarray
    psnr: np.ndarray
    l1: np.ndarray
    mse: np.ndarray
    data_range: float

    def summary(self) -> dict[str, float]:
        """Means over scored frames. ``psnr_mean`` skips identical frames (``inf``); ``psnr_video`` is
        the PSNR of the mean MSE, which stays finite and weights every frame equally."""
        finite_psnr = self.psnr[np.isfinite(self.psnr)]
        scored = np.isfinite(self.mse)
        mean_mse = float(np.mean(self.mse[scored])) if scored.any() else float("nan")
        r = self.data_range
        psnr_video = float("inf") if mean_mse == 0 else float(10 * np.log10(r * r / mean_mse))
        return {
            "ssim": float(np.nanmean(self.ssim)) if np.isfinite(self.ssim).any() else float("nan"),
            "psnr_mean": float(finite_psnr.mean()) if finite_psnr.size else float("nan"),
            "psnr_video": psnr_video if scored.any() else float("nan"),
            "l1": float(np.nanmean(self.l1)) if scored.any() else float("nan"),
            "frames_scored": int(scored.sum()),
        }


def video_pixel_scores(
    generated: np.ndarray,
    reference: np.ndarray,
    boxes: np.ndarray | None = None,
    data_range: float | None = None,
) -> PixelScores:
    """SSIM/PSNR/L1 per frame, on whole frames or on per-frame crops.

    Args:
        generated, reference: ``(F, H, W)`` or ``(F, H, W, C)`` videos of equal shape.
        boxes: optional ``(F, 4)`` crop boxes in pixels (e.g. from ``face_boxes`` or one hand of
            ``hand_boxes`` computed on the *reference* keypoints, so both videos are cropped alike);
            NaN rows skip the frame.
        data_range: ``R``; 255 for uint8.
    """
    if generated.shape != reference.shape:
        raise ValueError(f"generated {generated.shape} and reference {reference.shape} videos differ in shape")
    r = _data_range(generated, data_range)
    num_frames = generated.shape[0]
    if boxes is not None and np.asarray(boxes).shape != (num_frames, 4):
        raise ValueError(f"boxes must be ({num_frames}, 4), got {np.asarray(boxes).shape}")
    out = {k: np.full(num_frames, np.nan) for k in ("ssim", "psnr", "l1", "mse")}
    for f in range(num_frames):
        a, b = generated[f], reference[f]
        if boxes is not None:
            a, b = crop(a, boxes[f]), crop(b, boxes[f])
            if a.size == 0:
                continue
        out["mse"][f] = mse(a, b)
        out["psnr"][f] = psnr(a, b, r)
        out["l1"][f] = l1(a, b, r)
        out["ssim"][f] = ssim(a, b, r)
    return PixelScores(data_range=r, **out)


def region_pixel_scores(
    generated: np.ndarray,
    reference: np.ndarray,
    face_keypoints: np.ndarray | None = None,
    hand_keypoints: np.ndarray | None = None,
    data_range: float | None = None,
) -> dict[str, PixelScores]:
    """Whole-frame, face-crop and per-hand-crop scores; boxes come from the reference's keypoints.

    Returns keys ``"frame"``, and where keypoints are given ``"face"``, ``"hand_left"``, ``"hand_right"``
    (the subject's sides, contract order).
    """
    size = generated.shape[1:3]
    scores = {"frame": video_pixel_scores(generated, reference, None, data_range)}
    if face_keypoints is not None:
        scores["face"] = video_pixel_scores(generated, reference, face_boxes(face_keypoints, frame_size=size), data_range)
    if hand_keypoints is not None:
        boxes = hand_boxes(hand_keypoints, frame_size=size)
        for h, side in enumerate(schema.HAND_SIDES):
            scores[f"hand_{side}"] = video_pixel_scores(generated, reference, boxes[:, h], data_range)
    return scores
