"""The hand drawn in the photo's light: supersampled z-buffer, skin tone and SH lighting taken from the face.

The generator's rasteriser (``data.synth.raster.rasterize``) draws the hand's tube surface at ``SUPERSAMPLE``× the
output resolution; every covered sample is shaded, then the samples are box-filtered down, which anti-aliases the
silhouette and gives the layer's coverage (alpha). The face's spherical-harmonic fit is albedo × irradiance of the
person's skin, so the hand's colour is that same function of the hand's normals times a small per-part tint (palms
are lighter and pinker than the back of the hand, nails pinker and glossier, creases darker). Skin detail makes it
read as a photographed hand rather than a smooth model: the hand's occlusion of its own sky (between fingers, under a
fist), crevices where skin lies just behind a nearer finger, shading that falls off toward the silhouette (all keeping
skin's red), grain and blotches of 3-D noise fixed to the rest-pose surface, wrinkled redder skin over the finger
joints, redder fingertip pads, nail plates with a darker fold, and a broad sheen. Where the face's surface is nearer
the camera than the hand, the face hides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
import math

import cv2
import numpy as np
from numba import njit

from interanimate.data.synth.hand import FINGERS, POSES, SIDES, HandModel
from interanimate.data.synth.hand_mesh import REST_POSE, SkinnedHand
from interanimate.data.synth.mesh import vertex_normals
from interanimate.data.synth.raster import MAT_SLEEVE, rasterize
from interanimate.data.synth.render import Camera
from interanimate.render.composite.lighting import dominant_direction

SUPERSAMPLE = 2
SKIN_TEXTURE = 0.2  # luminance amplitude of the skin's pore-and-mottle texture (two octaves of 3-D noise)
TEXTURE_CELLS_M = (0.0028, 0.0011)  # noise cell sizes: blotches a few millimetres across, then pores
SELF_OCCLUSION = 0.85  # how much of the sky a fully enclosed crease (between fingers, under a fist) loses
KNUCKLE_DARKEN = 0.16  # the wrinkled, redder skin over the finger joints' backs
KNUCKLE_REACH_M = (0.0065, 0.0055, 0.0045)  # half-widths of the wrinkled patches over MCP, PIP and DIP
EDGE_DARKEN = 0.5
CREVICE_REACH_M = 0.004  # how far (on the hand) a nearer finger shades the skin behind it
CREVICE_SLACK_M, CREVICE_DEPTH_M = 0.004, 0.012  # depth behind it where that shade starts and where it is full
CREVICE_DARKEN = 0.45
ARM_CHAIN = 1
SHEEN, SHEEN_EXPONENT = 0.07, 8  # skin's broad sheen (oily, rough: a wide lobe); the nails' is sharper
OCCLUSION_TINT = np.array([0.75, 1.0, 1.12])  # exponents: occluded skin keeps its red (subsurface scattering)
REDDEN = np.array([1.0, 0.90, 0.86])  # colour of blood-rich skin (knuckles, fingertips) relative to the rest
DORSUM_TINT = np.array([0.93, 0.89, 0.87])
PALM_TINT = np.array([1.14, 1.01, 0.95])
NAIL_TINT = np.array([1.22, 1.08, 1.06])
NAIL_EDGE = 0.45  # the generator's nail weight at the nail plate's edge
NAIL_FOLD_DARKEN = 0.25
CREASE_DARKEN = 0.30
MOTTLE = 0.035


# Sample columns of the per-frame fields (position, normal, attributes, then occlusion after the mottle).
FRAME_COLUMNS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10], np.int64)


@dataclass
class HandAppearance:
    """Per-clip appearance of the hand."""

    sh: np.ndarray  # (9, 3) the face's lighting × skin albedo (linear RGB)
    skin_albedo: np.ndarray  # (3,) estimated linear albedo of the face's skin
    sleeve_albedo: np.ndarray  # (3,)
    mottle: np.ndarray  # (N,) per-vertex colour variation in [-1, 1]
    texture: SurfaceCoordinates | None = None  # where each vertex sits on the hand at rest (skin texture)
    noise_seed: int = 0
    occluders: OcclusionProbes | None = None  # sparse self-occlusion for dense meshes (None: every vertex)
    occluder_scale: float = 1.0  # the hand's size relative to the probes' canonical skin

    def constant_fields(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-vertex fields ``render_hand`` interpolates that stay fixed over the clip, in float32 ``(N, D)``,
        and the sample columns they go to (mottle; with a texture its rest position and arc)."""
        if getattr(self, "_constant_fields", None) is None:
            fields, columns = [self.mottle[:, None]], [9]
            if self.texture is not None:
                fields += [self.texture.rest, self.texture.arc[:, None]]
                columns += [11, 12, 13, 14]
            self._constant_fields = (np.concatenate(fields, 1).astype(np.float32), np.array(columns, np.int64))
        return self._constant_fields


