"""Temporal cleaning of landmark tracks: One-Euro smoothing and short-gap filling.

The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a low-pass filter whose cut-off rises
with speed: ``fc = min_cutoff + beta * |dx/dt|``. Slow jitter is removed while fast hand motion
(pokes, swipes) passes with little lag, which a fixed moving average cannot do.
"""

from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(track: np.ndarray, valid: np.ndarray, fps: float, min_cutoff: float = 1.5, beta: float = 0.02,
             d_cutoff: float = 1.0, scale: np.ndarray | None = None) -> np.ndarray:
    """Smooth ``(F, ...)`` values frame by frame; the filter restarts after every invalid frame.

    Args:
        track: per-frame values (any trailing shape); invalid frames are passed through untouched.
        valid: ``(F,)`` which frames hold a measurement.
        fps: frame rate (the filter works in seconds).
        min_cutoff: cut-off in Hz at rest; lower = smoother when still.
        beta: speed coefficient; higher = less lag in fast motion. Speeds are divided by ``scale``
            (per frame, e.g. the face size in pixels) so one setting fits any resolution.
        d_cutoff: cut-off in Hz of the speed estimate.
        scale: ``(F,)`` size normaliser for speeds; 1 when ``None``.
    """
    out = np.array(track, dtype=np.float64, copy=True)
    dt = 1.0 / max(fps, 1e-3)
    a_d = _alpha(d_cutoff, dt)
    prev = prev_d = None
    for f in range(len(out)):
        if not valid[f] or not np.all(np.isfinite(out[f])):
            prev = prev_d = None
            continue
        x = out[f]
        if prev is None:
            prev, prev_d = x.copy(), np.zeros_like(x)
            continue
        d = (x - prev) / dt
        d_hat = a_d * d + (1 - a_d) * prev_d
        s = 1.0 if scale is None else max(float(scale[f]), 1e-6)
        cutoff = min_cutoff + beta * np.abs(d_hat) / s * 100.0  # speed in % of the scale per second
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * prev
        out[f] = x_hat
        prev, prev_d = x_hat, d_hat
    return out.astype(track.dtype, copy=False)


def fill_gaps(track: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate runs of at most ``max_gap`` invalid frames that have valid frames on both sides.

    Returns the filled track and a ``(F,)`` mask of the frames that were filled. Leading/trailing gaps
    and longer gaps stay invalid: a hand that leaves for longer has really left.
    """
    out = np.array(track, copy=True)
    filled = np.zeros(len(valid), bool)
    idx = np.flatnonzero(valid)
    for a, b in zip(idx[:-1], idx[1:]):
        gap = b - a - 1
        if 0 < gap <= max_gap:
            for k in range(1, gap + 1):
                t = k / (gap + 1)
                out[a + k] = (1 - t) * track[a] + t * track[b]
                filled[a + k] = True
    return out, filled
