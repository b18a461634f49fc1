"""Sheets of frames and the files they are written to (data/images.py), and strict-JSON records (data/io.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np

from interanimate.data.images import spread_indices, text_tile, tile_rows, write_png
from interanimate.data.io import json_safe


def _tile(value: int, height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def test_tiles_are_laid_out_with_gaps_and_short_rows_padded():
    rows = [[_tile(10, 4, 3), _tile(20, 4, 5)], [_tile(30, 2, 3)]]
    sheet = tile_rows(rows, gap=1, gap_value=255, fill_value=7)
    assert sheet.shape == (4 + 1 + 2, 3 + 1 + 5, 3) and sheet.dtype == np.uint8
    assert (sheet[:4, :3] == 10).all() and (sheet[:4, 3] == 255).all() and (sheet[:4, 4:] == 20).all()
    assert (sheet[4] == 255).all()  # the gap between rows spans the sheet
    assert (sheet[5:, :3] == 30).all() and (sheet[5:, 3:] == 7).all()  # the short row, padded on the right


def test_without_a_gap_tiles_touch():
    sheet = tile_rows([[_tile(1, 2, 2), _tile(2, 2, 2)], [_tile(3, 2, 2), _tile(4, 2, 2)]])
    assert sheet.shape == (4, 4, 3)
    assert [int(sheet[y, x, 0]) for y, x in ((0, 0), (0, 2), (2, 0), (2, 2))] == [1, 2, 3, 4]


def test_spread_indices_cover_the_clip_once_each():
    assert spread_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert spread_indices(3, 8).tolist() == [0, 1, 2]  # a short clip shows every frame once


def test_text_tile_draws_on_its_background():
    cell = text_tile("label", 20, 80, (4, 14), 0.45, (255, 255, 255), 0)
    assert cell.shape == (20, 80, 3) and cell.max() == 255 and (cell[:, 70:] == 0).all()


def test_png_is_written_in_rgb_order_and_reads_back(tmp_path):
    image = np.zeros((6, 8, 3), np.uint8)
    image[..., 0] = 200  # red
    path = write_png(image, tmp_path / "deep" / "picture.png")
    assert path == tmp_path / "deep" / "picture.png"
    assert np.array_equal(cv2.imread(str(path))[..., ::-1], image)
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left behind


def test_json_safe_gives_strict_json():
    value = {"a": (1, np.int64(2)), "b": np.float32(0.5), "c": [float("nan"), np.inf], "d": np.arange(3),
             "e": {"f": True, "g": None, "h": "text"}}
    safe = json_safe(value)
    assert safe == {"a": [1, 2], "b": 0.5, "c": [None, None], "d": [0, 1, 2], "e": {"f": True, "g": None, "h": "text"}}
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
    assert type(safe["a"][1]) is int and type(safe["b"]) is float


def test_compiled_colour_conversion_gives_the_array_formulation_s_bytes():
    """``rgb_to_yuv``'s compiled pass equals its definition (``_rgb_to_yuv_arrays``) for every 24-bit colour, laid out
    as 512 px frames (4:2:0 and 4:4:4), and on random frames of other shapes, odd ones included."""
    from interanimate.data.io import _rgb_to_yuv_arrays, rgb_to_yuv

    colours = np.arange(1 << 24, dtype=np.uint32)
    for chunk in colours.reshape(64, 512 * 512):
        frame = np.stack([chunk >> 16, (chunk >> 8) & 255, chunk & 255], -1).astype(np.uint8).reshape(512, 512, 3)
        for subsample in (True, False):
            assert np.array_equal(rgb_to_yuv(frame, subsample), _rgb_to_yuv_arrays(frame, subsample))
    rng = np.random.default_rng(0)
    for shape in [(2, 2), (1, 1), (3, 5), (97, 130), (511, 255), (6, 1000), (64, 18)]:
        frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        for subsample in (False,) + ((True,) if shape[0] % 2 == 0 and shape[1] % 2 == 0 else ()):
            fast, reference = rgb_to_yuv(frame, subsample), _rgb_to_yuv_arrays(frame, subsample)
            assert fast.shape == reference.shape and fast.dtype == np.uint8
            assert np.array_equal(fast, reference)