@dataclass
class SurfaceCoordinates:
    """Per-vertex coordinates of the hand's surface that move with the skin, for texture that sticks to it.

    ``rest``: the vertex in the flat pose's hand-local frame (metres); ``chain``: 0 palm, 1 forearm, 2 thumb,
    3-6 index..pinky; ``arc``: distance along the finger from its base ring (metres, 0 off the fingers);
    ``joint_arcs (7, 3)``: ``arc`` of the chain's three joints (MCP, PIP, DIP; thumb: CMC, MCP, IP), NaN off the
    fingers; ``tip_arcs (7,)``: ``arc`` of the fingertip.
    """

    rest: np.ndarray
    chain: np.ndarray
    arc: np.ndarray
    joint_arcs: np.ndarray
    tip_arcs: np.ndarray


def surface_coordinates(hand: HandModel | SkinnedHand) -> SurfaceCoordinates:
    """The hand's texture coordinates at rest (the tube topology puts rings at the joints).

    For the organic skin (``SkinnedHand``) the rest surface is its canonical mesh and the distances along the fingers
    are the canonical tube model's, carried onto the skin's vertices.
    """
    if isinstance(hand, SkinnedHand):
        key = hand.template.geometry_key()  # every subject's canonical hand has one geometry: computed once
        if key not in _TUBE_AT_REST:
            if len(_TUBE_AT_REST) >= 8:
                _TUBE_AT_REST.clear()
            _TUBE_AT_REST[key] = _tube_coordinates(hand.template, REST_POSE)
        tube = _TUBE_AT_REST[key]
        arc = hand.tube_to_skin(tube.arc)
        return SurfaceCoordinates(rest=hand.rest_vertices_local().astype(np.float64), chain=hand.rest.chain.copy(),
                                  arc=arc, joint_arcs=tube.joint_arcs.copy(), tip_arcs=tube.tip_arcs.copy())
    return _tube_coordinates(hand, POSES["flat"])


_TUBE_AT_REST: dict[bytes, SurfaceCoordinates] = {}


def _tube_coordinates(hand: HandModel, pose: np.ndarray) -> SurfaceCoordinates:
    rest = hand.surface(hand.joints_local(pose), np.eye(3), np.zeros(3), np.array([0.0, -1.0, 0.0]), False)[0]
    n = hand.num_vertices
    chain = np.zeros(n, np.int8)
    arc = np.zeros(n)
    joint_arcs = np.full((7, 3), np.nan)
    tip_arcs = np.full(7, np.nan)
    for c, name in enumerate(("palm", "arm") + FINGERS):
        start = hand.offsets[name]
        chain[start:] = c
        if c < 2:
            continue
        rings = hand.thumb_rings if name == "thumb" else hand.finger_rings
        centres = rest[start:start + rings * SIDES].reshape(rings, SIDES, 3).mean(1)
        along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(centres, axis=0), axis=1))])
        arc[start:start + rings * SIDES] = np.repeat(along, SIDES)
        tip = along[-1] + np.linalg.norm(rest[start + rings * SIDES] - centres[-1])
        arc[start + rings * SIDES] = tip
        joint_arcs[c] = along[1:4]
        tip_arcs[c] = tip
    return SurfaceCoordinates(rest=rest, chain=chain, arc=arc, joint_arcs=joint_arcs, tip_arcs=tip_arcs)


PROBE_CELL_M = 0.009  # one occlusion probe per cell of this size on the rest skin
PROBE_REACH_M = 0.06  # forearm skin farther than this from the wrist neither casts nor receives self-occlusion


@dataclass
class OcclusionProbes:
    """A sparse set of the skin's vertices that stand for it in self-occlusion, and how to spread their result.

    ``index (P,)``: the probe vertices; ``area (P,)``: the rest skin's area each stands for (m², canonical size);
    ``spread_index (N, 4)`` / ``spread_weight (N, 4)``: every vertex's nearest probes at rest and their weights.
    """

    index: np.ndarray
    area: np.ndarray
    spread_index: np.ndarray
    spread_weight: np.ndarray


