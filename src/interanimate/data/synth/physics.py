"""Contact physics: hand-face collision, penetration resolution and soft-tissue deformation.

The hand is a set of spheres along its bones (``HandModel.surface``); the face is the head's radial
surface. Each frame:

1. *Drive field*: deformation the gesture imposes on the skin regardless of exact contact geometry -
   a pinch gathers skin toward the midpoint between thumb and index and bulges it outward, a pull
   lifts the pinched skin, a stroke drags the skin along the motion with a small bow wave ahead.
2. *Indentation*: every hand sphere that reaches into the skin pushes it in. Soft tissue over bone
   is modelled as a thin elastic layer on a rigid foundation: inside the contact disc the skin takes
   the indenter's (paraboloid) shape; outside it the deflection decays exponentially with a length
   ``L`` set by the local tissue thickness (thin over the forehead and nose, thick over the cheeks),
   and the two parts meet with matching slope, which fixes the contact radius
   ``a = -L + sqrt(L^2 + 2 delta rho)`` for indentation ``delta`` and indenter radius ``rho``. Each
   region can only be indented so far (``COMPLIANCE_MM``: bone is near the surface of the forehead).
3. *Resolution*: whatever penetration the skin cannot absorb is removed by moving the hand back
   along the contact normal, iterated until the deepest penetration is under ``tolerance``.

The recorded penetration is measured afterwards on the rendered geometry: the deepest deformed skin
vertex inside any hand sphere, or the analytic residual at a sphere's footprint, whichever is larger.
Displacements are truncated smoothly to exactly zero a few decay lengths from the contact, so skin
far from the hand is provably undeformed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from interanimate.data.synth.head import F_BOTTOM_Y, F_TOP_Y, R_NOSE, HeadModel
from interanimate.taxonomy import FACE_REGIONS

# Maximum indentation (mm) and tissue decay length (mm) per face region; index -1 = off-face skin.
COMPLIANCE_MM = {"forehead": 2.0, "nose": 2.8, "chin": 2.6, "cheek_left": 7.0, "cheek_right": 7.0, "mouth": 5.0,
                 "jaw": 4.0, "eye_left": 3.0, "eye_right": 3.0, "temple_left": 3.0, "temple_right": 3.0}
TISSUE_MM = {"forehead": 5.0, "nose": 4.0, "chin": 5.5, "cheek_left": 9.0, "cheek_right": 9.0, "mouth": 6.5,
             "jaw": 7.0, "eye_left": 5.0, "eye_right": 5.0, "temple_left": 6.0, "temple_right": 6.0}
COMPLIANCE = np.array([COMPLIANCE_MM[r] for r in FACE_REGIONS] + [1.5]) * 1e-3
TISSUE = np.array([TISSUE_MM[r] for r in FACE_REGIONS] + [5.0]) * 1e-3

# Kernel layout (one row each).
K_CX, K_NX, K_TX, K_AMP_N, K_AMP_T, K_KIND, K_LEN, K_RAD, K_RHO, K_REACH = 0, 3, 6, 9, 10, 11, 12, 13, 14, 15
K_SIZE = 16
KIND_GAUSS, KIND_DENT = 0.0, 1.0

DEFAULT_TOLERANCE_MM = 0.5
CONTACT_EPS = 0.1e-3  # a sphere reaching this far into the skin counts as touching


@njit(cache=True)
def _taper(x, start, end):
    if x <= start:
        return 1.0
    if x >= end:
        return 0.0
    t = (x - start) / (end - start)
    return 1.0 - t * t * (3 - 2 * t)


@njit(cache=True)
def apply_kernels(points, kernels, disp, contact):
    """Displacement of skin ``points`` (N, 3) under all kernels into ``disp`` (N, 3); contact weights.

    Gaussian (drive) kernels add up; dents combine by the deepest one, as overlapping indenters on one
    patch of skin share it rather than each pushing it further.
    """
    n = points.shape[0]
    for i in range(n):
        disp[i, 0] = 0.0
        disp[i, 1] = 0.0
        disp[i, 2] = 0.0
        contact[i] = 0.0
        deepest = 0.0
        dnx = 0.0
        dny = 0.0
        dnz = 0.0
        for k in range(kernels.shape[0]):
            dx = points[i, 0] - kernels[k, K_CX]
            dy = points[i, 1] - kernels[k, K_CX + 1]
            dz = points[i, 2] - kernels[k, K_CX + 2]
            d2 = dx * dx + dy * dy + dz * dz
            reach = kernels[k, K_REACH]
            if d2 >= reach * reach:
                continue
            s = np.sqrt(d2)
            length = kernels[k, K_LEN]
            if kernels[k, K_KIND] == KIND_DENT:
                a = kernels[k, K_RAD]
                delta = -kernels[k, K_AMP_N]
                rho = kernels[k, K_RHO]
                if s < a:
                    depth = delta - s * s / (2 * rho)
                else:
                    ua = delta - a * a / (2 * rho)
                    depth = ua * np.exp(-(s - a) / length) * _taper(s, a + 2.5 * length, reach)
                if depth > deepest:
                    deepest = depth
                    dnx = kernels[k, K_NX]
                    dny = kernels[k, K_NX + 1]
                    dnz = kernels[k, K_NX + 2]
                w = _taper(s, a, a + 0.0015)
                if w > contact[i]:
                    contact[i] = w
            else:
                w = np.exp(-0.5 * d2 / (length * length)) * _taper(s, 2.0 * length, reach)
                an = kernels[k, K_AMP_N] * w
                at = kernels[k, K_AMP_T] * w
                disp[i, 0] += an * kernels[k, K_NX] + at * kernels[k, K_TX]
                disp[i, 1] += an * kernels[k, K_NX + 1] + at * kernels[k, K_TX + 1]
                disp[i, 2] += an * kernels[k, K_NX + 2] + at * kernels[k, K_TX + 2]
        disp[i, 0] -= deepest * dnx
        disp[i, 1] -= deepest * dny
        disp[i, 2] -= deepest * dnz


def make_kernel(centre, normal, amp_normal=0.0, tangent=(0.0, 0.0, 0.0), amp_tangent=0.0, length=0.008,
                kind=KIND_GAUSS, radius=0.0, rho=0.0, reach=None) -> np.ndarray:
    row = np.zeros(K_SIZE)
    row[K_CX:K_CX + 3] = centre
    row[K_NX:K_NX + 3] = normal
    row[K_TX:K_TX + 3] = tangent
    row[K_AMP_N] = amp_normal
    row[K_AMP_T] = amp_tangent
    row[K_KIND] = kind
    row[K_LEN] = length
    row[K_RAD] = radius
    row[K_RHO] = rho
    row[K_REACH] = reach if reach is not None else (radius + 4.0 * length if kind == KIND_DENT else 3.0 * length)
    return row


def dent_kernel(centre, normal, delta: float, rho: float, tissue: float) -> np.ndarray:
    """An indentation of depth ``delta`` by a sphere of radius ``rho`` in tissue with decay ``tissue``."""
    a = -tissue + np.sqrt(tissue * tissue + 2.0 * delta * rho)
    return make_kernel(centre, normal, amp_normal=-delta, length=tissue, kind=KIND_DENT, radius=a, rho=rho,
                       reach=a + 4.0 * tissue)


@dataclass
class ContactResult:
    """Outcome of one frame's contact solve (head frame, metres).

    Args:
        offset: translation applied to the hand to resolve penetration.
        kernels: every deformation kernel (drive + dents), rows as in ``make_kernel``.
        num_dents: how many of the last rows are dents.
        touching: per collision sphere, whether it touches the skin.
        depths: per sphere, indentation into the undented skin (m, >0 = touching).
        penetration_mm: deepest remaining penetration after resolution.
        contact_centre: footprint of the deepest indentation of face skin, or None when no face skin is touched.
    """

    offset: np.ndarray
    kernels: np.ndarray
    num_dents: int
    touching: np.ndarray
    depths: np.ndarray
    penetration_mm: float
    contact_centre: np.ndarray | None


class ContactSolver:
    """Resolves one hand against one head per frame.

    Args:
        head: the head model (its radial surface is the collision surface).
        tolerance_mm: penetration left after resolution is at most this (the iteration's stop rule).
    """

    def __init__(self, head: HeadModel, tolerance_mm: float = DEFAULT_TOLERANCE_MM):
        self.head = head
        self.tolerance = tolerance_mm * 1e-3

    def _footprints(self, centres: np.ndarray):
        a, y = self.head.material_of(centres)
        base = self.head.surface_points(a, y)
        normal = self.head.surface_normals(a, y)
        radial = np.stack([np.sin(a), np.zeros_like(a), -np.cos(a)], -1)
        r_point = np.hypot(centres[:, 0], centres[:, 2])
        r_surf = np.hypot(base[:, 0], base[:, 2])
        cos = np.clip(np.sum(normal * radial, -1), 0.25, 1.0)
        height = (r_point - r_surf) * cos  # signed distance of the centre above the undeformed skin
        # The radial footprint is the nearest skin point only where the skin faces the axis; on the sides
        # of the nose a fingertip (a pinch) touches the skin sideways. Walk the footprint toward the foot
        # of the normal through the centre, so those contacts are seen where they are. Elsewhere the
        # radial footprint stays (the collision check against the mesh still covers all skin).
        # A step is kept only where it brings the footprint closer to the centre (the nearest skin point
        # is what a sphere touches first); elsewhere (e.g. under the chin's dome) the radial one stays.
        steep = np.nonzero((cos < 0.9) & (self.head.regions(a, y) == R_NOSE))[0]
        for _ in range(2):
            if not len(steep):
                break
            foot = centres[steep] - normal[steep] * height[steep, None]
            a_s, y_s = self.head.material_of(foot)
            base_s = self.head.surface_points(a_s, y_s)
            normal_s = self.head.surface_normals(a_s, y_s)
            closer = (np.linalg.norm(centres[steep] - base_s, axis=1) < np.linalg.norm(centres[steep] - base[steep], axis=1) - 1e-5)
            closer &= (y_s > self.head.features[F_TOP_Y]) & (y_s < self.head.features[F_BOTTOM_Y] - 0.002)
            k = steep[closer]
            a[k], y[k], base[k], normal[k] = a_s[closer], y_s[closer], base_s[closer], normal_s[closer]
            # Distance to the footprint itself, signed by the side of the skin: never shorter than the
            # true distance when the walk has not fully converged, so it cannot invent a contact.
            offset = centres[k] - base[k]
            height[k] = np.linalg.norm(offset, axis=1) * np.sign(np.sum(offset * normal[k], -1))
            steep = k
        regions = self.head.regions(a, y)
        return a, y, base, normal, height, regions

    def solve(self, spheres: np.ndarray, drive: np.ndarray, max_iterations: int = 6) -> ContactResult:
        centres0 = spheres[:, :3]
        radii = spheres[:, 3]
        offset = np.zeros(3)
        # Only spheres near the head can touch it; the rest (forearm far below) are skipped.
        near = np.hypot(centres0[:, 0], centres0[:, 2]) < 0.2
        kernels = drive
        num_dents = 0
        depths = np.zeros(len(spheres))
        residual = 0.0
        for _ in range(max_iterations):
            centres = centres0 + offset
            f = self.head.features
            idx = np.nonzero(near & (centres[:, 1] > f[F_TOP_Y] - 0.02) & (centres[:, 1] < f[F_BOTTOM_Y]))[0]
            depths = np.zeros(len(spheres))
            if len(idx) == 0:
                kernels = drive
                num_dents = 0
                residual = 0.0
                break
            a, y, base, normal, height, regions = self._footprints(centres[idx])
            # Drive field moves the skin before the fingers indent it.
            drive_disp = np.zeros((len(idx), 3))
            scratch = np.zeros(len(idx))
            if len(drive):
                apply_kernels(base, drive, drive_disp, scratch)
            lift = np.sum(drive_disp * normal, -1)
            pen = radii[idx] - (height - lift)
            depths[idx] = pen
            dents = []
            for k in np.nonzero(pen > 0)[0]:
                region = regions[k]
                delta = min(pen[k], COMPLIANCE[region])
                dents.append(dent_kernel(base[k] + drive_disp[k], normal[k], delta, radii[idx][k], TISSUE[region]))
            kernels = np.concatenate([drive, np.array(dents).reshape(-1, K_SIZE)]) if dents else drive
            num_dents = len(dents)
            # Residual penetration against the deformed skin at each footprint.
            total = np.zeros((len(idx), 3))
            if len(kernels):
                apply_kernels(base, kernels, total, scratch)
            surface_shift = np.sum(total * normal, -1)
            residual_each = radii[idx] - (height - surface_shift)
            worst = int(np.argmax(residual_each))
            residual = float(residual_each[worst])
            if residual <= self.tolerance * 0.5:
                break
            # Push the hand back along the normals of the spheres that still penetrate.
            w = np.clip(residual_each, 0, None)
            direction = (normal * w[:, None]).sum(0)
            direction /= np.linalg.norm(direction) + 1e-12
            offset = offset + direction * (residual + 0.05e-3)
        touching = depths > CONTACT_EPS
        centre = None
        if touching.any():
            # The contact point is the footprint of the deepest indentation of *face* skin: where the hand
            # presses hardest. Hair, ears, neck and the sides of the head are not face regions, so a hand
            # that touches only those is not in face contact (centre stays None).
            a, y = self.head.material_of(centres0 + offset)
            on_face = touching & (self.head.regions(a, y) >= 0)
            if on_face.any():
                deepest = int(np.argmax(np.where(on_face, depths, -np.inf)))
                centre = self.head.surface_points(a[deepest:deepest + 1], y[deepest:deepest + 1])[0]
        return ContactResult(offset, kernels, num_dents, touching, depths, max(0.0, residual) * 1e3, centre)


@njit(cache=True)
def skin_inside_spheres(points, spheres):
    """Deepest penetration (m) of any skin point into any sphere; 0 when none is inside."""
    worst = 0.0
    for i in range(points.shape[0]):
        for k in range(spheres.shape[0]):
            dx = points[i, 0] - spheres[k, 0]
            dy = points[i, 1] - spheres[k, 1]
            dz = points[i, 2] - spheres[k, 2]
            r = spheres[k, 3]
            d2 = dx * dx + dy * dy + dz * dz
            if d2 < r * r:
                depth = r - np.sqrt(d2)
                if depth > worst:
                    worst = depth
    return worst


@njit(cache=True)
def mesh_penetration(points, spheres):
    """Deepest skin point inside the hand and the direction that frees it (unit, from skin toward hand)."""
    worst = 0.0
    dx_out = 0.0
    dy_out = 0.0
    dz_out = 0.0
    for i in range(points.shape[0]):
        for k in range(spheres.shape[0]):
            dx = spheres[k, 0] - points[i, 0]
            dy = spheres[k, 1] - points[i, 1]
            dz = spheres[k, 2] - points[i, 2]
            r = spheres[k, 3]
            d2 = dx * dx + dy * dy + dz * dz
            if d2 < r * r:
                d = np.sqrt(d2) + 1e-9
                depth = r - d
                dx_out += depth * dx / d
                dy_out += depth * dy / d
                dz_out += depth * dz / d
                if depth > worst:
                    worst = depth
    norm = np.sqrt(dx_out * dx_out + dy_out * dy_out + dz_out * dz_out) + 1e-12
    return worst, np.array([dx_out / norm, dy_out / norm, dz_out / norm])
