"""Per-frame condition maps: the one renderer that training and inference both use.

Channels (``CONDITION_CHANNELS``), all in [0, 1]:

- 0-2 ``hand_skeleton_rgb``: bones of both hands, one colour per finger (thumb red, index orange,
  middle green, ring blue, pinky magenta); the subject's left hand is drawn at 60 % brightness so the
  two hands stay distinguishable; joints are dots, brighter at the fingertips.
- 3-5 ``face_contours_rgb``: iBUG-68 contours (jaw, brows, nose, eyes, lips), one colour per part.
- 6 ``hand_region``: union of the two hand masks.
- 7 ``face_region``: face mask.
- 8 ``contact_region``: the skin in contact.

Drawing uses OpenCV with sub-pixel coordinates (``shift`` bits) and anti-aliasing; line width grows
with the output size so the maps read the same at 32 px and at 512 px.
"""

from __future__ import annotations

import cv2
import numpy as np

from interanimate.data import schema

CONDITION_CHANNELS = (
    "hand_skeleton_r", "hand_skeleton_g", "hand_skeleton_b",
    "face_contours_r", "face_contours_g", "face_contours_b",
    "hand_region", "face_region", "contact_region",
)
NUM_CONDITION_CHANNELS = len(CONDITION_CHANNELS)

FINGER_COLOURS: dict[str, tuple[int, int, int]] = {
    "thumb": (255, 40, 40),
    "index": (255, 160, 0),
    "middle": (40, 220, 40),
    "ring": (40, 120, 255),
    "pinky": (220, 40, 220),
}
FACE_PART_COLOURS: dict[str, tuple[int, int, int]] = {
    "jaw": (255, 255, 255),
    "brow_right_image": (255, 200, 0),
    "brow_left_image": (255, 200, 0),
    "nose_bridge": (0, 200, 255),
    "nose_lower": (0, 200, 255),
    "eye_right_subject": (0, 255, 120),
    "eye_left_subject": (0, 255, 120),
    "lips_outer": (255, 60, 120),
    "lips_inner": (255, 60, 120),
}
LEFT_HAND_BRIGHTNESS = 0.6
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = 1 << _SHIFT


def _to_fixed(points: np.ndarray) -> np.ndarray:
    # cv2 draws pixel centres at integer coordinates; the contract puts them at i + 0.5.
    return np.round((points - 0.5) * _SCALE).astype(np.int32)


def _line_width(size: int) -> int:
    return max(1, int(round(size / 96)))


def draw_hand_skeleton(canvas: np.ndarray, keypoints: np.ndarray, brightness: float = 1.0,
                       min_confidence: float = 0.05) -> None:
    """Draw one hand's 21 keypoints ``(21, 3)`` (x, y, confidence) onto an ``(H, W, 3) uint8`` canvas."""
    size = min(canvas.shape[:2])
    width = _line_width(size)
    ok = np.isfinite(keypoints[:, :2]).all(axis=1) & (keypoints[:, 2] > min_confidence)
    fixed = _to_fixed(np.nan_to_num(keypoints[:, :2]))
    for finger, chain in schema.HAND_FINGERS.items():
        colour = tuple(int(c * brightness) for c in FINGER_COLOURS[finger])
        for a, b in zip(chain[:-1], chain[1:]):
            if ok[a] and ok[b]:
                cv2.line(canvas, tuple(fixed[a]), tuple(fixed[b]), colour, width, cv2.LINE_AA, _SHIFT)
    for a, b in ((5, 9), (9, 13), (13, 17)):
        if ok[a] and ok[b]:
            grey = int(180 * brightness)
            cv2.line(canvas, tuple(fixed[a]), tuple(fixed[b]), (grey, grey, grey), width, cv2.LINE_AA, _SHIFT)
    radius = max(1, width) * _SCALE
    for index in np.flatnonzero(ok):
        value = int(255 * brightness) if index in schema.FINGERTIPS else int(200 * brightness)
        cv2.circle(canvas, tuple(fixed[index]), radius, (value, value, value), -1, cv2.LINE_AA, _SHIFT)