def occlusion_probes(hand: SkinnedHand) -> OcclusionProbes:
    """Probes for ``hand``'s skin: one vertex per ``PROBE_CELL_M`` cell of the rest surface near the hand.

    They depend on the canonical rest skin alone (shared by every hand), so they are made once per rest skin.
    """
    key = id(hand.rest)
    if key not in _PROBES:
        _PROBES[key] = (hand.rest, _occlusion_probes(hand.rest.vertices, hand.rest.faces))  # keeps the key alive
    return _PROBES[key][1]


_PROBES: dict = {}


def _occlusion_probes(vertices: np.ndarray, faces: np.ndarray) -> OcclusionProbes:
    from scipy.spatial import cKDTree

    rest = vertices.astype(np.float64)
    corner = rest[faces]
    area = 0.5 * np.linalg.norm(np.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0]), axis=1)
    vertex_area = np.bincount(faces.ravel(), np.repeat(area / 3.0, 3), len(rest))
    near = rest[:, 1] > -PROBE_REACH_M
    cells = np.floor(rest / PROBE_CELL_M).astype(np.int64)
    cells[~near] = np.iinfo(np.int64).max // 4  # one shared cell: dropped below
    _, first, inverse = np.unique(cells, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    cell_area = np.bincount(inverse, vertex_area)
    keep = near[first]
    index, cell_area = first[keep], cell_area[keep]
    dist, nearest = cKDTree(rest[index]).query(rest, k=4)
    weight = 1.0 / (dist + 1e-4)
    weight = weight / weight.sum(1, keepdims=True) * near[:, None]
    return OcclusionProbes(index=index, area=cell_area, spread_index=nearest, spread_weight=weight)


def probe_occlusion(vertices: np.ndarray, normals: np.ndarray, probes: OcclusionProbes, scale: float) -> np.ndarray:
    """``(N,)`` self-occlusion of the posed skin, computed between the probes (``self_occlusion``'s form factors)."""
    at_probes = _disc_occlusion(vertices[probes.index], normals[probes.index], probes.area * scale ** 2)
    return np.einsum("nk,nk->n", probes.spread_weight, at_probes[probes.spread_index])


NOISE_PERIOD = 64  # lattice cells before the noise repeats (64 × 2.8 mm: longer than a hand)


@lru_cache(maxsize=8)
def _lattice(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (NOISE_PERIOD,) * 3).astype(np.float32)


def value_noise(points: np.ndarray, seed: int) -> np.ndarray:
    """3-D value noise in [-1, 1] at ``(K, 3)`` points given in lattice cells (trilinear between random values).

    One pass of eight gathers from the flattened lattice per point (``_value_noise``), in single precision.
    """
    out = np.empty(len(points), np.float32)
    _value_noise(np.ascontiguousarray(points, np.float32), _lattice(seed).ravel(), NOISE_PERIOD, out)
    return out


@njit(cache=True)
def _noise_at(px, py, pz, table, n):
    """Value noise at one float32 point (in lattice cells) of the flattened ``table`` with period ``n``."""
    one = np.float32(1.0)
    mask = n - 1
    bx, by, bz = math.floor(px), math.floor(py), math.floor(pz)
    fx = np.float32(px - np.float32(bx))
    fy = np.float32(py - np.float32(by))
    fz = np.float32(pz - np.float32(bz))
    cx, cy, cz = int(bx), int(by), int(bz)
    total = np.float32(0.0)
    for dx in range(2):
        wx = fx if dx else one - fx
        ix = ((cx + dx) & mask) * (n * n)
        for dy in range(2):
            wxy = np.float32(wx * (fy if dy else one - fy))
            ixy = ix + ((cy + dy) & mask) * n
            for dz in range(2):
                wz = fz if dz else one - fz
                total += np.float32(np.float32(wxy * wz) * table[ixy + ((cz + dz) & mask)])
    return total


@njit(cache=True)
def _value_noise(points, table, n, out):
    for k in range(points.shape[0]):
        out[k] = _noise_at(points[k, 0], points[k, 1], points[k, 2], table, n)


@njit(cache=True)
def _grain(rest, coarse_cell, fine_cell, coarse, fine, n, out):
    """The skin's two octaves at ``rest (K, 3)`` points: ``0.6 · noise(rest / coarse_cell) + 0.4 · noise(rest /
    fine_cell)`` with lattices ``coarse`` and ``fine``, in single precision (as ``value_noise`` twice)."""
    c0, c1 = np.float32(coarse_cell), np.float32(fine_cell)
    for k in range(rest.shape[0]):
        a = _noise_at(rest[k, 0] / c0, rest[k, 1] / c0, rest[k, 2] / c0, coarse, n)
        b = _noise_at(rest[k, 0] / c1, rest[k, 1] / c1, rest[k, 2] / c1, fine, n)
        out[k] = np.float32(np.float32(0.6) * a) + np.float32(np.float32(0.4) * b)


def self_occlusion(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """``(N,)`` fraction of the sky each vertex loses to the rest of the hand, from disc-to-point form factors.

    Every vertex stands for a disc of a third of its triangles' area; a receiver is occluded by the discs in front
    of its tangent plane (``A cosθ / (π d² + A)``, the form factor of a disc seen from the point). On a convex tube
    the neighbours lie behind the tangent plane, so only concave places — between fingers, the palm under curled
    fingers, the thumb's web — darken.
    """
    corner = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0]), axis=1)
    disc = np.bincount(faces.ravel(), np.repeat(area / 3.0, 3), len(vertices))
    return _disc_occlusion(vertices, normals, disc)


