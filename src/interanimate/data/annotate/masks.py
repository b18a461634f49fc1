"""Face, hand and contact masks drawn from the landmarks, so masks and keypoints always agree.

* hand: capsules along the 20 bones plus the filled palm polygon; the capsule radius is a finger's
  half-width, ~0.11 palm lengths (wrist to middle knuckle), so the mask follows the hand's size;
* face: the visible face skin, i.e. the face outline (jaw line + forehead up to the hairline, or the
  dense mesh's oval when available) minus both hand masks;
* contact: a disc of a fingertip's radius around each contact point, kept to the face outline.
"""

from __future__ import annotations

import cv2
import numpy as np

from interanimate.data.schema import HAND_BONES

PALM = (0, 1, 5, 9, 13, 17)
SHIFT = 4  # sub-pixel drawing precision for OpenCV (coordinates x 16)


def _pts(xy: np.ndarray) -> np.ndarray:
    # Contract pixel coordinates put pixel centres at i + 0.5; OpenCV draws pixel centres at i.
    return np.round((np.asarray(xy, np.float64) - 0.5) * (1 << SHIFT)).astype(np.int32)


def hand_mask(points: np.ndarray, confidence: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(21, 2)`` points with ``(21,)`` confidence -> ``(H, W) bool``; only confident points are drawn."""
    mask = np.zeros((height, width), np.uint8)
    ok = (confidence > 0) & np.isfinite(points).all(axis=1)
    if not ok.any():
        return mask.astype(bool)
    palm = np.linalg.norm(points[9] - points[0]) if ok[0] and ok[9] else np.nan
    if not np.isfinite(palm) or palm <= 0:
        span = points[ok].max(axis=0) - points[ok].min(axis=0)
        palm = 0.5 * float(max(span.max(), 4.0))
    radius = max(2, int(round(0.11 * palm)))
    # Points outside the frame still shape the mask (a finger entering from the edge), so draw with
    # every finite point but seed only from the hand's own geometry.
    finite = np.isfinite(points).all(axis=1)
    pts = _pts(np.where(finite[:, None], points, 0.0))
    for a, b in HAND_BONES:
        if finite[a] and finite[b]:
            cv2.line(mask, tuple(pts[a]), tuple(pts[b]), 1, thickness=2 * radius, lineType=cv2.LINE_8, shift=SHIFT)
    palm_idx = [i for i in PALM if finite[i]]
    if len(palm_idx) >= 3:
        cv2.fillPoly(mask, [pts[palm_idx]], 1, lineType=cv2.LINE_8, shift=SHIFT)
    for i in np.flatnonzero(finite):
        cv2.circle(mask, tuple(pts[i]), radius, 1, thickness=-1, lineType=cv2.LINE_8, shift=SHIFT)
    return mask.astype(bool)


def polygon_mask(outline: np.ndarray, height: int, width: int, convex: bool = True) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    if outline is None or not np.isfinite(outline).all():
        return mask.astype(bool)
    pts = _pts(outline)
    if convex:
        pts = cv2.convexHull(pts.reshape(-1, 1, 2)).reshape(-1, 2)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=SHIFT)
    return mask.astype(bool)


def contact_mask(points: np.ndarray, radius: float, face_region: np.ndarray, height: int, width: int) -> np.ndarray:
    """Discs around the finite ``(K, 2)`` contact points, kept inside ``face_region`` where they overlap it."""
    mask = np.zeros((height, width), np.uint8)
    for xy in points:
        if np.isfinite(xy).all():
            cv2.circle(mask, tuple(_pts(xy)), max(2, int(round(radius))), 1, thickness=-1, shift=SHIFT)
    disc = mask.astype(bool)
    core = np.zeros((height, width), np.uint8)
    for xy in points:
        if np.isfinite(xy).all():
            cv2.circle(core, tuple(_pts(xy)), max(2, int(round(radius / 3))), 1, thickness=-1, shift=SHIFT)
    # The touched skin is the disc's part on the face; the core keeps the contact point itself inside
    # even when the touch lands on the outline's edge.
    return (disc & face_region) | core.astype(bool)
