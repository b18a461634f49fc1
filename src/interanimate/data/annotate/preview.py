"""A frame strip per clip for a quick visual check: masks tinted, keypoints drawn, contact marked."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from interanimate.data.annotations import ClipAnnotations
from interanimate.data.images import tile_rows, write_png
from interanimate.data.schema import HAND_BONES, MASK_CHANNELS
from interanimate.taxonomy import FACE_REGIONS

_TINTS = {"face": (255, 220, 120), "hand_left": (80, 160, 255), "hand_right": (255, 120, 80), "contact": (255, 0, 255)}


def render_frame(frame: np.ndarray, ann: ClipAnnotations, f: int) -> np.ndarray:
    image = frame.astype(np.float32)
    for name, tint in _TINTS.items():
        mask = ann.masks[f, MASK_CHANNELS.index(name)]
        alpha = 0.6 if name == "contact" else 0.3
        image[mask] = (1 - alpha) * image[mask] + alpha * np.asarray(tint, np.float32)
    image = image.clip(0, 255).astype(np.uint8)
    scale = max(1, int(round(max(frame.shape[:2]) / 400)))
    if ann.face_present[f]:
        for x, y in ann.face_keypoints[f]:
            cv2.circle(image, (int(x), int(y)), scale, (255, 255, 0), -1)
    for h, colour in ((0, (80, 160, 255)), (1, (255, 120, 80))):
        if not ann.hand_present[f, h]:
            continue
        pts = ann.hand_keypoints[f, h]
        for a, b in HAND_BONES:
            if pts[a, 2] > 0 and pts[b, 2] > 0:
                cv2.line(image, (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1])), colour, scale)
        if ann.contact[f, h]:
            x, y = ann.contact_point[f, h]
            cv2.circle(image, (int(x), int(y)), 6 * scale, (255, 0, 255), 2 * scale)
            cv2.putText(image, FACE_REGIONS[ann.contact_region[f, h]], (int(x) + 8 * scale, int(y)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, (255, 0, 255), scale)
    cv2.putText(image, str(f), (4 * scale, 14 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, (255, 255, 255), scale)
    return image


def write_preview(path: Path, frames: np.ndarray, ann: ClipAnnotations, num: int = 8, height: int = 180) -> Path:
    """Write a PNG strip of ``num`` frames (contact frames preferred) scaled to ``height`` pixels."""
    contact_frames = np.flatnonzero(ann.contact.any(axis=1))
    picks = np.linspace(0, len(frames) - 1, num).round().astype(int)
    if len(contact_frames):
        chosen = contact_frames[np.linspace(0, len(contact_frames) - 1, num // 2).round().astype(int)]
        picks = np.unique(np.concatenate([picks[:: 2], chosen]))[:num]
    tiles = []
    for f in picks:
        tile = render_frame(frames[f], ann, int(f))
        width = int(tile.shape[1] * height / tile.shape[0])
        tiles.append(cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA))
    return write_png(tile_rows([tiles]), path)