def _disc_occlusion(points: np.ndarray, normals: np.ndarray, disc: np.ndarray) -> np.ndarray:
    """``(P,)`` summed disc-to-point form factors ``A cosθ / (π d² + A)`` between ``points``, clipped to [0, 1]."""
    out = np.empty(len(points))
    _form_factors(np.ascontiguousarray(points, np.float64), np.ascontiguousarray(normals, np.float64),
                  np.ascontiguousarray(disc, np.float64), out)
    return out


@njit(cache=True)
def _form_factors(points, normals, disc, out):
    # Each pair once: receiver i sees occluder j in front of its tangent plane and facing it exactly when j sees i
    # the same way (the two cosines swap), so both form factors are added under one test.
    out[:] = 0.0
    for i in range(points.shape[0]):
        for j in range(i + 1, points.shape[0]):
            ox, oy, oz = points[j, 0] - points[i, 0], points[j, 1] - points[i, 1], points[j, 2] - points[i, 2]
            toward_j = ox * normals[i, 0] + oy * normals[i, 1] + oz * normals[i, 2]  # receiver i -> occluder j
            toward_i = -(ox * normals[j, 0] + oy * normals[j, 1] + oz * normals[j, 2])
            if toward_j <= 0.0 or toward_i <= 0.0:
                continue
            d2 = ox * ox + oy * oy + oz * oz + 1e-12
            inv = 1.0 / math.sqrt(d2)
            cos_i, cos_j = toward_j * inv, toward_i * inv
            out[i] += disc[j] * min(cos_i, 1.0) * min(4.0 * cos_j, 1.0) / (math.pi * d2 + disc[j])
            out[j] += disc[i] * min(cos_j, 1.0) * min(4.0 * cos_i, 1.0) / (math.pi * d2 + disc[i])
    for i in range(points.shape[0]):
        out[i] = min(max(out[i], 0.0), 1.0)


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


@njit(cache=True)
def _interpolate(frame_table, frame_cols, clip_table, clip_cols, faces, tri, b1, b2, iy, ix, out, nearest, first):
    """Perspective-correct barycentric interpolation of per-vertex tables ``(N, D)`` at the samples ``(iy, ix)`` of
    the z-buffer's triangles ``tri`` (barycentrics ``b1, b2``): column ``d`` of ``frame_table`` into column
    ``frame_cols[d]`` of ``out``, likewise ``clip_table``; ``nearest``: the triangle's corner nearest the sample,
    ``first``: its first corner."""
    for k in range(iy.shape[0]):
        y, x = iy[k], ix[k]
        t = tri[y, x]
        i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
        w1, w2 = b1[y, x], b2[y, x]
        w0 = 1.0 - w1 - w2
        c0, c1, c2 = np.float32(w0), np.float32(w1), np.float32(w2)
        for d in range(frame_table.shape[1]):
            out[k, frame_cols[d]] = c0 * frame_table[i0, d] + c1 * frame_table[i1, d] + c2 * frame_table[i2, d]
        for d in range(clip_table.shape[1]):
            out[k, clip_cols[d]] = c0 * clip_table[i0, d] + c1 * clip_table[i1, d] + c2 * clip_table[i2, d]
        first[k] = i0
        if w0 >= w1 and w0 >= w2:
            nearest[k] = i0
        elif w1 >= w2:
            nearest[k] = i1
        else:
            nearest[k] = i2


@njit(cache=True)
def _unmark(mask, iy, ix, drop):
    """``mask[iy[k], ix[k]] = False`` where ``drop[k]``."""
    for k in range(iy.shape[0]):
        if drop[k]:
            mask[iy[k], ix[k]] = False


