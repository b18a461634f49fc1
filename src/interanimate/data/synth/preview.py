"""Contact sheets: one strip of frames per pattern, so a person can see at a glance what was made."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from interanimate.data.annotations import load_annotations
from interanimate.data.images import text_tile, tile_rows, write_png
from interanimate.data.io import decode_video
from interanimate.data.manifest import clip_file, read_manifest
from interanimate.taxonomy import FACE_REGIONS, PATTERN_NAMES

LABEL_WIDTH = 190


def _tiles(frames: np.ndarray, contact: np.ndarray, regions: np.ndarray, columns: int, tile: int) -> list[np.ndarray]:
    """``columns`` frames spread over the clip; frames in contact get a red border and the region name."""
    idx = np.linspace(0, len(frames) - 1, columns).round().astype(int)
    # Make sure at least one shown frame is in contact, when the clip has contact at all.
    touching = np.nonzero(contact)[0]
    if len(touching) and not contact[idx].any():
        idx[columns // 2] = touching[len(touching) // 2]
    tiles = []
    for i in idx:
        img = cv2.resize(frames[i], (tile, tile), interpolation=cv2.INTER_AREA if frames.shape[1] > tile else cv2.INTER_CUBIC)
        img = np.ascontiguousarray(img)
        if contact[i]:
            cv2.rectangle(img, (1, 1), (tile - 2, tile - 2), (230, 40, 40), 2)
            if regions[i] >= 0:
                cv2.putText(img, FACE_REGIONS[regions[i]], (4, tile - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(img, str(int(i)), (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    return tiles


def contact_sheet(clips: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], columns: int = 8, tile: int = 112) -> np.ndarray:
    """Sheet from ``(pattern, frames, contact (F,), region (F,))`` tuples, one row each, RGB uint8."""
    if not clips:
        return np.zeros((tile, LABEL_WIDTH, 3), np.uint8)
    return tile_rows([[text_tile(name, tile, LABEL_WIDTH, (6, tile // 2 + 4), 0.45, (20, 20, 20), 250),
                       *_tiles(frames, contact, regions, columns, tile)]
                      for name, frames, contact, regions in clips])


def dataset_preview(root: Path, out: Path | None = None, columns: int = 8, tile: int = 112) -> Path:
    """Write ``preview.png`` for a dataset: the first clip of every pattern present, in taxonomy order."""
    root = Path(root)
    records = read_manifest(root)
    first: dict[str, object] = {}
    for r in sorted(records, key=lambda r: r.clip_id):
        if r.pattern and r.pattern not in first:
            first[r.pattern] = r
    clips = []
    for name in PATTERN_NAMES:
        if name not in first:
            continue
        r = first[name]
        frames = decode_video(clip_file(root, r, "video"))
        ann = load_annotations(clip_file(root, r, "annotations"), r.height, r.width)
        contact = ann.contact.any(1)
        regions = ann.contact_region.max(1)
        clips.append((name, frames, contact, regions))
    return write_png(contact_sheet(clips, columns, tile), Path(out) if out else root / "preview.png")
