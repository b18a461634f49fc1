"""RGB -> planar Y'CbCr (BT.601, studio range) for the video encoder, in one pass per frame.

``io.rgb_to_yuv`` defines the conversion: each pixel's float32 ``rgb @ M.T + offset`` (``M`` and the offset in
single precision), rounded half to even, and for 4:2:0 the chroma of each 2×2 block as the float32 mean
``(((a + b) + c) + d) · 0.25`` of its four unrounded values. The matrix product runs through BLAS, whose single
precision kernel accumulates ``fma(b, M[:, 2], fma(g, M[:, 1], r · M[:, 0]))``; ``_ycc`` computes exactly that. A
float32 fused multiply-add is done here in double precision, which is exact for these operands (a byte times a
float32 coefficient of magnitude at least 2⁻⁴ is a multiple of 2⁻²⁷ below 2⁸, and so is the sum with another
such product rounded to float32: 35 significant bits), so its one rounding to float32 is the fused operation's.
``tests/test_images.py`` checks the result against the array formulation for every colour and several frame
shapes.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _ycc(r, g, b, m0, m1, m2, offset):
    """One channel of a pixel's float32 Y'CbCr before rounding: bytes ``r, g, b`` and the channel's coefficients
    ``m0, m1, m2`` as float64, its float32 ``offset`` (see the module docstring)."""
    acc = np.float32(r * m0)
    acc = np.float32(g * m1 + np.float64(acc))
    acc = np.float32(b * m2 + np.float64(acc))
    return np.float32(acc + offset)


@njit(cache=True)
def _byte(v):
    return np.uint8(min(max(np.rint(v), np.float32(0.0)), np.float32(255.0)))


@njit(cache=True)
def _coefficients(m, offset):
    # Held in locals: read through the arrays, every store to the output could alias them and force a reload.
    return (np.float64(m[0, 0]), np.float64(m[0, 1]), np.float64(m[0, 2]), np.float64(m[1, 0]), np.float64(m[1, 1]),
            np.float64(m[1, 2]), np.float64(m[2, 0]), np.float64(m[2, 1]), np.float64(m[2, 2]), offset[0], offset[1],
            offset[2])


@njit(cache=True)
def planar_444(frame, m, offset, out):
    """``out (3, H, W) uint8``: the Y', Cb and Cr planes of ``frame (H, W, 3) uint8``."""
    m00, m01, m02, m10, m11, m12, m20, m21, m22, o0, o1, o2 = _coefficients(m, offset)
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            r, g, b = np.float64(frame[i, j, 0]), np.float64(frame[i, j, 1]), np.float64(frame[i, j, 2])
            out[0, i, j] = _byte(_ycc(r, g, b, m00, m01, m02, o0))
            out[1, i, j] = _byte(_ycc(r, g, b, m10, m11, m12, o1))
            out[2, i, j] = _byte(_ycc(r, g, b, m20, m21, m22, o2))


@njit(cache=True)
def planar_420(frame, m, offset, out):
    """``out (H·3/2, W) uint8``: the Y' plane of ``frame (H, W, 3) uint8`` (even sides), then Cb and Cr at half
    resolution, each ``(H/2) · (W/2)`` bytes in row order, as yuv420p lays them out."""
    m00, m01, m02, m10, m11, m12, m20, m21, m22, o0, o1, o2 = _coefficients(m, offset)
    height, width = frame.shape[0], frame.shape[1]
    half = width // 2
    flat = out.reshape(out.size)
    cb_start = height * width
    cr_start = cb_start + (height // 2) * half
    quarter = np.float32(0.25)
    # A row pair's running 2×2 sums, added in the reference's order: (0, 0), (0, 1), (1, 0), (1, 1).
    cb = np.empty(half, np.float32)
    cr = np.empty(half, np.float32)
    for i in range(height):
        for j in range(width):
            r, g, b = np.float64(frame[i, j, 0]), np.float64(frame[i, j, 1]), np.float64(frame[i, j, 2])
            flat[i * width + j] = _byte(_ycc(r, g, b, m00, m01, m02, o0))
            u, v = _ycc(r, g, b, m10, m11, m12, o1), _ycc(r, g, b, m20, m21, m22, o2)
            k = j // 2
            if i % 2 == 0 and j % 2 == 0:
                cb[k] = u
                cr[k] = v
            else:
                cb[k] = np.float32(cb[k] + u)
                cr[k] = np.float32(cr[k] + v)
        if i % 2 == 1:
            row = (i // 2) * half
            for k in range(half):
                flat[cb_start + row + k] = _byte(np.float32(cb[k] * quarter))
                flat[cr_start + row + k] = _byte(np.float32(cr[k] * quarter))
