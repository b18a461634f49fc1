"""Small mesh helpers: grid topology, outward orientation and vertex normals."""

from __future__ import annotations

import numpy as np
from numba import njit


def grid_faces(rows: int, cols: int, wrap: bool = True, offset: int = 0) -> np.ndarray:
    """Triangles of a ``rows x cols`` vertex grid (row-major), columns wrapping around when ``wrap``."""
    col_count = cols if wrap else cols - 1
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(col_count), indexing="ij")
    i, j = i.ravel(), j.ravel()
    jn = (j + 1) % cols
    a = i * cols + j
    b = i * cols + jn
    c = (i + 1) * cols + jn
    d = (i + 1) * cols + j
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return (faces + offset).astype(np.int32)


def orient_outward(vertices: np.ndarray, faces: np.ndarray, inside_point: np.ndarray | None = None,
                   axis: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Flip triangles whose normal points toward ``inside_point`` (or toward the segment ``axis``).

    Valid for star-shaped pieces (ellipsoids, radial heads) and tubes around an axis, which is all
    this package builds; it makes the rasteriser's back-face culling trustworthy.
    """
    v0, v1, v2 = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    normal = np.cross(v1 - v0, v2 - v0)
    centroid = (v0 + v1 + v2) / 3.0
    if axis is not None:
        start, end = axis
        direction = (end - start) / np.linalg.norm(end - start)
        t = (centroid - start) @ direction
        inside = start + t[:, None] * direction
    else:
        inside = np.broadcast_to(np.zeros(3) if inside_point is None else inside_point, centroid.shape)
    flip = np.einsum("ij,ij->i", normal, centroid - inside) < 0
    out = faces.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


@njit(cache=True)
def vertex_normals(vertices, faces, out):
    """Area-weighted vertex normals of a triangle mesh, written into ``out`` (N, 3)."""
    out[:] = 0.0
    for t in range(faces.shape[0]):
        i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
        ax = vertices[i1, 0] - vertices[i0, 0]
        ay = vertices[i1, 1] - vertices[i0, 1]
        az = vertices[i1, 2] - vertices[i0, 2]
        bx = vertices[i2, 0] - vertices[i0, 0]
        by = vertices[i2, 1] - vertices[i0, 1]
        bz = vertices[i2, 2] - vertices[i0, 2]
        nx = ay * bz - az * by
        ny = az * bx - ax * bz
        nz = ax * by - ay * bx
        for i in (i0, i1, i2):
            out[i, 0] += nx
            out[i, 1] += ny
            out[i, 2] += nz
    for i in range(out.shape[0]):
        n = np.sqrt(out[i, 0] ** 2 + out[i, 1] ** 2 + out[i, 2] ** 2)
        if n > 0:
            out[i, 0] /= n
            out[i, 1] /= n
            out[i, 2] /= n


def unit_sphere(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """A latitude-longitude unit sphere (poles included as collapsed rings) and its faces."""
    theta = np.linspace(0.0, np.pi, rows)
    phi = np.linspace(0.0, 2 * np.pi, cols, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    verts = np.stack([np.sin(t) * np.cos(p), np.cos(t), np.sin(t) * np.sin(p)], -1).reshape(-1, 3)
    faces = orient_outward(verts, grid_faces(rows, cols))
    return verts, faces
