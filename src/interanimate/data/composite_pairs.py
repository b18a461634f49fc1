"""Composite conditions: a rough composite of each frame, for models that refine a render instead of drawing anew.

With ``model.composite_conditions`` the pose guider reads, after the 9 condition maps, ``COMPOSITE_CHANNELS``:

- 0-2 the composite frame, RGB in [-1, 1] (like ``pixel_values``, unlike the [0, 1] maps);
- 3 the composite's hand region, 4 its contact region, in [0, 1].

At inference the composite is the composite renderer's clip (``render.composite``). For training, every InterHF
clip, real or synthetic, gets one from its own labels (``label_composite``), so no 3-D hand model is needed:

1. the clip's first frame is the reference photo; its own hand (the labelled hand masks) is painted out with
   OpenCV's Telea inpainting;
2. per frame, that photo follows the labelled head motion: a similarity fitted from the first frame's iBUG-68
   points to the frame's (``cv2.estimateAffinePartial2D``);
3. the hand is the frame's labelled hand region, filled with the photo's median skin colour (which carries its
   lighting) and shaded by the distance to the silhouette's edge, so it reads as a rounded body, not a flat cut-out;
   its edge is softened by half a pixel.

The pair is then (this composite + its masks) → the clip's real frames: what the model learns is the step from a
render to a photograph (skin detail, the hand's real shape and shading, contact deformation, head motion beyond a
similarity). The hand-removed first frame, its skin colour and face points are cached per clip (keyed by the video's
sha256 and the output size), so a clip's composite costs one inpainting per process.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

COMPOSITE_CHANNELS = ("composite_r", "composite_g", "composite_b", "composite_hand_region",
                      "composite_contact_region")
NUM_COMPOSITE_CHANNELS = len(COMPOSITE_CHANNELS)
CACHE_SIZE = 512  # clips whose painted-out first frame is kept (64 px: 12 KB each)
SHADE_RANGE = (0.72, 1.0)  # brightness at the silhouette's edge and at its thickest point
_BASES: OrderedDict = OrderedDict()


def composite_condition_maps(frames: np.ndarray, hand_mask: np.ndarray, contact_mask: np.ndarray) -> np.ndarray:
    """``(F, 5, h, w) float32`` composite channels from ``frames (F, h, w, 3) uint8`` and ``(F, h, w)`` masks."""
    rgb = frames.astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0
    masks = np.stack([hand_mask, contact_mask], axis=1).astype(np.float32)
    return np.concatenate([rgb, masks], axis=1)


def remove_hand(frame: np.ndarray, hand_mask: np.ndarray) -> np.ndarray:
    """``frame (h, w, 3) uint8`` with the pixels of ``hand_mask`` (and a 1-pixel rim) inpainted (Telea 2004)."""
    if not hand_mask.any():
        return frame.copy()
    mask = cv2.dilate(hand_mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    return cv2.inpaint(np.ascontiguousarray(frame), mask, 3, cv2.INPAINT_TELEA)


def skin_colour(frame: np.ndarray, face_mask: np.ndarray, hand_mask: np.ndarray) -> np.ndarray:
    """Median RGB of the face's visible skin (the whole frame's when no face is labelled), float ``(3,)``."""
    skin = face_mask & ~hand_mask
    pixels = frame[skin] if skin.sum() >= 4 else frame.reshape(-1, 3)
    return np.median(pixels.astype(np.float32), axis=0)


def paint_hand(photo: np.ndarray, hand_mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """``photo (h, w, 3) uint8`` with ``hand_mask (h, w)`` filled by a rounded, soft-edged hand of ``colour``."""
    if not hand_mask.any():
        return photo.copy()
    mask = hand_mask.astype(np.uint8)
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    low, high = SHADE_RANGE
    shade = low + (high - low) * np.sqrt(depth / max(float(depth.max()), 1e-6))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.5)[..., None]
    hand = shade[..., None] * colour[None, None]
    return np.clip(np.round(photo * (1 - alpha) + hand * alpha), 0, 255).astype(np.uint8)


def follow_head(photo: np.ndarray, source_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """``photo`` moved by the similarity taking ``source_points (68, 2)`` to ``target_points`` (unchanged when
    either is missing or the fit fails)."""
    if not (np.isfinite(source_points).all() and np.isfinite(target_points).all()):
        return photo.copy()
    matrix, _ = cv2.estimateAffinePartial2D(source_points.astype(np.float32), target_points.astype(np.float32),
                                            method=cv2.LMEDS)
    if matrix is None:
        return photo.copy()
    # Keypoints put pixel centres at i + 0.5, cv2 at i: shift in, warp, shift back.
    shift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    full = shift @ np.vstack([matrix, [0, 0, 1]]) @ unshift
    height, width = photo.shape[:2]
    return cv2.warpAffine(photo, full[:2], (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def clip_base(key: str, first_frame: np.ndarray, face_mask: np.ndarray, hand_mask: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """The clip's first frame with its hand painted out, and its skin colour; cached under ``key``."""
    if key in _BASES:
        _BASES.move_to_end(key)
        return _BASES[key]
    value = (remove_hand(first_frame, hand_mask), skin_colour(first_frame, face_mask, hand_mask))
    _BASES[key] = value
    while len(_BASES) > CACHE_SIZE:
        _BASES.popitem(last=False)
    return value


def label_composite(base: np.ndarray, colour: np.ndarray, first_face_points: np.ndarray,
                    face_points: np.ndarray, hand_mask: np.ndarray) -> np.ndarray:
    """``(f, h, w, 3) uint8`` composites: ``base`` moved to each frame's ``face_points (f, 68, 2)`` (NaN = keep)
    with the hand ``hand_mask (f, h, w)`` painted in ``colour``; see the module docstring."""
    frames = [paint_hand(follow_head(base, first_face_points, points), mask, colour)
              for points, mask in zip(face_points, hand_mask)]
    return np.stack(frames)


__all__ = ["COMPOSITE_CHANNELS", "NUM_COMPOSITE_CHANNELS", "clip_base", "composite_condition_maps",
           "label_composite", "paint_hand", "remove_hand"]
