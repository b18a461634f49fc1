"""numba kernels: a z-buffer triangle rasteriser per layer and one per-pixel shading pass.

The scene is drawn as two layers, each with its own z-buffer: the head with neck and shoulders, and
the hand with its forearm. Keeping the layers apart gives *amodal* face and hand masks for free (a
face pixel behind a finger still belongs to the face mask, which is what the contact mask and the
landmarks need) and the visible image is the per-pixel nearer layer. Rasterising triangles into a
z-buffer costs O(pixels covered) per triangle, and the head's ~20k triangles plus the hand's ~2k
take about a millisecond at 128 px; per-pixel work (albedo features, skin texture, lighting,
hand shadows) runs once per pixel in the shading pass.

Pixel convention: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` with its sample at the centre
``(j + 0.5, i + 0.5)``, matching ``schema``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from interanimate.data.synth.head import (
    F_BROW_IN_A, F_BROW_OUT_A, F_BROW_T, F_BROW_Y, F_EYE_A, F_EYE_HLO, F_EYE_HUP, F_EYE_HW, F_IRIS_R,
    F_LIP_LO, F_LIP_UP, F_MOUTH_HW, F_MOUTH_Y, F_NOSE_BOTTOM_Y, F_NOSE_HW, F_S0, F_SCALE,
    MAT_EAR, MAT_HEAD, MAT_NECK, hair_weight, region_of,
)

# Palette slots (linear RGB triples and scalars) passed to the shader.
P_SKIN, P_LIP, P_HAIR, P_IRIS, P_CLOTH, P_SLEEVE, P_PALM, P_NAIL, P_BROW = 0, 3, 6, 9, 12, 15, 18, 21, 24
P_TEX_SEED, P_EYE_OPEN, P_BLUSH, P_SPEC = 27, 28, 29, 30
NUM_PALETTE = 32

# Hand-layer vertex materials.
MAT_HAND, MAT_ARM, MAT_SLEEVE = 4, 5, 6

# Owner codes of the visible-surface buffer.
OWNER_BACKGROUND, OWNER_HEAD, OWNER_HAND = 0, 1, 2


@njit(cache=True)
def rasterize(verts, faces, fx, fy, cx, cy, zbuf, tribuf, b1buf, b2buf, near):
    """Draw ``faces`` of camera-space ``verts`` into a layer's z-buffer; front faces only."""
    height, width = zbuf.shape
    n = verts.shape[0]
    sx = np.empty(n)
    sy = np.empty(n)
    iz = np.empty(n)
    for i in range(n):
        z = verts[i, 2]
        if z < near:
            iz[i] = -1.0
            sx[i] = 0.0
            sy[i] = 0.0
        else:
            iz[i] = 1.0 / z
            sx[i] = fx * verts[i, 0] * iz[i] + cx
            sy[i] = fy * verts[i, 1] * iz[i] + cy
    for t in range(faces.shape[0]):
        i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
        if iz[i0] <= 0.0 or iz[i1] <= 0.0 or iz[i2] <= 0.0:
            continue
        x0, y0, x1, y1, x2, y2 = sx[i0], sy[i0], sx[i1], sy[i1], sx[i2], sy[i2]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area >= -1e-12:  # back-facing (or degenerate) in a y-down image
            continue
        xmin = max(int(math.ceil(min(x0, x1, x2) - 0.5)), 0)
        xmax = min(int(math.floor(max(x0, x1, x2) - 0.5)), width - 1)
        if xmin > xmax:
            continue
        ymin = max(int(math.ceil(min(y0, y1, y2) - 0.5)), 0)
        ymax = min(int(math.floor(max(y0, y1, y2) - 0.5)), height - 1)
        if ymin > ymax:
            continue
        inv = 1.0 / area
        iz0, iz1, iz2 = iz[i0], iz[i1], iz[i2]
        for py in range(ymin, ymax + 1):
            pyc = py + 0.5
            for px in range(xmin, xmax + 1):
                pxc = px + 0.5
                w0 = ((x1 - pxc) * (y2 - pyc) - (x2 - pxc) * (y1 - pyc)) * inv
                if w0 < 0.0:
                    continue
                w1 = ((x2 - pxc) * (y0 - pyc) - (x0 - pxc) * (y2 - pyc)) * inv
                if w1 < 0.0:
                    continue
                w2 = 1.0 - w0 - w1
                if w2 < 0.0:
                    continue
                izp = w0 * iz0 + w1 * iz1 + w2 * iz2
                z = 1.0 / izp
                if z < zbuf[py, px]:
                    zbuf[py, px] = z
                    tribuf[py, px] = t
                    # Perspective-correct barycentrics.
                    b1buf[py, px] = w1 * iz1 * z
                    b2buf[py, px] = w2 * iz2 * z


