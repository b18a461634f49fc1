"""Pictures for people to look at: frames tiled into sheets, text cells, and PNG files written atomically.

Every contact sheet, validation strip and report strip of the package is laid out by :func:`tile_rows`, so they
share one notion of rows, gaps and padding. Images are RGB ``(H, W, 3)`` uint8 throughout; the BGR order OpenCV
wants is applied only when encoding.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from interanimate.data.io import atomic_write_bytes


def spread_indices(length: int, count: int) -> np.ndarray:
    """Up to ``count`` distinct frame indices spread evenly over ``length`` frames, first and last included."""
    return np.unique(np.linspace(0, length - 1, min(count, length)).round().astype(int))


def tile_rows(rows: Sequence[Sequence[np.ndarray]], gap: int = 0, gap_value: int = 255,
              fill_value: int = 0) -> np.ndarray:
    """Tiles laid out left to right within a row and rows top to bottom, as one ``(H, W, 3)`` uint8 image.

    The tiles of a row share their height. ``gap`` pixels of ``gap_value`` separate neighbouring tiles and rows;
    rows narrower than the widest are padded on the right with ``fill_value``.
    """
    lines = []
    for tiles in rows:
        height = tiles[0].shape[0]
        parts = [tiles[0]]
        for tile in tiles[1:]:
            parts += [np.full((height, gap, 3), gap_value, np.uint8), tile]
        lines.append(np.concatenate(parts, axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=fill_value)
             for line in lines]
    parts = [lines[0]]
    for line in lines[1:]:
        parts += [np.full((gap, width, 3), gap_value, np.uint8), line]
    return np.concatenate(parts, axis=0)


def text_tile(text: str, height: int, width: int, origin: tuple[int, int], scale: float,
              colour: tuple[int, int, int], background: int) -> np.ndarray:
    """A ``(height, width, 3)`` cell of ``background`` with ``text`` drawn from ``origin`` (its baseline's left
    end), for row titles and headers."""
    cell = np.full((height, width, 3), background, np.uint8)
    cv2.putText(cell, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return cell


def encode_png(image: np.ndarray) -> bytes:
    """An RGB (or grey) uint8 image as PNG bytes."""
    bgr = image[..., ::-1] if image.ndim == 3 else image
    ok, data = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:  # pragma: no cover - encoding a uint8 image does not fail
        raise ValueError("could not encode the image as PNG")
    return data.tobytes()


def figure_png(fig, **savefig_options) -> bytes:
    """A matplotlib figure as PNG bytes (``savefig_options`` such as ``dpi`` go to ``savefig``); the figure is
    closed, so charts made in a loop do not pile up."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig_options)
    plt.close(fig)
    return buffer.getvalue()


def write_png(image: np.ndarray, path: Path) -> Path:
    """Write an RGB uint8 image to ``path`` as PNG, atomically (see :func:`atomic_write_bytes`)."""
    path = Path(path)
    atomic_write_bytes(path, encode_png(image))
    return path
