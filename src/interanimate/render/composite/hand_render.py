"""The hand drawn in the photo's light: supersampled z-buffer, skin tone and SH lighting taken from the face.

The generator's rasteriser (``data.synth.raster.rasterize``) draws the hand's tube surface at ``SUPERSAMPLE``× the
output resolution; every covered sample is shaded, then the samples are box-filtered down, which anti-aliases the
silhouette and gives the layer's coverage (alpha). The face's spherical-harmonic fit is albedo × irradiance of the
person's skin, so the hand's colour is that same function of the hand's normals times a small per-part tint (palms
are lighter and pinker than the back of the hand, nails pinker and glossier, creases darker); a little per-vertex
mottling and a soft specular lobe toward the dominant light keep it from looking like plastic. Where the face's
surface is nearer the camera than the hand, the face hides it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from interanimate.data.synth.mesh import vertex_normals
from interanimate.data.synth.raster import MAT_SLEEVE, rasterize
from interanimate.data.synth.render import Camera
from interanimate.render.composite.lighting import dominant_direction, eval_sh

SUPERSAMPLE = 2
DORSUM_TINT = np.array([0.96, 0.93, 0.91])
PALM_TINT = np.array([1.10, 0.98, 0.94])
NAIL_TINT = np.array([1.18, 1.02, 1.00])
CREASE_DARKEN = 0.30
MOTTLE = 0.035


@dataclass
class HandAppearance:
    """Per-clip appearance of the hand."""

    sh: np.ndarray  # (9, 3) the face's lighting × skin albedo (linear RGB)
    skin_albedo: np.ndarray  # (3,) estimated linear albedo of the face's skin
    sleeve_albedo: np.ndarray  # (3,)
    mottle: np.ndarray  # (N,) per-vertex colour variation in [-1, 1]


@dataclass
class HandLayer:
    """The hand at output resolution: premultiplied linear colour, coverage and nearest depth."""

    colour: np.ndarray  # (H, W, 3)
    alpha: np.ndarray  # (H, W)
    depth: np.ndarray  # (H, W) metres; inf where no hand sample is visible
    zbuf: np.ndarray  # hand-only z-buffer of the drawn box at S× resolution (self-occlusion tests)
    origin: tuple[int, int] = (0, 0)  # (x0, y0) of that box in output pixels

    def front_depth(self, pixels: np.ndarray) -> np.ndarray:
        """Nearest hand surface depth at ``(K, 2)`` output pixel coordinates (inf where none)."""
        s = SUPERSAMPLE
        jx = np.floor((pixels[:, 0] - self.origin[0]) * s).astype(int)
        jy = np.floor((pixels[:, 1] - self.origin[1]) * s).astype(int)
        h, w = self.zbuf.shape
        ok = (jx >= 0) & (jx < w) & (jy >= 0) & (jy < h)
        out = np.full(len(pixels), np.inf)
        out[ok] = self.zbuf[jy[ok], jx[ok]]
        return out


def render_hand(vertices: np.ndarray, faces: np.ndarray, attributes: np.ndarray, materials: np.ndarray,
                camera: Camera, face_depth: np.ndarray, look: HandAppearance) -> HandLayer:
    """Draw one hand pose; ``face_depth (H, W)`` is the warped skin's depth (inf where there is no face)."""
    s = SUPERSAMPLE
    height, width = camera.height, camera.width
    colour_full = np.zeros((height, width, 3), np.float32)
    alpha_full = np.zeros((height, width), np.float32)
    depth_full = np.full((height, width), np.inf, np.float32)
    ahead = vertices[:, 2] > 0.05
    if not ahead.any():
        return HandLayer(colour_full, alpha_full, depth_full, np.full((1, 1), np.inf))
    px = camera.project(vertices[ahead])
    x0, y0 = (int(max(np.floor(px[:, i].min()) - 2, 0)) for i in (0, 1))
    x1, y1 = int(min(np.ceil(px[:, 0].max()) + 2, width)), int(min(np.ceil(px[:, 1].max()) + 2, height))
    if x1 <= x0 or y1 <= y0:
        return HandLayer(colour_full, alpha_full, depth_full, np.full((1, 1), np.inf))
    h, w = y1 - y0, x1 - x0
    zbuf = np.full((h * s, w * s), np.inf)
    tri = np.full((h * s, w * s), -1, np.int32)
    b1 = np.zeros((h * s, w * s))
    b2 = np.zeros((h * s, w * s))
    rasterize(vertices, faces, camera.fx * s, camera.fy * s, (camera.cx - x0) * s, (camera.cy - y0) * s, zbuf, tri,
              b1, b2, 0.05)
    face_depth = face_depth[y0:y1, x0:x1]
    face_z = cv2.resize(face_depth.astype(np.float32), (w * s, h * s), interpolation=cv2.INTER_NEAREST)
    visible = (tri >= 0) & (zbuf < face_z)
    colour = np.zeros((h * s, w * s, 3), np.float32)
    iy, ix = np.nonzero(visible)
    if len(iy):
        normals_v = np.zeros_like(vertices)
        vertex_normals(vertices, faces, normals_v)
        t = tri[iy, ix]
        corners = faces[t]
        wb1, wb2 = b1[iy, ix][:, None], b2[iy, ix][:, None]
        w0 = 1.0 - wb1 - wb2

        def interp(values):
            return w0 * values[corners[:, 0]] + wb1 * values[corners[:, 1]] + wb2 * values[corners[:, 2]]

        pos = interp(vertices)
        n = interp(normals_v)
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        view = -pos / (np.linalg.norm(pos, axis=1, keepdims=True) + 1e-12)
        n = np.where((np.einsum("ij,ij->i", n, view) < 0)[:, None], -n, n)
        attr = interp(attributes)
        palm, nail, crease = attr[:, 0:1], np.clip(attr[:, 1:2], 0, 1), np.clip(attr[:, 2:3], 0, 1)
        mottle = interp(look.mottle[:, None])
        lit = eval_sh(look.sh, n)
        tint = DORSUM_TINT * (1 - palm) + PALM_TINT * palm
        tint = tint * (1 - nail) + NAIL_TINT * nail
        skin = lit * tint * (1 - CREASE_DARKEN * crease) * (1 + MOTTLE * mottle * np.array([1.0, 0.8, 0.7]))
        light = dominant_direction(look.sh)
        half = light + view
        half /= np.linalg.norm(half, axis=1, keepdims=True) + 1e-12
        irradiance = lit / np.maximum(look.skin_albedo, 1e-3)
        ndh = np.clip(np.einsum("ij,ij->i", n, half), 0, 1)[:, None]
        gloss = (0.025 * ndh ** 16 + nail * 0.10 * ndh ** 60) * irradiance.mean(1, keepdims=True)
        skin = skin + gloss
        sleeve = materials[corners[np.arange(len(t)), np.argmax(np.concatenate([w0, wb1, wb2], 1), 1)]] == MAT_SLEEVE
        cloth = look.sleeve_albedo * irradiance
        colour[iy, ix] = np.where(sleeve[:, None], cloth, skin).astype(np.float32)
    coverage = visible.astype(np.float32)
    colour_out = cv2.resize(colour, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(coverage, (w, h), interpolation=cv2.INTER_AREA)
    # Nearest visible sample of each pixel's S×S block.
    depth_ss = np.where(visible, zbuf, np.inf).astype(np.float32)
    depth = depth_ss.reshape(h, s, w, s).min(axis=(1, 3))
    colour_full[y0:y1, x0:x1] = colour_out
    alpha_full[y0:y1, x0:x1] = alpha
    depth_full[y0:y1, x0:x1] = depth
    return HandLayer(colour=colour_full, alpha=alpha_full, depth=depth_full, zbuf=zbuf, origin=(x0, y0))
