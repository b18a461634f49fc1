"""Contract annotations from keypoints: which hand points count, and the masks drawn from the keypoints.

Every producer whose masks come from keypoints builds its ``ClipAnnotations`` with ``keypoint_annotations``: the
annotator (a clip of a real video) and ``animate`` (a performance retargeted onto the reference face). So the
masks always agree with the keypoints and both producers label alike. The synthetic generator's masks are its
renderer's pixels, not drawings from keypoints, so it does not use this module.

The hand rule (``counted_hands``) is the one place that decides which hand detections count: a point counts when
its hand is present, it lies in the image (``0 <= x <= W``, ``0 <= y <= H``) and its confidence is positive; a
hand counts when at least one of its points does. A tracked hand's points carry its tracker score, never less
than ``MIN_HAND_CONFIDENCE`` (``track_confidence``).
"""

from __future__ import annotations

import numpy as np

from interanimate.data.annotate.contact import true_runs
from interanimate.data.annotate.geometry import face_frame, face_outline
from interanimate.data.annotate.masks import contact_mask, hand_mask, polygon_mask
from interanimate.data.annotations import CONTACT_CHANNEL, FACE_CHANNEL, HAND_CHANNELS, ClipAnnotations
from interanimate.data.schema import NO_REGION
from interanimate.taxonomy import PATTERN_IDS

MIN_HAND_CONFIDENCE = 0.05  # a tracked (or gap-filled) hand's points count at least this much
CONTACT_RADIUS_PALMS = 0.12  # contact disc radius in palm lengths (wrist to middle knuckle): about a fingertip


def track_confidence(score: np.ndarray) -> np.ndarray:
    """Per-point confidence ``(F, 2, 1)`` of tracked hands from their ``(F, 2)`` tracker scores."""
    return np.clip(score, MIN_HAND_CONFIDENCE, 1.0)[..., None]


def counted_hands(points: np.ndarray, present: np.ndarray, confidence: np.ndarray, width: int,
                  height: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply the hand rule (module docstring) in a ``width × height`` image.

    Args:
        points: ``(F, 2, 21, >=2)`` hand points in pixels (x, y first).
        present: ``(F, 2)`` the hand was tracked.
        confidence: per point ``(F, 2, 21)``, or per hand ``(F, 2, 1)`` (see ``track_confidence``).

    Returns ``(hand_keypoints (F, 2, 21, 3), hand_present (F, 2))`` in the contract's layout: x, y (NaN for hands
    that do not count) and the confidence (0 for points that do not count).
    """
    x, y = points[..., 0], points[..., 1]
    inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)  # False for NaN points
    conf = np.where(present[..., None] & inside, confidence, 0.0)
    present = present & (conf > 0).any(axis=-1)
    xy = np.where(present[..., None, None], points[..., :2], np.nan)
    return np.concatenate([xy, conf[..., None]], axis=-1), present


def keypoint_annotations(landmarks: np.ndarray, face_present: np.ndarray, face_confidence: np.ndarray,
                         hand_keypoints: np.ndarray, hand_present: np.ndarray, contact: np.ndarray,
                         contact_point: np.ndarray, contact_region: np.ndarray, height: int, width: int, *,
                         face_box: np.ndarray | None = None, face_ovals: np.ndarray | None = None,
                         pattern: str | None = None,
                         contact_segments: list[tuple[int, int]] | None = None) -> ClipAnnotations:
    """Contract annotations of one clip, masks drawn from its keypoints (``masks``).

    Args:
        landmarks: ``(F, 68, 2)`` iBUG-68 points in pixels (used where ``face_present``).
        face_present, face_confidence: ``(F,)``.
        hand_keypoints, hand_present: ``(F, 2, 21, 3)`` and ``(F, 2)`` after the hand rule (``counted_hands``).
        contact, contact_point, contact_region: ``(F, 2)``, ``(F, 2, 2)``, ``(F, 2)``; contact counts only where
            the face and the hand are present.
        face_box: ``(F, 4)``; default: the box of the face outline.
        face_ovals: ``(F, K, 2)`` a denser face outline (the mesh's oval) joined to the iBUG outline in the face
            mask, where one is known.
        pattern: taxonomy name of the clip's pattern, or ``None``.
        contact_segments: ``[(start, end), ...]``; default: the runs of frames with any contact.

    Masks: each hand's capsules and palm; the face outline (forehead included) minus both hands; around each
    contact point a disc of ``CONTACT_RADIUS_PALMS`` palm lengths of the touching hand, kept to the face.
    """
    ann = ClipAnnotations.empty(len(face_present), height, width)
    fp = np.asarray(face_present, bool)
    ann.face_keypoints[fp] = landmarks[fp]
    ann.face_present = fp.copy()
    ann.face_confidence = np.asarray(face_confidence, np.float32)
    ann.hand_keypoints = np.asarray(hand_keypoints, np.float32)
    ann.hand_present = hand_present.copy()
    c = contact & hand_present & fp[:, None]
    ann.contact = c
    ann.contact_point = np.where(c[..., None], contact_point, np.nan).astype(np.float32)
    ann.contact_region = np.where(c, contact_region, NO_REGION).astype(np.int8)
    geometry = np.asarray(landmarks, np.float64)
    outline = face_outline(geometry, face_frame(np.nan_to_num(geometry)))
    if face_box is None:
        face_box = np.clip(np.concatenate([outline.min(axis=1), outline.max(axis=1)], axis=1), 0, (width, height) * 2)
    ann.face_box[fp] = face_box[fp]
    for f in range(ann.num_frames):
        _draw_frame(ann, f, hand_keypoints[f], outline[f], None if face_ovals is None else face_ovals[f])
    ann.pattern_id = PATTERN_IDS[pattern] if pattern else -1
    segments = true_runs(c.any(axis=1)) if contact_segments is None else contact_segments
    ann.contact_segments = np.array(segments, np.int32).reshape(-1, 2)
    return ann


def _draw_frame(ann: ClipAnnotations, f: int, hands: np.ndarray, outline: np.ndarray, oval: np.ndarray | None) -> None:
    """Frame ``f``'s masks. ``hands`` are the caller's keypoints (palm lengths measured at their precision)."""
    height, width = ann.height, ann.width
    hand_masks = [hand_mask(ann.hand_keypoints[f, h, :, :2], ann.hand_keypoints[f, h, :, 2], height, width)
                  if ann.hand_present[f, h] else np.zeros((height, width), bool) for h in range(2)]
    face_region = np.zeros((height, width), bool)
    if ann.face_present[f]:
        face_region = polygon_mask(outline, height, width)
        if oval is not None:
            face_region |= polygon_mask(oval, height, width)
    ann.masks[f, FACE_CHANNEL] = face_region & ~hand_masks[0] & ~hand_masks[1]
    for channel, drawn in zip(HAND_CHANNELS, hand_masks):
        ann.masks[f, channel] = drawn
    touching = np.flatnonzero(ann.contact[f])
    if len(touching):
        wrist, knuckle = hands[touching[0], 0, :2], hands[touching[0], 9, :2]
        finite = np.isfinite(wrist).all() and np.isfinite(knuckle).all()
        palm = float(np.linalg.norm(knuckle - wrist)) if finite else 0.1 * min(height, width)
        ann.masks[f, CONTACT_CHANNEL] = contact_mask(ann.contact_point[f][ann.contact[f]], CONTACT_RADIUS_PALMS * palm,
                                                     face_region, height, width)


__all__ = ["CONTACT_RADIUS_PALMS", "MIN_HAND_CONFIDENCE", "counted_hands", "keypoint_annotations", "track_confidence"]