@njit(cache=True)
def cover(verts, faces, fx, fy, cx, cy, mask, near):
    """Set ``mask`` where any of ``faces`` covers a pixel centre, whatever its facing or depth.

    Used for the amodal hand mask: the hand's own forearm (or the head) in front of a finger must not
    cut the finger out of the hand mask, or its keypoints would fall outside it.
    """
    height, width = mask.shape
    for t in range(faces.shape[0]):
        i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
        z0, z1, z2 = verts[i0, 2], verts[i1, 2], verts[i2, 2]
        if z0 < near or z1 < near or z2 < near:
            continue
        x0 = fx * verts[i0, 0] / z0 + cx
        y0 = fy * verts[i0, 1] / z0 + cy
        x1 = fx * verts[i1, 0] / z1 + cx
        y1 = fy * verts[i1, 1] / z1 + cy
        x2 = fx * verts[i2, 0] / z2 + cx
        y2 = fy * verts[i2, 1] / z2 + cy
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if abs(area) < 1e-12:
            continue
        xmin = max(int(math.ceil(min(x0, x1, x2) - 0.5)), 0)
        xmax = min(int(math.floor(max(x0, x1, x2) - 0.5)), width - 1)
        ymin = max(int(math.ceil(min(y0, y1, y2) - 0.5)), 0)
        ymax = min(int(math.floor(max(y0, y1, y2) - 0.5)), height - 1)
        if xmin > xmax or ymin > ymax:
            continue
        inv = 1.0 / area
        for py in range(ymin, ymax + 1):
            pyc = py + 0.5
            for px in range(xmin, xmax + 1):
                pxc = px + 0.5
                w0 = ((x1 - pxc) * (y2 - pyc) - (x2 - pxc) * (y1 - pyc)) * inv
                w1 = ((x2 - pxc) * (y0 - pyc) - (x0 - pxc) * (y2 - pyc)) * inv
                if w0 >= 0.0 and w1 >= 0.0 and w0 + w1 <= 1.0:
                    mask[py, px] = True


@njit(cache=True)
def _hash(ix, iy, seed):
    h = (ix * 374761393 + iy * 668265263 + seed * 2147483647) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFF) / 65535.0


@njit(cache=True)
def value_noise(x, y, seed):
    """Smooth value noise in [0, 1] on a unit lattice."""
    ix = math.floor(x)
    iy = math.floor(y)
    fx = x - ix
    fy = y - iy
    ix = int(ix)
    iy = int(iy)
    ux = fx * fx * (3 - 2 * fx)
    uy = fy * fy * (3 - 2 * fy)
    a = _hash(ix, iy, seed)
    b = _hash(ix + 1, iy, seed)
    c = _hash(ix, iy + 1, seed)
    d = _hash(ix + 1, iy + 1, seed)
    return a + (b - a) * ux + (c - a) * uy + (a - b - c + d) * ux * uy


@njit(cache=True)
def _smooth(edge0, edge1, x):
    t = (x - edge0) / (edge1 - edge0)
    if t <= 0.0:
        return 0.0
    if t >= 1.0:
        return 1.0
    return t * t * (3 - 2 * t)