def draw_face_contours(canvas: np.ndarray, keypoints: np.ndarray) -> None:
    """Draw the iBUG-68 contours of ``(68, 2)`` keypoints onto an ``(H, W, 3) uint8`` canvas."""
    if not np.isfinite(keypoints).all():
        return
    width = _line_width(min(canvas.shape[:2]))
    fixed = _to_fixed(keypoints)
    for part, (start, stop) in schema.FACE_PARTS.items():
        closed = part in schema.FACE_PARTS_CLOSED
        cv2.polylines(canvas, [fixed[start:stop]], closed, FACE_PART_COLOURS[part], width, cv2.LINE_AA, _SHIFT)


def render_condition_maps(
    face_keypoints: np.ndarray,
    face_present: np.ndarray,
    hand_keypoints: np.ndarray,
    hand_present: np.ndarray,
    masks: np.ndarray | None,
    height: int,
    width: int,
    out_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Render ``(F, 9, h, w) float32`` condition maps in [0, 1] (channel layout in the module docstring).

    Args:
        face_keypoints: ``(F, 68, 2)`` pixels in the ``height x width`` source frame.
        face_present: ``(F,)`` bool.
        hand_keypoints: ``(F, 2, 21, 3)`` pixels + confidence; hand 0 is the subject's left.
        hand_present: ``(F, 2)`` bool.
        masks: ``(F, 4, height, width)`` bool in ``schema.MASK_CHANNELS`` order, or ``None`` (the region
            channels are then zero, e.g. when only keypoints drive generation).
        height, width: the source frame size the coordinates refer to.
        out_size: ``(h, w)`` of the maps; defaults to the source size. Keypoints are scaled and masks are
            area-resized (soft edges), so maps at any resolution describe the same geometry.
    """
    out_h, out_w = out_size or (height, width)
    sx, sy = out_w / width, out_h / height
    num_frames = face_keypoints.shape[0]
    maps = np.zeros((num_frames, NUM_CONDITION_CHANNELS, out_h, out_w), np.float32)
    hand_canvas = np.zeros((out_h, out_w, 3), np.uint8)
    face_canvas = np.zeros((out_h, out_w, 3), np.uint8)
    scale = np.array([sx, sy], np.float32)
    for f in range(num_frames):
        hand_canvas[:] = 0
        face_canvas[:] = 0
        for hand in (1, 0):  # right first, so the (dimmer) left hand is drawn on top where they cross
            if hand_present[f, hand]:
                points = hand_keypoints[f, hand].copy()
                points[:, :2] *= scale
                draw_hand_skeleton(hand_canvas, points, 1.0 if hand == 1 else LEFT_HAND_BRIGHTNESS)
        if face_present[f]:
            draw_face_contours(face_canvas, face_keypoints[f] * scale)
        maps[f, 0:3] = hand_canvas.transpose(2, 0, 1) / 255.0
        maps[f, 3:6] = face_canvas.transpose(2, 0, 1) / 255.0
    if masks is not None:
        region = region_masks(masks)
        if (out_h, out_w) == (height, width):
            maps[:, 6:9] = region
        else:
            flat = region.reshape(-1, height, width).astype(np.float32)
            resized = np.stack([cv2.resize(m, (out_w, out_h), interpolation=cv2.INTER_AREA) for m in flat])
            maps[:, 6:9] = resized.reshape(num_frames, 3, out_h, out_w)
    return maps


def region_masks(masks: np.ndarray) -> np.ndarray:
    """The region channels' masks, ``(F, 3, H, W)`` bool: both hands, face, contact (``CONDITION_CHANNELS`` 6-8),
    from ``(F, 4, H, W)`` masks in ``schema.MASK_CHANNELS`` order."""
    face, left, right, contact = (masks[:, schema.MASK_CHANNELS.index(name)]
                                  for name in ("face", "hand_left", "hand_right", "contact"))
    return np.stack([left | right, face, contact], axis=1)


def conditions_to_rgb(maps: np.ndarray) -> np.ndarray:
    """A viewable ``(F, h, w, 3) uint8`` picture of condition maps: skeleton and contours over dim regions."""
    regions = maps[:, 6:9]
    base = np.stack([regions[:, 2], regions[:, 1] * 0.5, regions[:, 0] * 0.5], axis=-1) * 0.35
    lines = np.maximum(maps[:, 0:3], maps[:, 3:6]).transpose(0, 2, 3, 1)
    picture = np.maximum(base, lines)
    return (np.clip(picture, 0, 1) * 255).astype(np.uint8)
