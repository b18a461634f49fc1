"""The photo moved by head motion and deformed by contact, as one backward warp at full resolution.

Every pixel has a 3-D point (``PhotoFace.points``: the skin on the mesh, a smooth extension beyond it). Head motion
(a rotation about a pivot behind the face and a translation) moves those points, weighted by ``PhotoFace.support``
so hair and ears move with the face and the image border stays still; contact kernels displace the skin in 3-D on
top. The forward image displacement ``d(p)`` is smooth, so the backward map ``p - d(p - d(p))`` (one fixed-point
step) is exact to a small fraction of a pixel and never tears. The skin's new normals relight the dent with the
photo's own spherical-harmonic lighting (an indent darkens on the side away from the light, a bulge catches it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numba import njit

from interanimate.data.synth.physics import K_CX, K_REACH, apply_kernels
from interanimate.render.composite.face import Eyelids, PhotoFace, sample_map
from interanimate.render.composite.lighting import eval_sh

DENT_AO = 0.35  # darkening at 3 mm of indentation: the dent's floor sees less of the sky


@dataclass
class HeadPose:
    """Rigid head motion of one frame: ``x -> R (x - pivot) + pivot + t``."""

    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray, pivot: np.ndarray) -> np.ndarray:
        return (points - pivot) @ self.rotation.T + pivot + self.translation

    def unapply(self, points: np.ndarray, pivot: np.ndarray) -> np.ndarray:
        """Inverse of ``apply``: moved points back in the reference pose."""
        return (points - pivot - self.translation) @ self.rotation + pivot

    def image_inverse(self, face: PhotoFace, pixel: np.ndarray, steps: int = 4) -> np.ndarray:
        """The reference-pose pixel whose skin point this pose moves to ``pixel`` (fixed-point iteration)."""
        source = np.asarray(pixel, np.float64).copy()
        for _ in range(steps):
            moved = face.project(self.apply(sample_map(face.points, source)[None].astype(np.float64), face.pivot))[0]
            source = source - (moved - pixel)
        return source


@dataclass
class WarpedFace:
    """The warped photo (linear RGB) and the skin's geometry and labels in the output frame.

    The skin's 3-D points and normals are resampled on demand (``points_in``, ``normals_in``: only a region, e.g.
    where the hand's shadow falls; ``points``, ``normals``: the whole frame); ``depth`` is their camera depth.
    """

    linear: np.ndarray  # (H, W, 3)
    face_mask: np.ndarray  # (H, W) bool
    deformation_mm: np.ndarray  # (H, W)
    contact_weight: np.ndarray  # (H, W)
    depth: np.ndarray  # (H, W) the points' z (m)
    max_shift_px: float  # largest contact-induced image displacement
    source_points: np.ndarray = field(repr=False)  # (H, W, 3) float32 camera frame, after motion and deformation,
    source_normals: np.ndarray = field(repr=False)  # (H, W, 3) float32 reference normals; both before resampling
    rotation: np.ndarray = field(repr=False)  # the head's rotation (turns the normals)
    map_x: np.ndarray = field(repr=False)  # (H, W) the backward map's source columns and rows (cv2.remap)
    map_y: np.ndarray = field(repr=False)

    def _warp(self, values: np.ndarray, region) -> np.ndarray:
        return cv2.remap(values, self.map_x[region], self.map_y[region], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    def points_in(self, region=np.s_[:, :]) -> np.ndarray:
        """``(h, w, 3)`` camera-frame skin points of the output pixels in ``region`` (a pair of slices)."""
        return self._warp(self.source_points, region)

    def normals_in(self, region=np.s_[:, :]) -> np.ndarray:
        """``(h, w, 3)`` unit skin normals (camera frame) of the output pixels in ``region``."""
        # Resampling is linear, so the resampled normals are turned by the head's rotation after it (the same
        # vectors); the rotation keeps their lengths.
        normals = cv2.transform(self._warp(self.source_normals, region), self.rotation.astype(np.float32))
        normals /= np.sqrt(np.einsum("ijk,ijk->ij", normals, normals))[..., None] + np.float32(1e-12)
        return normals

    @property
    def points(self) -> np.ndarray:
        """``(H, W, 3)`` camera-frame skin points, after motion and deformation."""
        return self.points_in()

    @property
    def normals(self) -> np.ndarray:
        """``(H, W, 3)`` unit skin normals."""
        return self.normals_in()


@njit(cache=True)
def _project_grid(points, fx, fy, cx, cy, support, grid, proj, disp, single, depth):
    """``proj``: the pixels of ``points (H, W, 3)`` (``Camera.project``); ``disp``: ``support · (proj - grid)``;
    ``single``: the points in float32, ``depth`` their z (float32), as ``astype`` rounds them."""
    for i in range(points.shape[0]):
        for j in range(points.shape[1]):
            for c in range(3):
                single[i, j, c] = np.float32(points[i, j, c])
            depth[i, j] = single[i, j, 2]
            z = max(points[i, j, 2], 1e-6)
            proj[i, j, 0] = fx * points[i, j, 0] / z + cx
            proj[i, j, 1] = fy * points[i, j, 1] / z + cy
            for c in range(2):
                disp[i, j, c] = support[i, j] * (proj[i, j, c] - grid[i, j, c])


@njit(cache=True)
def _step_back(grid, disp):
    """The remap coordinates ``grid - disp - 0.5`` (pixel centres to cv2's convention) as two contiguous maps."""
    half = np.float32(0.5)
    map_x, map_y = np.empty(grid.shape[:2], np.float32), np.empty(grid.shape[:2], np.float32)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            map_x[i, j] = grid[i, j, 0] - disp[i, j, 0] - half
            map_y[i, j] = grid[i, j, 1] - disp[i, j, 1] - half
    return map_x, map_y


def _grid_normals(points: np.ndarray) -> np.ndarray:
    dx = np.gradient(points, axis=1)
    dy = np.gradient(points, axis=0)
    n = np.cross(dx, dy)
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
    return np.where(n[..., 2:3] > 0, -n, n)


class FaceWarper:
    """Per-clip constants of the warp of one ``PhotoFace``."""

    def __init__(self, face: PhotoFace):
        self.face = face
        h, w = face.height, face.width
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.grid = np.stack([xx + 0.5, yy + 0.5], -1)
        self.points = face.points.astype(np.float64)
        self.normals = np.ascontiguousarray(face.normals, np.float32)
        self.mask_f = face.face_mask.astype(np.float32)
        self.eyelids = Eyelids(face.mesh_px)

    def _box(self, kernels: np.ndarray) -> tuple[slice, slice] | None:
        if not len(kernels):
            return None
        centres = kernels[:, K_CX:K_CX + 3]
        pixels = self.face.project(centres)
        reach = kernels[:, K_REACH] * self.face.camera.fx / np.maximum(centres[:, 2], 1e-3)
        lo = np.floor((pixels - reach[:, None]).min(0)).astype(int)
        hi = np.ceil((pixels + reach[:, None]).max(0)).astype(int) + 1
        x0, y0 = max(lo[0], 0), max(lo[1], 0)
        x1, y1 = min(hi[0], self.face.width), min(hi[1], self.face.height)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return None
        return slice(y0, y1), slice(x0, x1)

    def __call__(self, pose: HeadPose, kernels: np.ndarray, blink: float = 0.0) -> WarpedFace:
        """The frame under ``pose`` with the contact ``kernels`` applied and the eyes ``blink`` of the way shut."""
        face = self.face
        # pose.apply over the whole frame as one affine map of the 3-channel image.
        affine = np.hstack([pose.rotation, (face.pivot + pose.translation - pose.rotation @ face.pivot)[:, None]])
        moved = cv2.transform(self.points, affine)
        proj0, disp_img = np.empty(moved.shape[:2] + (2,), np.float32), np.empty(moved.shape[:2] + (2,), np.float32)
        camera = face.camera
        # proj0 = face.project(moved); disp_img = support · (proj0 - grid): the head motion's image displacement.
        # source_points, depth: the moved points in float32 and their z, read in the same pass.
        source_points, depth = np.empty(moved.shape, np.float32), np.empty(moved.shape[:2], np.float32)
        _project_grid(moved, camera.fx, camera.fy, camera.cx, camera.cy, face.support, self.grid, proj0, disp_img,
                      source_points, depth)
        linear = face.linear
        deformation = np.zeros(self.mask_f.shape, np.float32)
        contact = np.zeros(self.mask_f.shape, np.float32)
        max_shift = 0.0
        box = self._box(kernels)
        if box is not None:
            ys, xs = box
            base = self.points[ys, xs]
            flat = np.ascontiguousarray(base.reshape(-1, 3))
            disp = np.zeros_like(flat)
            weight = np.zeros(len(flat))
            apply_kernels(flat, kernels, disp, weight)
            skin = self.mask_f[ys, xs].reshape(-1) > 0
            disp[~skin] = 0.0
            weight[~skin] = 0.0
            disp = disp.reshape(base.shape)
            deformed = moved[ys, xs] + disp @ pose.rotation.T  # the moved points, deformed (only the box changes)
            source_points[ys, xs] = deformed.astype(np.float32)
            depth[ys, xs] = source_points[ys, xs, 2]
            shift = face.project(deformed).astype(np.float32) - proj0[ys, xs]
            disp_img[ys, xs] += shift
            max_shift = float(np.linalg.norm(shift, axis=-1).max())
            deformation[ys, xs] = np.linalg.norm(disp, axis=-1) * 1e3
            contact[ys, xs] = weight.reshape(base.shape[:2])
            # Relight the deformed skin: the ratio of its shading to the undeformed skin's, and a little occlusion.
            n0 = _grid_normals(base)
            n1 = _grid_normals(base + disp)
            ratio = eval_sh(face.sh, n1) / eval_sh(face.sh, n0)
            indent = np.clip(-np.einsum("ijk,ijk->ij", disp, n0) / 0.003, 0.0, 1.0)
            ratio = np.clip(ratio, 0.5, 1.6) * (1.0 - DENT_AO * indent)[..., None]
            m = self.mask_f[ys, xs][..., None]
            linear = linear.copy()
            linear[ys, xs] = linear[ys, xs] * (m * ratio + (1 - m))
        # Backward map, one fixed-point step: src(p) = p - d(p - d(p)).
        first_x, first_y = _step_back(self.grid, disp_img)
        d_at = cv2.remap(disp_img, first_x, first_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mx, my = _step_back(self.grid, d_at)
        if blink > 0:
            # The lids close on the photo itself: read the moved pixel from where the blink's warp takes it.
            my = (self.eyelids.source(mx + 0.5, my + 0.5, blink) - 0.5).astype(np.float32)

        def warp(values, interp=cv2.INTER_LINEAR):
            return cv2.remap(values, mx, my, interp, borderMode=cv2.BORDER_REPLICATE)

        out_linear = warp(np.ascontiguousarray(linear, np.float32))
        mask = warp(self.mask_f) > 0.5
        if box is None:  # no contact: nothing is deformed
            deformation_mm, contact_weight = deformation, contact
        else:
            deformation_mm, contact_weight = warp(deformation) * mask, warp(contact) * mask
        return WarpedFace(linear=out_linear, face_mask=mask, deformation_mm=deformation_mm,
                          contact_weight=contact_weight, depth=warp(depth),
                          max_shift_px=max_shift, source_points=source_points, source_normals=self.normals,
                          rotation=pose.rotation, map_x=mx, map_y=my)
