"""Soft shadow and ambient occlusion the hand casts on the face.

The generator's per-point test (``data.synth.raster.shadow_and_ao``: the key light's visibility past the hand's
collision spheres with a penumbra that widens with distance, and the spheres' occlusion of the sky) evaluated at
every warped skin pixel near the hand, toward the dominant direction of the photo's own lighting.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from interanimate.data.synth.raster import shadow_and_ao

AO_STRENGTH = 0.3


@njit(cache=True)
def _shade_box(points, normals, mask, spheres, bound, lx, ly, lz, direct, y0, y1, x0, x1, out):
    for i in range(y0, y1):
        for j in range(x0, x1):
            if not mask[i, j]:
                continue
            # float32 points and normals widen exactly to the double precision the test runs in
            vis, occ = shadow_and_ao(np.float64(points[i, j, 0]), np.float64(points[i, j, 1]),
                                     np.float64(points[i, j, 2]), np.float64(normals[i, j, 0]),
                                     np.float64(normals[i, j, 1]), np.float64(normals[i, j, 2]), spheres, bound, lx, ly,
                                     lz)
            out[i, j] = max(0.0, 1.0 - direct * (1.0 - vis) - AO_STRENGTH * occ)


def hand_shadow(points: np.ndarray, normals: np.ndarray, mask: np.ndarray, spheres: np.ndarray,
                light: np.ndarray, direct: float, box: tuple[int, int, int, int]) -> np.ndarray:
    """``(H, W)`` multiplicative shading of the face (1 = unshadowed) inside ``box`` (y0, y1, x0, x1)."""
    out = np.ones(mask.shape, np.float64)
    centre = spheres[:, :3].mean(0)
    radius = float(np.max(np.linalg.norm(spheres[:, :3] - centre, axis=1) + spheres[:, 3]))
    bound = np.array([*centre, radius])
    y0, y1, x0, x1 = box
    if y1 <= y0 or x1 <= x0:
        return out
    inside = np.s_[y0:y1, x0:x1]  # only the box is shaded
    _shade_box(np.ascontiguousarray(points[inside]), np.ascontiguousarray(normals[inside]),
               np.ascontiguousarray(mask[inside]), np.ascontiguousarray(spheres, np.float64), bound, float(light[0]),
               float(light[1]), float(light[2]), float(direct), 0, y1 - y0, 0, x1 - x0, out[inside])
    return out
