"""The parametric head: a closed radial surface with facial features, ears, hair, landmarks and regions.

Coordinates (head frame, metres): x to the subject's left (the image's right in a frontal view), y
down, z away from the camera, origin between the eyes on the head's vertical axis; the face looks
toward -z. The surface is described in cylindrical terms: at height ``y`` and azimuth ``a`` (0 straight
ahead, positive toward the subject's left) the horizontal distance from the axis is ``radius(a, y)``:

- a horizontal cross-section that is a superellipse (half-width ``W(y)``, front depth ``Df(y)``, back
  depth ``Db(y)``), closed by spherical domes at the crown and under the chin;
- facial relief added as bumps in ``(s, y)`` where ``s = a * S0`` is arc length across the face: nose
  ridge and alae, brow ridge, eye sockets and eyeballs, cheekbones, lips on a muzzle, chin;
- a hair shell above the hairline.

Because the surface is a height field over ``(a, y)``, a point's inside/outside test and its distance
to the skin are one radius evaluation, which keeps collision queries cheap (``physics.py``). Every
landmark and region is defined in ``(a, y)`` "material" coordinates, so they stay attached to the
same skin when the skin deforms or the head moves.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from numba import njit

from interanimate.data.synth.mesh import grid_faces, orient_outward, unit_sphere
from interanimate.data.synth.subject import SubjectParams
from interanimate.taxonomy import FACE_REGIONS

# Indices into the per-subject feature vector shared by the region function and the shader.
F_EYE_A, F_EYE_HW, F_EYE_HUP, F_EYE_HLO, F_BROW_Y, F_BROW_T = 0, 1, 2, 3, 4, 5
F_NOSE_TIP_Y, F_NOSE_BOTTOM_Y, F_NOSE_HW, F_MOUTH_Y, F_MOUTH_HW, F_LIP_UP = 6, 7, 8, 9, 10, 11
F_LIP_LO, F_CHIN_Y, F_BOTTOM_Y, F_HAIRLINE_Y, F_TOP_Y, F_NASION_Y = 12, 13, 14, 15, 16, 17
F_S0, F_IRIS_R, F_BROW_IN_A, F_BROW_OUT_A = 18, 19, 20, 21
F_HL = 22  # 7 hairline heights at |a| = HAIRLINE_AZIMUTHS
F_HAIR_T, F_HAIR_FRONT_GAP, F_SCALE, F_NOSE_PROJ = 29, 30, 31, 32
NUM_FEATURES = 33
HAIRLINE_AZIMUTHS = np.array([0.0, 0.5, 1.0, 1.35, 1.7, 2.3, np.pi])

R_FOREHEAD, R_NOSE, R_CHIN = (FACE_REGIONS.index(n) for n in ("forehead", "nose", "chin"))
R_CHEEK_L, R_CHEEK_R, R_MOUTH, R_JAW = (FACE_REGIONS.index(n) for n in ("cheek_left", "cheek_right", "mouth", "jaw"))
R_EYE_L, R_EYE_R, R_TEMPLE_L, R_TEMPLE_R = (FACE_REGIONS.index(n) for n in ("eye_left", "eye_right", "temple_left", "temple_right"))
FACE_SIDE_LIMIT = 1.45  # |azimuth| beyond which skin is side of head, not face (radians)

# Bump kinds: Gaussian in both directions, or flat-topped (super-Gaussian) across s for brows and lips.
BUMP_GAUSS, BUMP_FLAT = 0.0, 1.0

# Materials per vertex of the head/body layer.
MAT_HEAD, MAT_EAR, MAT_NECK, MAT_CLOTH = 0, 1, 2, 3


@njit(cache=True)
def _interp(x, xs, vs):
    return np.interp(x, xs, vs)


@njit(cache=True)
def hair_weight(a, y, feat):
    """1 on hair, 0 on skin, smooth across the hairline (a few mm wide)."""
    abs_a = abs(a)
    line = np.interp(abs_a, HAIRLINE_AZIMUTHS, feat[F_HL:F_HL + 7])
    t = (line - y) / 0.004 + 0.5
    if t <= 0.0:
        return 0.0
    if t >= 1.0:
        w = 1.0
    else:
        w = t * t * (3 - 2 * t)
    # A bald crown keeps hair only as a fringe at the sides and back.
    if feat[F_HAIR_FRONT_GAP] > 0.0 and y < -0.05 * feat[F_SCALE]:
        return 0.0
    return w


@njit(cache=True)
def head_radius(a, y, prof_w, prof_df, prof_db, bumps, feat):
    """Horizontal distance from the head axis to the surface at azimuth ``a`` and height ``y`` (metres)."""
    scale = feat[F_SCALE]
    top, bottom = feat[F_TOP_Y], feat[F_BOTTOM_Y]
    if y <= top or y >= bottom:
        return 0.0
    width = np.interp(y, prof_w[0], prof_w[1])
    front = np.interp(y, prof_df[0], prof_df[1])
    back = np.interp(y, prof_db[0], prof_db[1])
    # Spherical domes close the crown and the underside of the jaw.
    crown = top + 0.055 * scale
    dome = 1.0
    if y < crown:
        u = (y - crown) / (top - crown)
        dome = np.sqrt(max(0.0, 1.0 - u * u))
    under = bottom - 0.02 * scale
    if y > under:
        u = (y - under) / (bottom - under)
        dome = np.sqrt(max(0.0, 1.0 - u * u))
    width *= dome
    ca, sa = np.cos(a), abs(np.sin(a))
    depth = (front if ca > 0 else back) * dome
    n = 2.5 if ca > 0 else 2.2
    r = (sa ** n / width ** n + abs(ca) ** n / depth ** n) ** (-1.0 / n)
    if ca > -0.2:
        s = a * feat[F_S0]
        relief = 0.0
        for k in range(bumps.shape[0]):
            ds = (s - bumps[k, 0]) / bumps[k, 2]
            dy = (y - bumps[k, 1]) / bumps[k, 3]
            if bumps[k, 5] == 1.0:
                e = ds * ds * ds * ds + 0.5 * dy * dy
            else:
                e = 0.5 * (ds * ds + dy * dy)
            if e < 12.0:
                relief += bumps[k, 4] * np.exp(-e)
        # Nose: a ridge whose height and width grow from the nasion to the tip, then tuck under.
        nasion, tip, base = feat[F_NASION_Y], feat[F_NOSE_TIP_Y], feat[F_NOSE_BOTTOM_Y]
        if nasion - 0.012 * scale < y < base + 0.004 * scale and abs(s) < 0.03 * scale:
            if y < nasion:
                h = 0.004 * (1.0 - (nasion - y) / (0.012 * scale))
            elif y < tip:
                u = (y - nasion) / (tip - nasion)
                h = 0.004 + 0.017 * u ** 1.3
            else:
                u = (y - tip) / (base + 0.004 * scale - tip)
                h = 0.021 * np.sqrt(max(0.0, 1.0 - u * u))
            sig = (0.005 + 0.005 * min(1.0, max(0.0, (y - nasion) / (tip - nasion)))) * feat[F_NOSE_HW] / 0.0115
            relief += h * scale * feat[F_NOSE_PROJ] * np.exp(-0.5 * (s / sig) ** 2)
        r += relief
    hair = hair_weight(a, y, feat)
    if hair > 0.0:
        thick = feat[F_HAIR_T]
        r += thick * hair
    return r


@njit(cache=True)
def head_radius_many(a, y, prof_w, prof_df, prof_db, bumps, feat, out):
    for i in range(a.shape[0]):
        out[i] = head_radius(a[i], y[i], prof_w, prof_df, prof_db, bumps, feat)


@njit(cache=True)
def region_of(a, y, feat):
    """Face region index (``taxonomy.FACE_REGIONS``) of the skin at ``(a, y)``; -1 off the face."""
    abs_a = abs(a)
    if abs_a > FACE_SIDE_LIMIT or y >= feat[F_BOTTOM_Y] or hair_weight(a, y, feat) > 0.5:
        return -1
    s0 = feat[F_S0]
    scale = feat[F_SCALE]
    left = a > 0
    eye_a, eye_hw = feat[F_EYE_A], feat[F_EYE_HW]
    du = (abs_a - eye_a) / (eye_hw * 1.45)
    dv = y / (0.0125 * scale)
    if du * du + dv * dv < 1.0:
        return R_EYE_L if left else R_EYE_R
    mouth_y, mouth_hw = feat[F_MOUTH_Y], feat[F_MOUTH_HW]
    du = a / (mouth_hw * 1.35)
    dv = (y - mouth_y) / (0.0165 * scale)
    if du * du + dv * dv < 1.0:
        return R_MOUTH
    nose_half = (0.065 + 0.11 * min(1.0, max(0.0, (y - feat[F_NASION_Y]) / (feat[F_NOSE_TIP_Y] - feat[F_NASION_Y])))) * 0.09 * scale / s0
    if feat[F_NASION_Y] - 0.002 * scale < y < feat[F_NOSE_BOTTOM_Y] + 0.003 * scale and abs_a < nose_half:
        return R_NOSE
    brow = feat[F_BROW_Y]
    if y < brow + 0.003 * scale:
        if abs_a < 0.72:
            return R_FOREHEAD
        if y < 0.004 * scale:
            return R_TEMPLE_L if left else R_TEMPLE_R
    chin_half = 0.36
    if y > mouth_y + 0.012 * scale and abs_a < chin_half:
        return R_CHIN
    if y > mouth_y - 0.006 * scale and abs_a >= chin_half:
        return R_JAW
    if y > feat[F_CHIN_Y] - 0.004 * scale:
        return R_JAW if abs_a >= chin_half else R_CHIN
    if abs_a > 1.05 and y < 0.004 * scale:
        return R_TEMPLE_L if left else R_TEMPLE_R
    return R_CHEEK_L if left else R_CHEEK_R


@njit(cache=True)
def region_many(a, y, feat, out):
    for i in range(a.shape[0]):
        out[i] = region_of(a[i], y[i], feat)


def _azimuths(cols: int) -> np.ndarray:
    # Dense columns across the face, sparse at the never-seen back of the head.
    t = np.linspace(-1.0, 1.0, cols, endpoint=False)
    return np.pi * (0.62 * t + 0.38 * t ** 3)


@njit(cache=True)
def _footprints(a, y, table, grids, points, surface, normal, height):
    """Bilinear footprints of ``HeadModel.height_above``'s radius table at material points ``(a, y)``: the surface
    point, its outward unit normal and, with ``points (N, 3)`` (empty: skipped), their heights along that normal.
    ``grids``: the table's first ``a``, step and last index, then the same for ``y``."""
    for k in range(a.shape[0]):
        u = min(max((a[k] - grids[0]) / grids[1], 0.0), grids[2])
        v = min(max((y[k] - grids[3]) / grids[4], 0.0), grids[5])
        i, j = int(u), int(v)
        du, dv = u - i, v - j
        r = ((table[i, j, 0] * (1 - du) + table[i + 1, j, 0] * du) * (1 - dv)
             + (table[i, j + 1, 0] * (1 - du) + table[i + 1, j + 1, 0] * du) * dv)
        r_a = ((table[i, j, 1] * (1 - du) + table[i + 1, j, 1] * du) * (1 - dv)
               + (table[i, j + 1, 1] * (1 - du) + table[i + 1, j + 1, 1] * du) * dv)
        r_y = ((table[i, j, 2] * (1 - du) + table[i + 1, j, 2] * du) * (1 - dv)
               + (table[i, j + 1, 2] * (1 - du) + table[i + 1, j + 1, 2] * du) * dv)
        sa, ca = np.sin(a[k]), np.cos(a[k])
        surface[k, 0], surface[k, 1], surface[k, 2] = r * sa, y[k], -r * ca
        # Outward normal of rho - r(a, y) = 0: the radial direction tilted by the surface slopes.
        slope = r_a / max(r, 0.02)
        nx, ny, nz = sa - slope * ca, -r_y, -ca - slope * sa
        length = np.sqrt(nx * nx + ny * ny + nz * nz)
        normal[k, 0], normal[k, 1], normal[k, 2] = nx / length, ny / length, nz / length
        if points.shape[0]:
            height[k] = ((points[k, 0] - surface[k, 0]) * normal[k, 0] + (points[k, 1] - surface[k, 1]) * normal[k, 1]
                         + (points[k, 2] - surface[k, 2]) * normal[k, 2])