@njit(cache=True)
def head_albedo(a, y, feat, pal, out):
    """Linear-RGB albedo of head skin at material ``(a, y)`` into ``out[0:3]``; returns (spec, shininess)."""
    s0 = feat[F_S0]
    sc = feat[F_SCALE]
    seed = int(pal[P_TEX_SEED])
    smm = a * s0 * 1000.0  # across-face arc length, mm
    ymm = y * 1000.0
    # Skin: blotches at ~4 mm, fine grain at ~0.8 mm (visible at large sizes).
    tex = 0.92 + 0.10 * value_noise(smm * 0.25, ymm * 0.25, seed) + 0.06 * value_noise(smm * 1.3, ymm * 1.3, seed + 7)
    r = pal[P_SKIN] * tex
    g = pal[P_SKIN + 1] * tex
    b = pal[P_SKIN + 2] * tex
    spec = pal[P_SPEC]
    shin = 22.0
    abs_a = abs(a)
    # Cheek blush.
    ea = feat[F_EYE_A]
    du = (abs_a - ea - 0.1) / 0.3
    dv = (y - 0.03 * sc) / (0.018 * sc)
    blush = pal[P_BLUSH] * math.exp(-(du * du + dv * dv))
    r *= 1.0 + 0.35 * blush
    g *= 1.0 - 0.15 * blush
    b *= 1.0 - 0.1 * blush

    # Lips (vermilion between the lip lines) and the dark mouth line.
    my, mw = feat[F_MOUTH_Y], feat[F_MOUTH_HW]
    u = a / mw
    if abs(u) < 1.05:
        prof = math.sqrt(max(0.0, 1.0 - u * u))
        bow = 1.0 - 0.25 * math.exp(-(u / 0.12) ** 2)  # cupid's bow dip
        top = my - feat[F_LIP_UP] * (0.25 + 0.75 * prof) * bow
        bot = my + feat[F_LIP_LO] * (0.25 + 0.75 * prof)
        wl = _smooth(top - 0.0006 * sc, top + 0.0006 * sc, y) * (1.0 - _smooth(bot - 0.0006 * sc, bot + 0.0006 * sc, y))
        wl *= 1.0 - _smooth(0.92, 1.05, abs(u))
        if wl > 0.0:
            r += (pal[P_LIP] * tex - r) * wl
            g += (pal[P_LIP + 1] * tex - g) * wl
            b += (pal[P_LIP + 2] * tex - b) * wl
            spec += 0.08 * wl
            shin = 40.0
        line = math.exp(-(((y - my) / (0.0007 * sc)) ** 2)) * (1.0 - _smooth(0.85, 1.0, abs(u)))
        dark = 1.0 - 0.75 * line
        r *= dark
        g *= dark
        b *= dark

    # Nostrils.
    nb = feat[F_NOSE_BOTTOM_Y]
    nw = feat[F_NOSE_HW]
    for side in (-1.0, 1.0):
        du = (a * s0 - side * 0.55 * nw) / (0.0034 * sc)
        dv = (y - nb + 0.0012 * sc) / (0.0017 * sc)
        q = du * du + dv * dv
        if q < 1.5:
            k = 1.0 - 0.7 * (1.0 - _smooth(0.5, 1.5, q))
            r *= k
            g *= k
            b *= k

    # Eyes: sclera, iris, pupil inside the lid opening; lash line above; blink closes the upper lid.
    du_s = abs_a - ea
    ew = feat[F_EYE_HW]
    u = du_s / ew
    if abs(u) < 1.15:
        prof = max(0.0, 1.0 - u * u)
        open_ = pal[P_EYE_OPEN]
        up = -feat[F_EYE_HUP] * prof ** 0.75 * (0.08 + 0.92 * open_) + (1.0 - open_) * 0.5 * feat[F_EYE_HLO] * prof
        lo = feat[F_EYE_HLO] * prof ** 0.9
        if up < y < lo:
            dx = du_s * s0
            rr = math.sqrt(dx * dx + y * y)
            ir = feat[F_IRIS_R]
            if rr < ir * 0.42:
                r, g, b = 0.01, 0.01, 0.012
            elif rr < ir:
                ring = 0.7 + 0.3 * value_noise(math.atan2(y, dx) * 12.0, rr * 4000.0, seed + 3)
                edge = 1.0 - 0.5 * _smooth(0.8 * ir, ir, rr)
                r = pal[P_IRIS] * ring * edge
                g = pal[P_IRIS + 1] * ring * edge
                b = pal[P_IRIS + 2] * ring * edge
            else:
                corner = 1.0 - 0.25 * _smooth(0.6, 1.0, abs(u))
                r, g, b = 0.72 * corner, 0.66 * corner, 0.62 * corner
            # Upper-lid shadow on the eyeball.
            lid = _smooth(up + 0.0018 * sc, up, y)
            k = 1.0 - 0.55 * lid
            r *= k
            g *= k
            b *= k
            spec = 0.5
            shin = 90.0
        lash = math.exp(-(((y - up) / (0.0007 * sc)) ** 2)) * (1.0 - _smooth(0.85, 1.1, abs(u)))
        if lash > 0.01:
            k = 1.0 - 0.85 * lash
            r *= k
            g *= k
            b *= k
        # Upper-lid crease, a soft darker arc.
        crease = math.exp(-(((y + feat[F_EYE_HUP] * 1.9 * (0.3 + 0.7 * prof)) / (0.0012 * sc)) ** 2)) * prof
        k = 1.0 - 0.12 * crease
        r *= k
        g *= k
        b *= k

    # Brows follow the same arch as the brow landmarks.
    b_in, b_out = feat[F_BROW_IN_A], feat[F_BROW_OUT_A]
    t = (b_out - abs_a) / (b_out - b_in)
    if -0.1 < t < 1.1:
        tc = min(1.0, max(0.0, t))
        centre = feat[F_BROW_Y] + 0.004 * sc - 0.006 * sc * math.sin(math.pi * (0.15 + 0.75 * tc)) + 0.002 * sc * tc
        half = feat[F_BROW_T] * (0.45 + 0.55 * tc)
        wb = 1.0 - _smooth(half * 0.6, half * 1.2, abs(y - centre))
        wb *= _smooth(-0.1, 0.05, t) * (1.0 - _smooth(0.95, 1.1, t))
        wb *= 0.65 + 0.35 * value_noise(smm * 1.5, ymm * 3.0, seed + 11)
        r += (pal[P_BROW] - r) * wb
        g += (pal[P_BROW + 1] - g) * wb
        b += (pal[P_BROW + 2] - b) * wb

    # Hair with strand-like anisotropic texture.
    hw = hair_weight(a, y, feat)
    if hw > 0.0:
        strand = 0.75 + 0.35 * value_noise(smm * 1.6, ymm * 0.15, seed + 5) + 0.1 * value_noise(smm * 6.0, ymm * 0.4, seed + 9)
        r += (pal[P_HAIR] * strand - r) * hw
        g += (pal[P_HAIR + 1] * strand - g) * hw
        b += (pal[P_HAIR + 2] * strand - b) * hw
        spec = spec * (1.0 - hw) + 0.12 * hw
        shin = shin * (1.0 - hw) + 10.0 * hw
    out[0] = r
    out[1] = g
    out[2] = b
    return spec, shin