@njit(cache=True)
def _scatter(image, iy, ix, values):
    """``image[iy, ix] = values`` for ``(K, C)`` values."""
    for k in range(iy.shape[0]):
        for c in range(values.shape[1]):
            image[iy[k], ix[k], c] = values[k, c]


@njit(cache=True)
def _view_geometry(pos, n, light, view, facing, ndh):
    """Per sample: normalise ``n`` in place and turn it toward the camera; write the unit ``view`` direction,
    ``facing`` (n·view, clipped to [0, 1]) and ``ndh`` (n·half, half between ``light`` and the view, clipped)."""
    tiny = np.float32(1e-12)
    for k in range(pos.shape[0]):
        nl = np.float32(math.sqrt(n[k, 0] * n[k, 0] + n[k, 1] * n[k, 1] + n[k, 2] * n[k, 2])) + tiny
        pl = np.float32(math.sqrt(pos[k, 0] * pos[k, 0] + pos[k, 1] * pos[k, 1] + pos[k, 2] * pos[k, 2])) + tiny
        cos = np.float32(0.0)
        for d in range(3):
            n[k, d] = n[k, d] / nl
            view[k, d] = -pos[k, d] / pl
            cos += n[k, d] * view[k, d]
        if cos < 0:
            for d in range(3):
                n[k, d] = -n[k, d]
            cos = -cos
        facing[k, 0] = min(max(cos, np.float32(0.0)), np.float32(1.0))
        h0, h1, h2 = light[0] + view[k, 0], light[1] + view[k, 1], light[2] + view[k, 2]
        hl = math.sqrt(h0 * h0 + h1 * h1 + h2 * h2) + 1e-12
        ndh[k, 0] = min(max((n[k, 0] * h0 + n[k, 1] * h1 + n[k, 2] * h2) / hl, 0.0), 1.0)


def crevice_shading(zbuf: np.ndarray, drawn: np.ndarray, receives: np.ndarray, radius_px: float) -> np.ndarray:
    """``(h, w)`` shading of hand samples lying just behind a nearer part of the hand (screen-space occlusion).

    Where a finger lies over the palm or against its neighbour, the farther skin next to it is in the nearer one's
    shadow: the dark line that separates fingers in a photograph. A sample is darkened by how far it lies behind
    the nearest hand surface within ``radius_px``, past a slack that a smoothly tilted surface does not exceed;
    only ``receives`` samples are shaded.
    """
    depth, nearest = _nearest_hand_depth(zbuf, drawn, radius_px)
    out = np.empty(zbuf.shape, np.float32)
    _crevice(depth, nearest, np.ascontiguousarray(receives), np.float32(CREVICE_SLACK_M), np.float32(CREVICE_DEPTH_M),
             np.float32(CREVICE_DARKEN), out)
    return out


def shade_crevices(zbuf: np.ndarray, drawn: np.ndarray, receives: np.ndarray, radius_px: float,
                   colour: np.ndarray) -> None:
    """Darken ``colour (h, w, 3)`` in place by ``crevice_shading``, raised per channel to ``OCCLUSION_TINT`` (the
    shade keeps skin's red)."""
    depth, nearest = _nearest_hand_depth(zbuf, drawn, radius_px)
    _shade_crevices(depth, nearest, np.ascontiguousarray(receives), np.float32(CREVICE_SLACK_M),
                    np.float32(CREVICE_DEPTH_M), np.float32(CREVICE_DARKEN), OCCLUSION_TINT.astype(np.float32), colour)


def _nearest_hand_depth(zbuf: np.ndarray, drawn: np.ndarray, radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The drawn samples' float32 depth (1000 m elsewhere) and the nearest of it within ``radius_px``."""
    depth = np.empty(zbuf.shape, np.float32)
    _drawn_depth(zbuf, np.ascontiguousarray(drawn), depth)
    r = max(int(round(radius_px)), 1)
    nearest = cv2.erode(depth, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1)))  # separable: fast
    return depth, nearest


@njit(cache=True)
def _drawn_depth(zbuf, drawn, out):
    """``out``: the float32 depth of drawn samples, 1000 m elsewhere."""
    far = np.float32(1e3)
    for i in range(zbuf.shape[0]):
        for j in range(zbuf.shape[1]):
            out[i, j] = np.float32(zbuf[i, j]) if drawn[i, j] else far


