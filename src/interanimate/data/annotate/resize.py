"""Area down-scaling of frames, bit-identical to ``cv2.resize(INTER_AREA)`` and faster where the scale allows.

The commonest input, 720p (and its portrait form), is scaled by 3/4 to 960 px. For that scale OpenCV takes
its general area path (``resizeArea_`` in ``imgproc/src/resize.cpp``): per output pixel a 2x2 source block
weighted by 3/4 and 1/4, 1/2 and 1/2, or 1/4 and 3/4 on each axis, accumulated in float32 and rounded to
the nearest integer, ties to even (``cvRound``). Those products and sums are all exact in float32 (multiples
of 1/16 below 256), so OpenCV's result is the integer sum ``v`` of weights in sixteenths times pixels, rounded:
``(v + 7 + ((v >> 4) & 1)) >> 4``. A numba kernel computes exactly that, rows first (contiguous, so it
vectorises) then columns, in about a third of OpenCV's time on one core.

For whole-number factors (the shot-cut thumbnail: 960x540 to 64x36 is 15x15) OpenCV sums each block in
integers and rounds ``sum * (1.f / area)`` in float32 (``resizeAreaFast_``), except for 2x2, which it
vectorises with integer rounding; a second kernel does the same for every other factor pair. Every other
scale goes to ``cv2.resize``. ``tests/test_annotate_inputs.py`` checks both kernels against OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

ALIGNMENT = 64  # bytes; LiteRT (MediaPipe) copies and warns about input buffers that are not aligned to this


def aligned_empty(shape: tuple[int, ...], dtype=np.uint8, alignment: int = ALIGNMENT) -> np.ndarray:
    """An uninitialised C-contiguous array whose buffer starts on an ``alignment``-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(nbytes + alignment, np.uint8)
    offset = -buffer.ctypes.data % alignment
    return buffer[offset:offset + nbytes].view(dtype).reshape(shape)


def is_three_quarters(source_shape: tuple[int, ...], width: int, height: int) -> bool:
    """Whether ``(H, W, 3)`` to ``width`` x ``height`` is the 3/4 scale the kernel computes."""
    source_height, source_width = source_shape[:2]
    return (len(source_shape) == 3 and source_shape[2] == 3 and source_width % 4 == 0 and source_height % 4 == 0
            and width * 4 == source_width * 3 and height * 4 == source_height * 3)


def resize_area(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)`` (the same pixels) into a new
    ``ALIGNMENT``-aligned array; ``frame``: ``(H, W, 3)`` uint8 RGB, any strides."""
    out = aligned_empty((height, width) + frame.shape[2:], frame.dtype)
    factors = block_factors(frame.shape, width, height)
    if frame.dtype == np.uint8 and is_three_quarters(frame.shape, width, height):
        _kernel(_three_quarters_kernel)(np.ascontiguousarray(frame), out)
    elif frame.dtype == np.uint8 and frame.ndim == 3 and factors is not None:
        _kernel(_block_mean_kernel)(np.ascontiguousarray(frame), factors[0], factors[1], out)
    else:
        cv2.resize(frame, (width, height), dst=out, interpolation=cv2.INTER_AREA)
    return out


def block_factors(source_shape: tuple[int, ...], width: int, height: int) -> tuple[int, int] | None:
    """``(rows, columns)`` per output pixel when both are whole numbers (and not both 2, which OpenCV rounds
    differently), else ``None``."""
    source_height, source_width = source_shape[:2]
    if width <= 0 or height <= 0 or source_width % width or source_height % height:
        return None
    factors = source_height // height, source_width // width
    return factors if min(factors) >= 1 and factors != (1, 1) and factors != (2, 2) else None


_KERNELS: dict = {}


def _kernel(function):
    """``function`` compiled (numba is imported, and the kernel loaded from its cache, on first use only)."""
    if function not in _KERNELS:
        from numba import njit

        _KERNELS[function] = njit(cache=True, nogil=True)(function)
    return _KERNELS[function]


def _three_quarters_kernel(src, dst):
    """``(4a, 4b, 3)`` uint8 -> ``(3a, 3b, 3)``: OpenCV's area weights, summed in sixteenths and rounded."""
    source_height, source_width, _ = src.shape
    rows = src.reshape(source_height, source_width * 3)
    out_rows = dst.reshape(dst.shape[0], dst.shape[1] * 3)
    size = source_width * 3
    column = np.empty(size, np.int32)  # one output row's vertical sums, in quarters
    for y in range(dst.shape[0]):
        group, phase = divmod(y, 3)
        top = 4 * group + phase  # phases 0, 1, 2 weigh rows (top, top + 1) by (3, 1), (2, 2), (1, 3) quarters
        upper = 3 - phase if phase != 1 else 2
        lower = 4 - upper
        row_a, row_b = rows[top], rows[top + 1]
        for i in range(size):
            column[i] = upper * np.int32(row_a[i]) + lower * np.int32(row_b[i])
        out = out_rows[y]
        for x in range(source_width // 4):
            s, o = 12 * x, 9 * x  # 4 source pixels -> 3 output pixels, 3 channels each
            for c in range(3):
                p0, p1, p2, p3 = column[s + c], column[s + 3 + c], column[s + 6 + c], column[s + 9 + c]
                v0 = 3 * p0 + p1
                v1 = 2 * (p1 + p2)
                v2 = p2 + 3 * p3
                # v / 16 rounded half to even, as cvRound does: ties go up only from an odd quotient
                out[o + c] = (v0 + 7 + ((v0 >> 4) & 1)) >> 4
                out[o + 3 + c] = (v1 + 7 + ((v1 >> 4) & 1)) >> 4
                out[o + 6 + c] = (v2 + 7 + ((v2 >> 4) & 1)) >> 4


def _block_mean_kernel(src, rows_per_pixel, columns_per_pixel, dst):
    """``(a * r, b * c, n)`` uint8 -> ``(a, b, n)``: block sums times ``1 / (r * c)`` in float32, rounded to even."""
    source_height, source_width, channels = src.shape
    rows = src.reshape(source_height, source_width * channels)
    size = source_width * channels
    column = np.empty(size, np.int32)
    scale = np.float32(1.0) / np.float32(rows_per_pixel * columns_per_pixel)
    for y in range(dst.shape[0]):
        column[:] = 0
        for k in range(rows_per_pixel):
            row = rows[y * rows_per_pixel + k]
            for i in range(size):
                column[i] += np.int32(row[i])
        for x in range(dst.shape[1]):
            for c in range(channels):
                total = np.int32(0)
                for k in range(columns_per_pixel):
                    total += column[(x * columns_per_pixel + k) * channels + c]
                dst[y, x, c] = np.uint8(np.rint(np.float32(total) * scale))