@njit(cache=True)
def shadow_and_ao(px, py, pz, nx, ny, nz, spheres, bound, lx, ly, lz):
    """Visibility of the key light and ambient occlusion at a head point from the hand's spheres."""
    bx = px - bound[0]
    by = py - bound[1]
    bz = pz - bound[2]
    reach = bound[3] + 0.05
    vis = 1.0
    occ = 0.0
    near = bx * bx + by * by + bz * bz < reach * reach
    # Does the ray toward the light pass near the hand's bounding sphere at all?
    t = -(bx * lx + by * ly + bz * lz)
    hits = False
    if t > 0:
        d2 = bx * bx + by * by + bz * bz - t * t
        hits = d2 < (bound[3] + 0.02) ** 2
    if not near and not hits:
        return 1.0, 0.0
    for k in range(spheres.shape[0]):
        cx = spheres[k, 0] - px
        cy = spheres[k, 1] - py
        cz = spheres[k, 2] - pz
        rad = spheres[k, 3]
        d2 = cx * cx + cy * cy + cz * cz
        if near:
            d = math.sqrt(d2) + 1e-6
            cosang = (cx * nx + cy * ny + cz * nz) / d
            if cosang > -0.2:
                occ += 0.9 * rad * rad / (d2 + 1e-6) * min(1.0, cosang + 0.3)
        if hits:
            tl = cx * lx + cy * ly + cz * lz
            if tl > 0:
                miss = math.sqrt(max(0.0, d2 - tl * tl))
                pen = 0.004 + 0.06 * tl  # penumbra grows with distance to the occluder
                v = _smooth(rad - pen, rad + pen, miss)
                if v < vis:
                    vis = v
    return vis, min(occ, 0.75)