@njit(cache=True)
def _crevice(depth, nearest, receives, slack, full, darken, out):
    """``1 - darken · clip((depth - nearest - slack) / full, 0, 1)`` where ``receives``, else 1 (float32 throughout,
    as the array expression of these float32 arrays and scalars evaluates)."""
    one, zero = np.float32(1.0), np.float32(0.0)
    for i in range(depth.shape[0]):
        for j in range(depth.shape[1]):
            if receives[i, j]:
                behind = np.float32(np.float32(np.float32(depth[i, j] - nearest[i, j]) - slack) / full)
                behind = min(max(behind, zero), one)
                out[i, j] = one - np.float32(darken * behind)
            else:
                out[i, j] = one


@njit(cache=True)
def _shade_crevices(depth, nearest, receives, slack, full, darken, tint, colour):
    """``colour *= shade ** tint`` where ``_crevice``'s shade is below 1 (float32, as the array expression)."""
    one, zero = np.float32(1.0), np.float32(0.0)
    for i in range(depth.shape[0]):
        for j in range(depth.shape[1]):
            if receives[i, j]:
                behind = np.float32(np.float32(np.float32(depth[i, j] - nearest[i, j]) - slack) / full)
                behind = min(max(behind, zero), one)
                shade = one - np.float32(darken * behind)
                if shade < one:
                    for c in range(3):
                        colour[i, j, c] = np.float32(colour[i, j, c] * np.float32(shade ** tint[c]))


