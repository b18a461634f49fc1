"""Contact sheets: one strip of frames per pattern, so a person can see at a glance what was made."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from interanimate.data.annotations import load_annotations
from interanimate.data.io import atomic_write_bytes, decode_video
from interanimate.data.manifest import clip_file, read_manifest
from interanimate.taxonomy import FACE_REGIONS, PATTERN_NAMES

LABEL_WIDTH = 190


def _strip(frames: np.ndarray, contact: np.ndarray, regions: np.ndarray, columns: int, tile: int) -> np.ndarray:
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
    return np.concatenate(tiles, 1)


def contact_sheet(clips: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], columns: int = 8, tile: int = 112) -> np.ndarray:
    """Sheet from ``(pattern, frames, contact (F,), region (F,))`` tuples, one row each, RGB uint8."""
    rows = []
    for name, frames, contact, regions in clips:
        strip = _strip(frames, contact, regions, columns, tile)
        label = np.full((tile, LABEL_WIDTH, 3), 250, np.uint8)
        cv2.putText(label, name, (6, tile // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, strip], 1))
    return np.concatenate(rows, 0) if rows else np.zeros((tile, LABEL_WIDTH, 3), np.uint8)


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
    sheet = contact_sheet(clips, columns, tile)
    out = Path(out) if out else root / "preview.png"
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - encoding a uint8 RGB image does not fail
        raise RuntimeError("could not encode the preview PNG")
    atomic_write_bytes(out, png.tobytes())
    return out