class HeadModel:
    """A subject's head: static mesh, landmarks in material coordinates, regions and collision surface.

    Args:
        subject: the person.
        rows, cols: mesh resolution of the radial surface (heights x azimuths).
    """

    def __init__(self, subject: SubjectParams, rows: int = 84, cols: int = 112):
        self.subject = subject
        p = subject
        s = p.head_scale
        self.scale = s
        lf = p.lower_face
        feat = np.zeros(NUM_FEATURES)
        feat[F_SCALE] = s
        feat[F_S0] = 0.09 * s
        feat[F_EYE_A] = 0.032 * p.eye_spacing / 0.09
        feat[F_EYE_HW] = 0.0135 * p.eye_size / 0.09
        feat[F_EYE_HUP] = 0.0047 * p.eye_size * s
        feat[F_EYE_HLO] = 0.0036 * p.eye_size * s
        feat[F_BROW_Y] = -0.019 * s
        feat[F_BROW_T] = 0.0042 * p.brow_thickness * s
        feat[F_NASION_Y] = -0.003 * s
        feat[F_NOSE_TIP_Y] = 0.044 * lf * p.nose_length * s
        feat[F_NOSE_BOTTOM_Y] = feat[F_NOSE_TIP_Y] + 0.008 * s
        feat[F_NOSE_HW] = 0.0115 * p.nose_width * s
        feat[F_NOSE_PROJ] = p.nose_projection
        feat[F_MOUTH_Y] = 0.071 * lf * s
        feat[F_MOUTH_HW] = 0.0245 * p.mouth_width / 0.09
        feat[F_LIP_UP] = 0.0068 * p.lip_fullness * s
        feat[F_LIP_LO] = 0.0085 * p.lip_fullness * s
        feat[F_CHIN_Y] = 0.103 * lf * s
        feat[F_BOTTOM_Y] = 0.121 * lf * s
        feat[F_TOP_Y] = -0.128 * s
        feat[F_IRIS_R] = 0.0058 * s
        feat[F_BROW_IN_A] = 0.07
        feat[F_BROW_OUT_A] = feat[F_EYE_A] + 0.2
        hairline = (-0.050 * p.hairline - 0.014) * s
        feat[F_HAIRLINE_Y] = hairline
        styles = {
            # hairline heights at |a| = 0, .5, 1, 1.35, 1.7, 2.3, pi (front, temple, above ear, behind ear, nape)
            "shaved": ([0, 0.003, 0.03, 0.045, 0.05, 0.07, 0.08], 0.0012),
            "short": ([0, 0.004, 0.032, 0.045, 0.035, 0.075, 0.085], 0.006),
            "medium": ([0, 0.004, 0.035, 0.07, 0.085, 0.10, 0.105], 0.011),
            "long": ([0, 0.004, 0.04, 0.085, 0.115, 0.13, 0.13], 0.015),
            "bald": ([0, 0.003, 0.03, 0.045, 0.05, 0.07, 0.08], 0.004),
        }
        offsets, thickness = styles[p.hair_style]
        feat[F_HL:F_HL + 7] = hairline + np.array(offsets) * s
        feat[F_HAIR_T] = thickness * s
        feat[F_HAIR_FRONT_GAP] = 1.0 if p.hair_style == "bald" else 0.0
        self.features = feat

        jw, hw, hd = p.jaw_width, p.head_width, p.head_depth
        self.prof_w = np.array([
            [-0.13, -0.10, -0.07, -0.035, 0.0, 0.025, 0.05 * lf, 0.08 * lf, 0.098 * lf, 0.125 * lf],
            [0.062, 0.067, 0.073 * hw, 0.077 * hw, 0.077 * hw, 0.076, 0.071 * jw, 0.063 * jw, 0.047 * jw, 0.031 * jw],
        ]) * s
        self.prof_df = np.array([
            [-0.13, -0.06, -0.035, -0.02, 0.0, 0.02, 0.045 * lf, 0.07 * lf, 0.095 * lf, 0.125 * lf],
            [0.092, 0.093, 0.095, 0.096, 0.089, 0.090, 0.088, 0.086, 0.082, 0.072],
        ]) * s
        self.prof_db = np.array([
            [-0.13, -0.04, 0.02, 0.07, 0.125],
            [0.100 * hd, 0.108 * hd, 0.098 * hd, 0.075, 0.055],
        ]) * s
        eye_s = feat[F_EYE_A] * 0.09 * s
        ms = lf * s
        bumps = [
            # s0, y0, sigma_s, sigma_y, height, kind  (metres)
            (0.0, -0.019 * s, 0.045 * s, 0.0075 * s, 0.0042 * p.brow_ridge * s, BUMP_FLAT),   # brow ridge
            (-eye_s, 0.001 * s, 0.0165 * s, 0.0115 * s, -0.0125 * s, BUMP_GAUSS),            # eye sockets
            (eye_s, 0.001 * s, 0.0165 * s, 0.0115 * s, -0.0125 * s, BUMP_GAUSS),
            (-eye_s, 0.0005 * s, 0.0095 * s, 0.0068 * s, 0.0072 * s, BUMP_GAUSS),            # eyeballs under lids
            (eye_s, 0.0005 * s, 0.0095 * s, 0.0068 * s, 0.0072 * s, BUMP_GAUSS),
            (-0.047 * s, 0.020 * s, 0.016 * s, 0.014 * s, 0.0075 * p.cheekbones * s, BUMP_GAUSS),  # cheekbones
            (0.047 * s, 0.020 * s, 0.016 * s, 0.014 * s, 0.0075 * p.cheekbones * s, BUMP_GAUSS),
            (-0.042 * s, 0.052 * ms, 0.018 * s, 0.016 * s, 0.004 * p.cheek_fullness * s, BUMP_GAUSS),
            (0.042 * s, 0.052 * ms, 0.018 * s, 0.016 * s, 0.004 * p.cheek_fullness * s, BUMP_GAUSS),
            (0.0, 0.068 * ms, 0.028 * s, 0.019 * s, 0.0075 * s, BUMP_GAUSS),                  # muzzle
            (0.0, feat[F_MOUTH_Y] - 0.0052 * s, 0.0225 * p.mouth_width * s, 0.0032 * s, 0.0042 * p.lip_fullness * s, BUMP_FLAT),
            (0.0, feat[F_MOUTH_Y] + 0.0052 * s, 0.0205 * p.mouth_width * s, 0.0036 * s, 0.0048 * p.lip_fullness * s, BUMP_FLAT),
            (0.0, feat[F_MOUTH_Y], 0.024 * p.mouth_width * s, 0.0011 * s, -0.0022 * s, BUMP_FLAT),  # lip line
            (0.0, feat[F_MOUTH_Y] + 0.016 * s, 0.014 * s, 0.0035 * s, -0.0018 * s, BUMP_GAUSS),  # under-lip fold
            (0.0, feat[F_CHIN_Y] - 0.002 * s, 0.0135 * s, 0.0105 * s, 0.0075 * p.chin * s, BUMP_GAUSS),  # chin
            (-0.0125 * p.nose_width * s, feat[F_NOSE_TIP_Y] + 0.003 * s, 0.0052 * s, 0.0048 * s, 0.0072 * p.nose_projection * s, BUMP_GAUSS),
            (0.0125 * p.nose_width * s, feat[F_NOSE_TIP_Y] + 0.003 * s, 0.0052 * s, 0.0048 * s, 0.0072 * p.nose_projection * s, BUMP_GAUSS),
            (0.0, feat[F_NOSE_TIP_Y] - 0.001 * s, 0.0065 * s, 0.0065 * s, 0.0075 * (p.nose_projection - 0.7) * s, BUMP_GAUSS),
        ]
        self.bumps = np.array(bumps, np.float64)
        self._build_mesh(rows, cols)

    # ---- surface queries -------------------------------------------------------------------------
    def radius(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, np.float64).ravel()
        y = np.ascontiguousarray(y, np.float64).ravel()
        out = np.empty_like(a)
        head_radius_many(a, y, self.prof_w, self.prof_df, self.prof_db, self.bumps, self.features, out)
        return out

    def surface_points(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """3-D head-frame points on the undeformed surface at material coordinates ``(a, y)``."""
        a = np.asarray(a, np.float64)
        y = np.asarray(y, np.float64)
        r = self.radius(a, y).reshape(a.shape)
        return np.stack([r * np.sin(a), y, -r * np.cos(a)], -1)

    @cached_property
    def _radius_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The look-up table of :meth:`height_above`: its ``a`` and ``y`` grids and ``(r, dr/da, dr/dy)`` on them;
        built on first use."""
        f = self.features
        a_grid = np.linspace(-2.0, 2.0, 193)
        y_grid = np.linspace(f[F_TOP_Y], f[F_BOTTOM_Y], 129)
        aa, yy = np.meshgrid(a_grid, y_grid, indexing="ij")
        r = self.radius(aa.ravel(), yy.ravel()).reshape(aa.shape)
        r_a, r_y = np.gradient(r, a_grid, y_grid)
        return a_grid, y_grid, np.stack([r, r_a, r_y], -1)

    def height_above(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Approximate signed distance of head-frame points above the undeformed skin, for planning.

        Bilinear look-up in a radius table over the front of the head (``|a| < 2``, 2 mm cells) instead
        of the exact surface, so thousands of candidate hand placements cost milliseconds. The distance
        is measured as the contact solver measures it: along the normal at the radial footprint, and on
        the sides of the nose from the footprint walked toward the foot of the normal through the point.
        Points behind the face or above/below the head are reported far away. Returns the distances and
        the footprints' ``(a, y)``.
        """
        a_grid, y_grid, table = self._radius_table
        points = np.ascontiguousarray(points, np.float64)
        grids = np.array([a_grid[0], a_grid[1] - a_grid[0], len(a_grid) - 1.001,
                          y_grid[0], y_grid[1] - y_grid[0], len(y_grid) - 1.001])

        def footprint(a, y, points=None):
            surface, normal, height = np.empty((len(a), 3)), np.empty((len(a), 3)), np.empty(len(a))
            _footprints(np.ascontiguousarray(a), np.ascontiguousarray(y), table, grids,
                        points if points is not None else np.zeros((0, 3)), surface, normal, height)
            return surface, normal, height

        a, y = self.material_of(points)
        valid = (np.abs(a) <= a_grid[-1]) & (y >= y_grid[0]) & (y <= y_grid[-1])
        surface, normal, height = footprint(a, y, points)
        radial = np.stack([np.sin(a), np.zeros_like(a), -np.cos(a)], -1)
        walk = np.nonzero(valid & (np.sum(normal * radial, -1) < 0.9) & (self.regions(a, y) == R_NOSE))[0]
        for _ in range(2):
            if not len(walk):
                break
            wa, wy = self.material_of(points[walk] - normal[walk] * height[walk, None])
            ws, wn, _ = footprint(wa, wy)
            closer = (np.linalg.norm(points[walk] - ws, axis=1) < np.linalg.norm(points[walk] - surface[walk], axis=1))
            k = walk[closer]
            a[k], y[k], surface[k], normal[k] = wa[closer], wy[closer], ws[closer], wn[closer]
            offset = points[k] - surface[k]
            height[k] = np.linalg.norm(offset, axis=1) * np.sign(np.sum(offset * normal[k], -1))
            walk = k
        return np.where(valid, height, np.inf), a, y

    def surface_normals(self, a: np.ndarray, y: np.ndarray, step: float = 0.0015) -> np.ndarray:
        """Outward unit normals at ``(a, y)`` by central differences of the surface."""
        a = np.asarray(a, np.float64)
        y = np.asarray(y, np.float64)
        r = np.maximum(self.radius(a, y).reshape(a.shape), 1e-3)
        da = step / r
        pa = self.surface_points(a + da, y) - self.surface_points(a - da, y)
        py = self.surface_points(a, y + step) - self.surface_points(a, y - step)
        n = np.cross(pa, py)
        n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
        # The cross product's sign depends on the parametrisation; make it point away from the axis.
        outward = np.stack([np.sin(a), np.zeros_like(a), -np.cos(a)], -1)
        flip = np.sum(n * outward, -1) < 0
        n[flip] *= -1
        return n

    def material_of(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Material coordinates ``(a, y)`` of head-frame points (their azimuth and height)."""
        points = np.asarray(points, np.float64)
        return np.arctan2(points[..., 0], -points[..., 2]), points[..., 1].copy()

    def regions(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, np.float64).ravel()
        y = np.ascontiguousarray(y, np.float64).ravel()
        out = np.empty(a.shape, np.int64)
        region_many(a, y, self.features, out)
        return out

    # ---- landmarks -------------------------------------------------------------------------------
    def landmark_material(self, eye_open: float = 1.0) -> np.ndarray:
        """iBUG-68 landmarks as ``(68, 2)`` material coordinates ``(a, y)``; ``eye_open`` in [0, 1] blinks."""
        f = self.features
        s = self.scale
        s0 = f[F_S0]
        pts = np.zeros((68, 2))
        bottom = f[F_BOTTOM_Y]
        t = np.linspace(0.0, 1.0, 9)
        jaw_a = -1.30 * np.cos(0.5 * np.pi * t)
        jaw_y = 0.010 * s + (bottom - 0.004 * s - 0.010 * s) * np.sin(0.5 * np.pi * t) ** 1.4
        pts[0:9, 0], pts[0:9, 1] = jaw_a, jaw_y
        pts[9:17, 0], pts[9:17, 1] = -jaw_a[7::-1], jaw_y[7::-1]
        brow_t = np.linspace(0.0, 1.0, 5)
        brow_a = f[F_BROW_OUT_A] + (f[F_BROW_IN_A] - f[F_BROW_OUT_A]) * brow_t
        brow_y = f[F_BROW_Y] + 0.004 * s - 0.006 * s * np.sin(np.pi * (0.15 + 0.75 * brow_t)) + 0.002 * s * brow_t
        pts[17:22, 0], pts[17:22, 1] = -brow_a, brow_y
        pts[22:27, 0], pts[22:27, 1] = brow_a[::-1], brow_y[::-1]
        pts[27:31, 0] = 0.0
        pts[27:31, 1] = np.linspace(f[F_NASION_Y] + 0.001 * s, f[F_NOSE_TIP_Y], 4)
        nb = f[F_NOSE_BOTTOM_Y]
        nw = f[F_NOSE_HW] / s0
        pts[31:36, 0] = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * nw * 1.05
        pts[31:36, 1] = nb - np.array([0.0025, 0.0005, 0.0, 0.0005, 0.0025]) * s
        ea, ew = f[F_EYE_A], f[F_EYE_HW]
        up = f[F_EYE_HUP] * (0.15 + 0.85 * eye_open)
        lo = f[F_EYE_HLO]
        up_y = -up + (1.0 - eye_open) * 0.6 * lo
        eye_right = [(-ea - ew, 0.0), (-ea - ew / 3, up_y), (-ea + ew / 3, up_y), (-ea + ew, 0.0005 * s),
                     (-ea + ew / 3, lo), (-ea - ew / 3, lo)]
        eye_left = [(ea - ew, 0.0005 * s), (ea - ew / 3, up_y), (ea + ew / 3, up_y), (ea + ew, 0.0),
                    (ea + ew / 3, lo), (ea - ew / 3, lo)]
        pts[36:42] = eye_right
        pts[42:48] = eye_left
        my, mw = f[F_MOUTH_Y], f[F_MOUTH_HW]
        lu, ll = f[F_LIP_UP], f[F_LIP_LO]
        outer = [(-1.0, 0.0), (-0.6, -0.8), (-0.22, -1.1), (0.0, -1.0), (0.22, -1.1), (0.6, -0.8), (1.0, 0.0),
                 (0.6, 0.75), (0.22, 1.0), (0.0, 1.05), (-0.22, 1.0), (-0.6, 0.75)]
        for k, (u, v) in enumerate(outer):
            pts[48 + k] = (u * mw, my + v * (lu if v < 0 else ll))
        inner = [(-0.85, 0.0), (-0.3, -0.12), (0.0, -0.12), (0.3, -0.12), (0.85, 0.0), (0.3, 0.12), (0.0, 0.12), (-0.3, 0.12)]
        for k, (u, v) in enumerate(inner):
            pts[60 + k] = (u * mw, my + v * ll)
        return pts

    # ---- mesh ------------------------------------------------------------------------------------
    def _build_mesh(self, rows: int, cols: int) -> None:
        f = self.features
        s = self.scale
        top, bottom = f[F_TOP_Y], f[F_BOTTOM_Y]
        u = np.linspace(0.0, 1.0, rows)
        ys = top + (bottom - top) * u
        azim = _azimuths(cols)
        yy, aa = np.meshgrid(ys, azim, indexing="ij")
        a_flat, y_flat = aa.ravel(), yy.ravel()
        verts = self.surface_points(a_flat, y_flat)
        faces = orient_outward(verts, grid_faces(rows, cols), inside_point=np.array([0.0, 0.0, 0.02 * s]))
        material = np.stack([np.sin(a_flat), np.cos(a_flat), y_flat], -1)
        vmat = np.full(len(verts), MAT_HEAD, np.int8)

        # Ears: flattened ellipsoids on the sides, tilted back and protruding; material holds the
        # ear's own normalised coordinates so the shader can darken the concha.
        sphere, sphere_faces = unit_sphere(9, 14)
        ear_parts, ear_faces, ear_mats = [], [], []
        p = self.subject
        ear_y = 0.013 * s
        ear_a = 1.60
        for side in (-1.0, 1.0):
            local = sphere * np.array([0.0045, 0.031 * p.ear_size, 0.019 * p.ear_size]) * s
            tilt = 0.22
            rot_x = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
            prot = side * p.ear_protrusion
            rot_y = np.array([[np.cos(prot), 0, np.sin(prot)], [0, 1, 0], [-np.sin(prot), 0, np.cos(prot)]])
            base = self.surface_points(np.array([side * ear_a]), np.array([ear_y]))[0]
            base = base * np.array([1.0, 1.0, 1.0]) + np.array([side * 0.002 * s, 0.0, 0.008 * s])
            placed = local @ rot_x.T @ rot_y.T + base
            ear_faces.append(sphere_faces + len(verts) + sum(len(e) for e in ear_parts))
            ear_parts.append(placed)
            ear_mats.append(np.stack([sphere[:, 0] * side, sphere[:, 1], sphere[:, 2]], -1))
        verts = np.concatenate([verts] + ear_parts)
        faces = np.concatenate([faces] + ear_faces).astype(np.int32)
        material = np.concatenate([material] + ear_mats)
        vmat = np.concatenate([vmat] + [np.full(len(e), MAT_EAR, np.int8) for e in ear_parts])

        self.vertices = verts.astype(np.float64)
        self.faces = faces
        self.material = material.astype(np.float32)
        self.vmat = vmat
        self.num_surface_vertices = rows * cols
        self.surface_a = a_flat
        self.surface_y = y_flat

        # Neck and shoulders stay with the body frame (the head turns on the neck).
        neck_rows, neck_cols = 8, 28
        t = np.linspace(0.0, 1.0, neck_rows)
        phi = np.linspace(0.0, 2 * np.pi, neck_cols, endpoint=False)
        tt, pp = np.meshgrid(t, phi, indexing="ij")
        neck_r = (0.050 + 0.008 * tt ** 2) * s
        neck = np.stack([neck_r * 1.08 * np.sin(pp), (0.035 + 0.20 * tt) * s, 0.022 * s - neck_r * np.cos(pp)], -1).reshape(-1, 3)
        neck_faces = orient_outward(neck, grid_faces(neck_rows, neck_cols),
                                    axis=(np.array([0, 0.0, 0.022 * s]), np.array([0, 1.0, 0.022 * s])))
        torso_sphere, torso_faces = unit_sphere(14, 28)
        torso = torso_sphere * np.array([0.20, 0.095, 0.115]) * s + np.array([0.0, 0.285, 0.04]) * s
        self.body_vertices = np.concatenate([neck, torso]).astype(np.float64)
        self.body_faces = np.concatenate([neck_faces, torso_faces + len(neck)]).astype(np.int32)
        self.body_vmat = np.concatenate([np.full(len(neck), MAT_NECK, np.int8), np.full(len(torso), MAT_CLOTH, np.int8)])
        self.body_material = np.zeros((len(self.body_vertices), 3), np.float32)
        self.body_material[:, 2] = self.body_vertices[:, 1]

    # ---- anchors used by choreography ------------------------------------------------------------
    def region_anchor(self, region: str) -> tuple[float, float]:
        """A material point near the middle of a face region, with margin to its borders."""
        f = self.features
        s = self.scale
        ea = f[F_EYE_A]
        anchors = {
            "forehead": (0.0, (f[F_BROW_Y] + f[F_HAIRLINE_Y]) / 2 + 0.003 * s),
            "nose": (0.0, f[F_NOSE_TIP_Y] - 0.004 * s),
            "chin": (0.0, f[F_CHIN_Y] - 0.003 * s),
            "cheek_left": (ea + 0.12, 0.032 * s),
            "cheek_right": (-ea - 0.12, 0.032 * s),
            "mouth": (0.0, f[F_MOUTH_Y]),
            "jaw": (0.85, (f[F_MOUTH_Y] + f[F_BOTTOM_Y]) / 2 + 0.008 * s),
            "eye_left": (ea, 0.0),
            "eye_right": (-ea, 0.0),
            "temple_left": (1.15, -0.012 * s),
            "temple_right": (-1.15, -0.012 * s),
        }
        return anchors[region]