@njit(cache=True)
def _visible_samples(tri, zbuf, face_depth, s, visible):
    """``visible``: hand samples (``tri >= 0``) nearer than the face's depth ``face_depth`` (output pixels, each
    ``s × s`` samples, nearest-neighbour); returns their rows and columns in row-major order."""
    count = 0
    for i in range(tri.shape[0]):
        for j in range(tri.shape[1]):
            v = tri[i, j] >= 0 and zbuf[i, j] < face_depth[i // s, j // s]
            visible[i, j] = v
            count += v
    iy, ix = np.empty(count, np.int64), np.empty(count, np.int64)
    k = 0
    for i in range(tri.shape[0]):
        for j in range(tri.shape[1]):
            if visible[i, j]:
                iy[k], ix[k] = i, j
                k += 1
    return iy, ix


@njit(cache=True)
def _block_min_depth(zbuf, visible, s, out):
    """``out (h, w)``: the nearest visible sample's float32 depth in each ``s × s`` block of ``zbuf`` (inf: none)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            best = np.float32(np.inf)
            for dy in range(s):
                for dx in range(s):
                    if visible[i * s + dy, j * s + dx]:
                        best = min(best, np.float32(zbuf[i * s + dy, j * s + dx]))
            out[i, j] = best


# The shading's constants, handed to ``_skin_colour`` when it runs (so they are read where they are defined).
def _skin_scalars() -> np.ndarray:
    return np.array([SELF_OCCLUSION, EDGE_DARKEN, CREASE_DARKEN, MOTTLE, NAIL_EDGE, NAIL_FOLD_DARKEN, SKIN_TEXTURE,
                     KNUCKLE_DARKEN, SHEEN, SHEEN_EXPONENT], np.float64)


def _skin_colours() -> np.ndarray:
    # rows: occlusion tint, dorsum, palm, nail tints, mottle and grain colour, redden
    return np.array([OCCLUSION_TINT, DORSUM_TINT, PALM_TINT, NAIL_TINT, [1.0, 0.8, 0.7], [1.0, 1.1, 1.15], REDDEN],
                    np.float64)


@njit(cache=True)
def _skin_colour(n, facing, ndh, attr, mottle, occlusion, sleeve, sh, skin_albedo, sleeve_albedo, textured, grain,
                 arc, chain, joint_arcs, tip_arcs, scalars, colours, knuckle_reach, out):
    """Linear colour ``out (K, 3)`` of the hand's samples: SH light × tints × skin detail, plus sheen (sleeve: cloth).

    Per sample: ``n`` unit normal toward the camera, ``facing`` n·view, ``ndh`` n·half, ``attr`` (palm side, nail,
    crease), ``mottle``, ``occlusion``; with ``textured``, ``grain`` (skin noise), ``arc`` and ``chain`` place it on
    the fingers (``SurfaceCoordinates``). ``scalars``/``colours``: ``_skin_scalars()``/``_skin_colours()``.
    """
    self_occ, edge_darken, crease_darken, mottle_amp, nail_edge, fold_darken, texture_amp, knuckle_darken, sheen, \
        sheen_exp = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4], scalars[5], scalars[6], scalars[7], \
        scalars[8], scalars[9]
    occ_tint, dorsum, palm_tint, nail_tint = colours[0], colours[1], colours[2], colours[3]
    mottle_rgb, grain_rgb, redden = colours[4], colours[5], colours[6]
    floor = np.empty(3)
    log_redden = np.empty(3)
    for c in range(3):
        floor[c] = 0.15 * max(sh[0, c], 1e-4)  # eval_sh's floor
        log_redden[c] = math.log(redden[c])
    basis = np.empty(9)
    lit = np.empty(3)
    detail = np.empty(3)
    offset = np.empty(3)
    for k in range(n.shape[0]):
        x, y, z = float(n[k, 0]), float(n[k, 1]), float(n[k, 2])
        basis[0], basis[1], basis[2], basis[3] = 1.0, x, y, z  # lighting.sh_basis
        basis[4], basis[5], basis[6], basis[7], basis[8] = x * y, x * z, y * z, x * x - y * y, 3.0 * z * z - 1.0
        palm = float(attr[k, 0])
        nail = min(max(float(attr[k, 1]), 0.0), 1.0)
        crease = min(max(float(attr[k, 2]), 0.0), 1.0)
        # A nail is a plate with an edge, not a blush: sharpen the generator's smooth nail weight into the plate
        # and a darker fold of skin around it (the cue that tells the back of a finger from its pad).
        fold = min(max(1.0 - abs(nail - nail_edge) / 0.12, 0.0), 1.0)
        nail = min(max((nail - nail_edge) / 0.08 + 0.5, 0.0), 1.0)
        # Skin darkens where the hand hides its own sky and toward its silhouette, keeping its red.
        unoccluded = 1.0 - self_occ * float(occlusion[k])
        edge = 1.0 - edge_darken * (1.0 - float(facing[k])) ** 2
        log_dark = math.log(unoccluded * edge)  # both darkenings raised to the tint's exponents at once
        for c in range(3):
            e = 0.0
            for b in range(9):
                e += basis[b] * sh[b, c]
            lit[c] = max(e, floor[c]) * math.exp(occ_tint[c] * log_dark)
        # Skin detail: pores and blotches, wrinkled redder skin over the finger joints' backs, redder fingertip pads.
        for c in range(3):
            detail[c] = 1.0
        if textured:
            for c in range(3):
                detail[c] = 1.0 + texture_amp * (1.0 - nail) * float(grain[k]) * grain_rgb[c]
            f = chain[k]
            a = float(arc[k])
            nearest_log, best = -math.inf, 0
            for j in range(3):  # off the fingers a metre from any joint
                offset[j] = 1.0 if math.isnan(joint_arcs[f, j]) else a - joint_arcs[f, j]
                nearest_log = max(nearest_log, -(offset[j] / knuckle_reach[j]) ** 2)
                if abs(offset[j]) < abs(offset[best]):
                    best = j
            near = math.exp(nearest_log)  # the largest of the three Gaussians (exp is monotonic: the same value)
            # Fine wrinkles across the joint's back, about 1.5 mm apart, on the blood-rich patch.
            wrinkle = 0.65 + 0.35 * math.cos(2 * math.pi / 0.0015 * offset[best])
            knuckle = near * (1.0 - palm) * (1.0 - nail)
            dip, tip = joint_arcs[f, 2], tip_arcs[f]
            pad = 0.0
            if not (math.isnan(dip) or math.isnan(tip)) and tip != dip:
                pad = min(max((a - dip) / (tip - dip), 0.0), 1.0)
            blood = knuckle + 0.7 * pad * (1.0 - nail)  # how much redder: knuckle patches and fingertip pads
            for c in range(3):
                detail[c] *= 1.0 - knuckle_darken * knuckle * wrinkle
                if blood > 0.0:
                    detail[c] *= math.exp(log_redden[c] * blood)
        irradiance = 0.0
        for c in range(3):
            irradiance += lit[c] / max(skin_albedo[c], 1e-3) / 3.0
        h = float(ndh[k])
        gloss = 0.0
        if h > 0.0:
            gloss = sheen * h ** sheen_exp
            if nail > 0.0:
                gloss += nail * 0.10 * h ** 60
            gloss *= irradiance
        for c in range(3):
            if sleeve[k]:
                out[k, c] = sleeve_albedo[c] * lit[c] / max(skin_albedo[c], 1e-3)
            else:
                tint = (dorsum[c] * (1 - palm) + palm_tint[c] * palm) * (1 - nail) + nail_tint[c] * nail
                skin = (lit[c] * tint * (1 - crease_darken * crease)
                        * (1 + mottle_amp * float(mottle[k]) * mottle_rgb[c]))
                out[k, c] = skin * (1.0 - fold_darken * fold * (1.0 - nail)) * detail[c] + gloss


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
    visible = np.empty(tri.shape, np.bool_)
    iy, ix = _visible_samples(tri, zbuf, np.ascontiguousarray(face_depth[y0:y1, x0:x1], np.float32), s, visible)
    colour = np.zeros((h * s, w * s, 3), np.float32)
    if len(iy):
        normals_v = np.zeros_like(vertices)
        vertex_normals(vertices, faces, normals_v)
        # Every per-vertex quantity interpolated at once, in single precision: (K, D) with columns position,
        # normal, attributes, mottle, occlusion, then with a texture its rest position and arc.
        if look.occluders is not None:
            occlusion = probe_occlusion(vertices, normals_v, look.occluders, look.occluder_scale)
        else:
            occlusion = self_occlusion(vertices, faces, normals_v)
        frame_table = np.concatenate([vertices, normals_v, attributes, occlusion[:, None]], 1).astype(np.float32)
        clip_table, clip_cols = look.constant_fields()
        count = len(iy)
        sample = np.empty((count, frame_table.shape[1] + clip_table.shape[1]), np.float32)
        nearest = np.empty(count, np.int64)  # the triangle's corner nearest the sample (its material)
        first = np.empty(count, np.int64)  # a corner of the sample's triangle (its chain)
        _interpolate(frame_table, FRAME_COLUMNS, clip_table, clip_cols, faces, tri, b1, b2, iy, ix, sample, nearest,
                     first)
        pos, n, attr, mottle, occlusion = sample[:, 0:3], sample[:, 3:6], sample[:, 6:9], sample[:, 9:10], sample[:, 10:11]
        # Unit normals turned toward the camera, view directions, and the cosines with the view and the half vector.
        light = dominant_direction(look.sh)
        view, facing, ndh = np.empty_like(pos), np.empty((count, 1), np.float32), np.empty((count, 1))
        _view_geometry(pos, n, light, view, facing, ndh)
        textured = look.texture is not None
        if textured:
            rest, arc, chain = sample[:, 11:14], sample[:, 14], look.texture.chain[first]
            grain = np.empty(count, np.float32)  # pores and blotches: two octaves of noise on the rest skin
            _grain(rest, TEXTURE_CELLS_M[0], TEXTURE_CELLS_M[1], _lattice(look.noise_seed).ravel(),
                   _lattice(look.noise_seed + 1).ravel(), NOISE_PERIOD, grain)
            joint_arcs, tip_arcs = look.texture.joint_arcs, look.texture.tip_arcs
        else:
            arc, grain, chain = np.zeros(count, np.float32), np.zeros(count, np.float32), np.zeros(count, np.int8)
            joint_arcs, tip_arcs = np.full((1, 3), np.nan), np.full(1, np.nan)
        skin = np.empty((count, 3), np.float32)
        _skin_colour(n, facing[:, 0], ndh[:, 0], attr, mottle[:, 0], occlusion[:, 0], materials[nearest] == MAT_SLEEVE,
                     np.asarray(look.sh, np.float64), np.asarray(look.skin_albedo, np.float64),
                     np.asarray(look.sleeve_albedo, np.float64), textured, grain, arc, chain,
                     np.asarray(joint_arcs, np.float64), np.asarray(tip_arcs, np.float64), _skin_scalars(),
                     _skin_colours(), np.array(KNUCKLE_REACH_M), skin)
        _scatter(colour, iy, ix, skin)
        radius = CREVICE_REACH_M * camera.fx * s / float(np.median(zbuf[iy, ix]))
        drawn = tri >= 0
        receives = drawn.copy()
        if look.texture is not None:  # the forearm's tube starts inside the palm: that seam is not a crevice
            _unmark(receives, iy, ix, look.texture.chain[first] == ARM_CHAIN)
        shade_crevices(zbuf, drawn, receives, radius, colour)
    coverage = visible.astype(np.float32)
    colour_out = cv2.resize(colour, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(coverage, (w, h), interpolation=cv2.INTER_AREA)
    # Nearest visible sample of each pixel's S×S block.
    depth = np.empty((h, w), np.float32)
    _block_min_depth(zbuf, visible, s, depth)
    colour_full[y0:y1, x0:x1] = colour_out
    alpha_full[y0:y1, x0:x1] = alpha
    depth_full[y0:y1, x0:x1] = depth
    return HandLayer(colour=colour_full, alpha=alpha_full, depth=depth_full, zbuf=zbuf, origin=(x0, y0))