@njit(cache=True)
def shade(
    head_verts, head_normals, head_faces, head_material, head_vmat, head_disp, head_contact,
    head_zbuf, head_tri, head_b1, head_b2,
    hand_verts, hand_normals, hand_faces, hand_attr, hand_vmat,
    hand_zbuf, hand_tri, hand_b1, hand_b2,
    feat, pal, lights, ambient, spheres, bound, background,
    rgb, depth, deformation, face_mask, hand_mask, contact_mask, owner,
):
    """Shade every pixel and fill the annotation buffers (amodal masks, visible depth/deformation)."""
    height, width = head_zbuf.shape
    alb = np.empty(3)
    nlights = lights.shape[0]
    for i in range(height):
        for j in range(width):
            zh = head_zbuf[i, j]
            zk = hand_zbuf[i, j]
            th = head_tri[i, j]
            tk = hand_tri[i, j]
            region = -1
            disp = 0.0
            if th >= 0:
                f0, f1, f2 = head_faces[th, 0], head_faces[th, 1], head_faces[th, 2]
                b1 = head_b1[i, j]
                b2 = head_b2[i, j]
                b0 = 1.0 - b1 - b2
                vm = head_vmat[f0]
                if vm == MAT_HEAD:
                    ms = b0 * head_material[f0, 0] + b1 * head_material[f1, 0] + b2 * head_material[f2, 0]
                    mc = b0 * head_material[f0, 1] + b1 * head_material[f1, 1] + b2 * head_material[f2, 1]
                    my = b0 * head_material[f0, 2] + b1 * head_material[f1, 2] + b2 * head_material[f2, 2]
                    ma = math.atan2(ms, mc)
                    region = region_of(ma, my, feat)
                    if region >= 0:
                        face_mask[i, j] = True
                        cw = b0 * head_contact[f0] + b1 * head_contact[f1] + b2 * head_contact[f2]
                        if cw > 0.5:
                            contact_mask[i, j] = True
                    disp = b0 * head_disp[f0] + b1 * head_disp[f1] + b2 * head_disp[f2]
            if tk >= 0:
                g0 = hand_faces[tk, 0]
                if hand_vmat[g0] == MAT_HAND:
                    hand_mask[i, j] = True
            if th < 0 and tk < 0:
                owner[i, j] = OWNER_BACKGROUND
                depth[i, j] = 0.0
                rgb[i, j, 0] = background[i, j, 0]
                rgb[i, j, 1] = background[i, j, 1]
                rgb[i, j, 2] = background[i, j, 2]
                continue
            use_hand = tk >= 0 and (th < 0 or zk < zh)
            if use_hand:
                owner[i, j] = OWNER_HAND
                depth[i, j] = zk
                g0, g1, g2 = hand_faces[tk, 0], hand_faces[tk, 1], hand_faces[tk, 2]
                b1 = hand_b1[i, j]
                b2 = hand_b2[i, j]
                b0 = 1.0 - b1 - b2
                px = b0 * hand_verts[g0, 0] + b1 * hand_verts[g1, 0] + b2 * hand_verts[g2, 0]
                py = b0 * hand_verts[g0, 1] + b1 * hand_verts[g1, 1] + b2 * hand_verts[g2, 1]
                pz = b0 * hand_verts[g0, 2] + b1 * hand_verts[g1, 2] + b2 * hand_verts[g2, 2]
                nx = b0 * hand_normals[g0, 0] + b1 * hand_normals[g1, 0] + b2 * hand_normals[g2, 0]
                ny = b0 * hand_normals[g0, 1] + b1 * hand_normals[g1, 1] + b2 * hand_normals[g2, 1]
                nz = b0 * hand_normals[g0, 2] + b1 * hand_normals[g1, 2] + b2 * hand_normals[g2, 2]
                palm = b0 * hand_attr[g0, 0] + b1 * hand_attr[g1, 0] + b2 * hand_attr[g2, 0]
                nail = b0 * hand_attr[g0, 1] + b1 * hand_attr[g1, 1] + b2 * hand_attr[g2, 1]
                crease = b0 * hand_attr[g0, 2] + b1 * hand_attr[g1, 2] + b2 * hand_attr[g2, 2]
                vm = hand_vmat[g0]
                if vm == MAT_SLEEVE:
                    base = P_SLEEVE
                    alb[0], alb[1], alb[2] = pal[base], pal[base + 1], pal[base + 2]
                    spec, shin = 0.02, 8.0
                else:
                    for c in range(3):
                        alb[c] = pal[P_SKIN + c] + (pal[P_PALM + c] - pal[P_SKIN + c]) * palm
                    nl = _smooth(0.35, 0.6, nail)
                    for c in range(3):
                        alb[c] += (pal[P_NAIL + c] - alb[c]) * nl
                    k = 1.0 - 0.25 * crease
                    for c in range(3):
                        alb[c] *= k
                    spec = pal[P_SPEC] + 0.25 * nl
                    shin = 22.0 + 40.0 * nl
                vis = 1.0
                occ = 0.0
            else:
                owner[i, j] = OWNER_HEAD
                depth[i, j] = zh
                f0, f1, f2 = head_faces[th, 0], head_faces[th, 1], head_faces[th, 2]
                b1 = head_b1[i, j]
                b2 = head_b2[i, j]
                b0 = 1.0 - b1 - b2
                px = b0 * head_verts[f0, 0] + b1 * head_verts[f1, 0] + b2 * head_verts[f2, 0]
                py = b0 * head_verts[f0, 1] + b1 * head_verts[f1, 1] + b2 * head_verts[f2, 1]
                pz = b0 * head_verts[f0, 2] + b1 * head_verts[f1, 2] + b2 * head_verts[f2, 2]
                nx = b0 * head_normals[f0, 0] + b1 * head_normals[f1, 0] + b2 * head_normals[f2, 0]
                ny = b0 * head_normals[f0, 1] + b1 * head_normals[f1, 1] + b2 * head_normals[f2, 1]
                nz = b0 * head_normals[f0, 2] + b1 * head_normals[f1, 2] + b2 * head_normals[f2, 2]
                vm = head_vmat[f0]
                if vm == MAT_HEAD:
                    deformation[i, j] = disp
                    ms = b0 * head_material[f0, 0] + b1 * head_material[f1, 0] + b2 * head_material[f2, 0]
                    mc = b0 * head_material[f0, 1] + b1 * head_material[f1, 1] + b2 * head_material[f2, 1]
                    my = b0 * head_material[f0, 2] + b1 * head_material[f1, 2] + b2 * head_material[f2, 2]
                    spec, shin = head_albedo(math.atan2(ms, mc), my, feat, pal, alb)
                    # Pressed skin blanches at the centre and flushes around it (capillary refill).
                    if disp > 0.05:
                        blanch = min(1.0, disp / 6.0)
                        alb[0] *= 1.0 + 0.10 * blanch
                        alb[1] *= 1.0 + 0.06 * blanch
                        alb[2] *= 1.0 + 0.04 * blanch
                elif vm == MAT_EAR:
                    mu = b0 * head_material[f0, 0] + b1 * head_material[f1, 0] + b2 * head_material[f2, 0]
                    mv = b0 * head_material[f0, 1] + b1 * head_material[f1, 1] + b2 * head_material[f2, 1]
                    mw = b0 * head_material[f0, 2] + b1 * head_material[f1, 2] + b2 * head_material[f2, 2]
                    concha = _smooth(0.0, 0.5, mu) * math.exp(-(mv * mv / 0.3 + mw * mw / 0.25))
                    k = 1.0 - 0.45 * concha
                    alb[0] = pal[P_SKIN] * k * 1.03
                    alb[1] = pal[P_SKIN + 1] * k * 0.97
                    alb[2] = pal[P_SKIN + 2] * k * 0.97
                    spec, shin = pal[P_SPEC], 20.0
                elif vm == MAT_NECK:
                    alb[0] = pal[P_SKIN] * 0.95
                    alb[1] = pal[P_SKIN + 1] * 0.93
                    alb[2] = pal[P_SKIN + 2] * 0.93
                    spec, shin = pal[P_SPEC] * 0.7, 18.0
                else:
                    weave = 0.9 + 0.1 * value_noise(px * 2500.0, py * 2500.0, 17)
                    alb[0] = pal[P_CLOTH] * weave
                    alb[1] = pal[P_CLOTH + 1] * weave
                    alb[2] = pal[P_CLOTH + 2] * weave
                    spec, shin = 0.02, 8.0
                vis, occ = shadow_and_ao(px, py, pz, nx, ny, nz, spheres, bound,
                                          lights[0, 0], lights[0, 1], lights[0, 2])
            nn = math.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12
            nx /= nn
            ny /= nn
            nz /= nn
            vl = math.sqrt(px * px + py * py + pz * pz) + 1e-12
            vx, vy, vz = -px / vl, -py / vl, -pz / vl
            if nx * vx + ny * vy + nz * vz < 0.0:  # silhouette normals: keep them facing the viewer
                d = nx * vx + ny * vy + nz * vz
                nx -= d * vx
                ny -= d * vy
                nz -= d * vz
            amb = 1.0 - occ
            # Hemispheric ambient: a little more from above than from below.
            sky = 0.75 - 0.25 * ny
            cr = ambient[0] * amb * sky
            cg = ambient[1] * amb * sky
            cb = ambient[2] * amb * sky
            sr = 0.0
            sg = 0.0
            sb = 0.0
            for k in range(nlights):
                lx, ly, lz = lights[k, 0], lights[k, 1], lights[k, 2]
                ndl = nx * lx + ny * ly + nz * lz
                shadow = vis if k == 0 else 1.0
                # Wrapped diffuse approximates light scattering under skin; red scatters furthest.
                dr = max(0.0, (ndl + 0.45) / 1.45)
                dg = max(0.0, (ndl + 0.3) / 1.3)
                db = max(0.0, (ndl + 0.25) / 1.25)
                cr += lights[k, 3] * dr * shadow
                cg += lights[k, 4] * dg * shadow
                cb += lights[k, 5] * db * shadow
                if ndl > 0.0:
                    hx, hy, hz = lx + vx, ly + vy, lz + vz
                    hl = math.sqrt(hx * hx + hy * hy + hz * hz) + 1e-12
                    ndh = max(0.0, (nx * hx + ny * hy + nz * hz) / hl)
                    sp = spec * ndh ** shin * shadow
                    sr += lights[k, 3] * sp
                    sg += lights[k, 4] * sp
                    sb += lights[k, 5] * sp
            rgb[i, j, 0] = alb[0] * cr + sr
            rgb[i, j, 1] = alb[1] * cg + sg
            rgb[i, j, 2] = alb[2] * cb + sb


_SRGB_LUT = np.clip(np.round(255.0 * np.where(
    np.linspace(0, 1, 4096) <= 0.0031308, np.linspace(0, 1, 4096) * 12.92,
    1.055 * np.linspace(0, 1, 4096) ** (1 / 2.4) - 0.055)), 0, 255).astype(np.uint8)


@njit(cache=True)
def to_srgb8(rgb, exposure, out):
    """Linear float RGB -> sRGB uint8 through a 4096-entry table."""
    h, w, _ = rgb.shape
    for i in range(h):
        for j in range(w):
            for c in range(3):
                v = rgb[i, j, c] * exposure
                # Soft shoulder instead of a hard clip keeps highlights from banding.
                if v > 0.8:
                    v = 0.8 + 0.2 * (1.0 - math.exp(-(v - 0.8) / 0.2))
                k = int(v * 4095.0 + 0.5)
                if k < 0:
                    k = 0
                elif k > 4095:
                    k = 4095
                out[i, j, c] = _SRGB_LUT[k]

