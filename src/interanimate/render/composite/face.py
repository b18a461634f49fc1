"""The reference photo's face as metric 3-D geometry: the MediaPipe mesh lifted, rasterised and lit.

The 478-point mesh comes in pixels with a depth scaled like x. A pinhole camera is placed so the face sits
``DISTANCE_M`` in front of it and the inter-ocular distance measures ``IOD_METRES``; every vertex is back-projected
along its own pixel ray, so the lifted mesh reprojects exactly onto the photo's landmarks. Rasterising the
tessellation gives, per pixel, the skin's 3-D point and normal (``points``, ``normals``); outside the mesh the depth is
extended smoothly so head motion can move hair and ears with the face and fade out toward the image border
(``support``). The lighting is a second-order spherical-harmonic fit of the skin's linear colour over those normals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from interanimate.data.annotate import IOD_METRES, face_frame, face_outline, ibug68_from_mesh, region_of_points
from interanimate.data.synth.mesh import vertex_normals
from interanimate.data.synth.raster import rasterize
from interanimate.data.synth.render import Camera
from interanimate.render.composite.lighting import fit_sh

DISTANCE_M = 0.55  # camera to face; a phone at arm's length or a webcam
PIVOT_BEHIND_M = 0.09  # the head turns about a point this far behind the face surface (the neck's top)


@lru_cache(maxsize=1)
def tessellation() -> np.ndarray:
    """``(T, 3)`` triangles of MediaPipe's face tessellation (its edge list, read in triples)."""
    from mediapipe.tasks.python.vision import FaceLandmarksConnections

    edges = FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION
    tris = np.array([[edges[i].start, edges[i + 1].start, edges[i + 2].start] for i in range(0, len(edges) - 2, 3)])
    return tris.astype(np.int32)


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _orient(vertices_px: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Triangles wound so they face the camera in the photo (negative signed area in a y-down image)."""
    p = vertices_px[:, :2]
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    out = tris.copy()
    out[area > 0] = out[area > 0][:, [0, 2, 1]]
    return out


@dataclass
class PhotoFace:
    """The lifted face of one framed photo (pixel arrays are ``(H, W, ...)`` of the output frame)."""

    image: np.ndarray  # (H, W, 3) uint8
    linear: np.ndarray  # (H, W, 3) float32 linear RGB
    camera: Camera
    mesh_px: np.ndarray  # (478, 3)
    vertices: np.ndarray  # (478, 3) metres, camera frame
    triangles: np.ndarray  # (T, 3)
    px_per_m: float
    pivot: np.ndarray  # (3,)
    points: np.ndarray  # (H, W, 3) skin point per pixel (extended outside the mesh)
    normals: np.ndarray  # (H, W, 3) outward unit normals (toward the camera)
    face_mask: np.ndarray  # (H, W) bool, pixels the mesh covers
    support: np.ndarray  # (H, W) float weight with which head motion moves each pixel
    landmarks: np.ndarray  # (68, 2)
    sh: np.ndarray  # (9, 3) linear-RGB lighting × albedo of the skin
    skin_linear: np.ndarray  # (3,) median linear skin colour
    noise_sigma: float  # sensor noise of the photo (8-bit units)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def project(self, points: np.ndarray) -> np.ndarray:
        return self.camera.project(points)

    def regions(self, pixels: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Face region ids (``taxonomy.FACE_REGIONS``) of ``(K, 2)`` pixel points; -1 outside the face's skin."""
        from interanimate.data.annotate import signed_distance

        lm = (self.landmarks if landmarks is None else landmarks)[None].astype(np.float64)
        frame = face_frame(lm)
        coords = frame.to_face(np.asarray(pixels, np.float64)[None])
        ids = region_of_points(coords, frame.to_face(lm))[0].astype(np.int8)
        inside = signed_distance(np.asarray(pixels, np.float64), face_outline(lm, frame)[0]) >= -0.05 * frame.iod[0]
        return np.where(inside, ids, -1).astype(np.int8)


def sample_map(values: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``values (H, W, C)`` at a pixel coordinate (centres at +0.5)."""
    h, w = values.shape[:2]
    x = float(np.clip(pixel[0] - 0.5, 0, w - 1.001))
    y = float(np.clip(pixel[1] - 0.5, 0, h - 1.001))
    x0, y0 = int(x), int(y)
    fx, fy = x - x0, y - y0
    top = values[y0, x0] * (1 - fx) + values[y0, x0 + 1] * fx
    bottom = values[y0 + 1, x0] * (1 - fx) + values[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def lift(mesh_px: np.ndarray, width: int, height: int) -> tuple[Camera, np.ndarray, float]:
    """Camera, metric vertices ``(478, 3)`` and pixels per metre for a mesh in pixels."""
    lm = ibug68_from_mesh(mesh_px)
    iod_px = float(np.linalg.norm(lm[42:48, :2].mean(0) - lm[36:42, :2].mean(0)))
    k = iod_px / IOD_METRES
    focal = k * DISTANCE_M
    camera = Camera(fx=focal, fy=focal, cx=width / 2.0, cy=height / 2.0, width=width, height=height)
    z = DISTANCE_M + (mesh_px[:, 2] - np.median(mesh_px[:, 2])) / k
    x = (mesh_px[:, 0] - camera.cx) * z / focal
    y = (mesh_px[:, 1] - camera.cy) * z / focal
    return camera, np.stack([x, y, z], 1), k


def surface_maps(vertices: np.ndarray, triangles: np.ndarray, camera: Camera) -> tuple[np.ndarray, ...]:
    """Per-pixel 3-D point, normal, coverage and z-buffer of the mesh."""
    h, w = camera.height, camera.width
    zbuf = np.full((h, w), np.inf)
    tri = np.full((h, w), -1, np.int32)
    b1 = np.zeros((h, w))
    b2 = np.zeros((h, w))
    rasterize(vertices, triangles, camera.fx, camera.fy, camera.cx, camera.cy, zbuf, tri, b1, b2, 0.05)
    normals_v = np.zeros_like(vertices)
    vertex_normals(vertices, triangles, normals_v)
    if normals_v[:, 2].mean() > 0:
        normals_v = -normals_v
    covered = tri >= 0
    t = np.where(covered, tri, 0)
    w0 = 1.0 - b1 - b2
    corners = triangles[t]
    points = (w0[..., None] * vertices[corners[..., 0]] + b1[..., None] * vertices[corners[..., 1]]
              + b2[..., None] * vertices[corners[..., 2]])
    normals = (w0[..., None] * normals_v[corners[..., 0]] + b1[..., None] * normals_v[corners[..., 1]]
               + b2[..., None] * normals_v[corners[..., 2]])
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True) + 1e-12
    return points, normals, covered, zbuf


def _extend_depth(zbuf: np.ndarray, covered: np.ndarray, sigma: float) -> np.ndarray:
    """Depth everywhere: the mesh's inside it; outside, continuous with its rim and relaxing within ``sigma``
    toward a normalised-convolution extension of the mesh and a plane behind it.

    Continuity matters once the head turns or nods: the warp moves each pixel by its depth, and a step in depth at
    the rim (the interior's average is centimetres nearer than the face's sides) would tear the image there.
    """
    z = np.where(covered, zbuf, 0.0).astype(np.float32)
    m = covered.astype(np.float32)
    blur_z = cv2.GaussianBlur(z, (0, 0), sigma)
    blur_m = cv2.GaussianBlur(m, (0, 0), sigma)
    far = float(np.median(zbuf[covered])) + 0.03
    ext = np.where(blur_m > 1e-3, blur_z / np.maximum(blur_m, 1e-6), far)
    # Beyond the rim the extension relaxes toward a plane a little behind the face (hair, ears, background).
    weight = np.clip(blur_m * 2.0, 0.0, 1.0)
    ext = weight * ext + (1 - weight) * far
    # Next to the rim: the depth of the nearest rim pixel, its Voronoi seams smoothed over a few pixels.
    outside = (~covered).astype(np.uint8)
    dist, label = cv2.distanceTransformWithLabels(outside, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    rim_z = np.zeros(int(label.max()) + 1, np.float32)
    rim_z[label[covered]] = zbuf[covered]
    near = rim_z[label]
    o = outside.astype(np.float32)
    near = cv2.GaussianBlur(near * o, (0, 0), 1.5) / np.maximum(cv2.GaussianBlur(o, (0, 0), 1.5), 1e-6)
    t = np.clip(dist / sigma, 0.0, 1.0)
    blend = t * t * (3 - 2 * t)
    return np.where(covered, zbuf, (1 - blend) * near + blend * ext)


def _support(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """1 over the head (face, hair, ears), falling smoothly to 0 well outside it and at the image border."""
    outline = face_outline(landmarks[None].astype(np.float64))[0]
    centre = outline.mean(0)
    half = (outline.max(0) - outline.min(0)) / 2
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    rho = np.sqrt(((xx - centre[0]) / (1.25 * half[0])) ** 2 + ((yy - centre[1]) / (1.3 * half[1])) ** 2)
    t = np.clip((rho - 1.0) / 1.1, 0.0, 1.0)
    head = 1.0 - t * t * (3 - 2 * t)
    margin = 0.06 * max(width, height)
    border = np.minimum.reduce([xx, yy, width - xx, height - yy]) / margin
    b = np.clip(border, 0.0, 1.0)
    return (head * b * b * (3 - 2 * b)).astype(np.float32)


def _skin_sample(landmarks: np.ndarray, covered: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """Pixels of bare skin: the mesh minus eyes, brows, lips and nostrils, minus specular and deep-shadow pixels."""
    h, w = covered.shape
    features = np.zeros((h, w), np.uint8)
    iod = float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))
    for idx in (range(36, 42), range(42, 48), range(48, 60), range(17, 22), range(22, 27), range(31, 36)):
        pts = np.round(landmarks[list(idx)]).astype(np.int32)
        cv2.fillConvexPoly(features, cv2.convexHull(pts), 1)
    features = cv2.dilate(features, np.ones((3, 3), np.uint8), iterations=max(1, int(0.08 * iod)))
    luma = linear.mean(-1)
    ok = covered & (features == 0)
    if ok.sum() < 50:
        return covered
    lo, hi = np.percentile(luma[ok], [5, 97])
    return ok & (luma >= lo) & (luma <= hi)


def estimate_noise(image: np.ndarray, mask: np.ndarray) -> float:
    """Sensor noise sigma (8-bit units): the robust spread of a Laplacian residual over flat skin."""
    grey = image.astype(np.float32).mean(-1)
    residual = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    values = residual[mask]
    if len(values) < 50:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def build_face(image: np.ndarray, mesh_px: np.ndarray) -> PhotoFace:
    """``PhotoFace`` for a framed ``(H, W, 3) uint8`` image and its ``(478, 3)`` mesh in its pixels."""
    height, width = image.shape[:2]
    mesh_px = np.asarray(mesh_px, np.float64)
    camera, vertices, k = lift(mesh_px, width, height)
    triangles = _orient(mesh_px, tessellation())
    points, normals, covered, zbuf = surface_maps(vertices, triangles, camera)
    if not covered.any():
        from interanimate.pipelines.errors import AnimateError

        raise AnimateError("the face mesh covers no pixel of the framed photo; use a photo with the face inside it")
    landmarks = ibug68_from_mesh(mesh_px)[:, :2]
    iod_px = k * IOD_METRES
    depth = _extend_depth(zbuf, covered, sigma=max(2.0, 0.6 * iod_px))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    ext = np.stack([(xx - camera.cx) * depth / camera.fx, (yy - camera.cy) * depth / camera.fy, depth], -1)
    points = np.where(covered[..., None], points, ext)
    normals = np.where(covered[..., None], normals, np.array([0.0, 0.0, -1.0]))
    linear = srgb_to_linear(image)
    skin = _skin_sample(landmarks, covered, linear)
    sh = fit_sh(normals[skin].reshape(-1, 3), linear[skin].reshape(-1, 3).astype(np.float64))
    centre = vertices.mean(0)
    pivot = np.array([centre[0], centre[1] + 0.03, vertices[:, 2].min() + PIVOT_BEHIND_M + 0.03])
    return PhotoFace(image=image, linear=linear, camera=camera, mesh_px=mesh_px, vertices=vertices,
                     triangles=triangles, px_per_m=k, pivot=pivot, points=points, normals=normals,
                     face_mask=covered, support=_support(landmarks, width, height), landmarks=landmarks, sh=sh,
                     skin_linear=np.median(linear[skin], axis=0), noise_sigma=estimate_noise(image, skin))


# ------------------------------------------------------------------------------------------------- blinks

# MediaPipe mesh indices of the lid margins, corner to corner (outer corner first).
EYELIDS = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)),
)
LID_REACH = 0.4  # of the eye's width: the skin above the upper lid that stretches down with it
MID_SHARE = 0.2  # of the lid's drop, moved halfway up that skin
LOWER_REACH = 0.35  # of the eye's height: the skin below the lower lid that rises with it
LOWER_RISE = 0.15  # of the eye's height: where the closed lids meet, above the open lower lid


def _knots(lids: tuple, x: np.ndarray, closure: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column ``x``: the open eye's knots (brow side of the lid skin, halfway down it, upper lid, lower lid, cheek
    side) and the same knots with the lids ``closure`` of the way closed."""
    upper_px, lower_px, width = lids
    u = np.interp(x, upper_px[:, 0], upper_px[:, 1])
    low = np.interp(x, lower_px[:, 0], lower_px[:, 1])
    height = np.maximum(low - u, 0.0)
    meet = low - LOWER_RISE * height
    top, bottom = u - LID_REACH * width, low + LOWER_REACH * height + 1e-3
    mid = (top + u) / 2
    drop = closure * (meet - u)
    # The lid itself carries most of the motion; the skin toward the brow (and spectacle frames) barely moves.
    open_knots = np.stack([top, mid, u, low, bottom], -1)
    closed = np.stack([top, mid + MID_SHARE * drop, u + drop, low + closure * (meet - low), bottom], -1)
    return open_knots, closed


def _piecewise(y: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Map ``y`` linearly from each interval of knots ``src (N, K)`` onto the same interval of ``dst``."""
    out = y.copy()
    for k in range(src.shape[1] - 1):
        lo, hi = src[:, k], src[:, k + 1]
        inside = (y >= lo) & (y <= hi) & (hi - lo > 1e-6)
        t = (y[inside] - lo[inside]) / (hi - lo)[inside]
        out[inside] = dst[inside, k] + t * (dst[inside, k + 1] - dst[inside, k])
    return out


class Eyelids:
    """Blinks as an image warp: the upper lid (and the skin above it) slides down over the eye, the lower lid rises
    a little, column by column between the eye's corners; the same piecewise-linear map moves the mesh's lid (and
    iris) points, so the landmarks follow the lids.

    ``source(x, y, closure)`` is the backward map for pixels (where in the open-eyed photo to read), ``close(points_px,
    closure)`` the forward map for points.
    """

    def __init__(self, mesh_px: np.ndarray):
        self.eyes = []
        for upper, lower in EYELIDS:
            up, lo = mesh_px[list(upper), :2], mesh_px[list(lower), :2]
            width = float(np.linalg.norm(up[0] - up[-1]))
            self.eyes.append((up[np.argsort(up[:, 0])], lo[np.argsort(lo[:, 0])], width))

    def _map(self, x: np.ndarray, y: np.ndarray, closure: float, backward: bool) -> np.ndarray:
        y = np.asarray(y, np.float64).copy()
        for lids in self.eyes:
            upper, lower, width = lids
            x0, x1 = upper[0, 0], upper[-1, 0]
            top = min(upper[:, 1].min(), lower[:, 1].min()) - LID_REACH * width - 1.0
            bottom = lower[:, 1].max() + width
            near = (x > x0) & (x < x1) & (y > top) & (y < bottom)
            if not near.any():
                continue
            open_knots, closed = _knots(lids, x[near], closure)
            src, dst = (closed, open_knots) if backward else (open_knots, closed)
            y[near] = _piecewise(y[near], src, dst)
        return y

    def source(self, x: np.ndarray, y: np.ndarray, closure: float) -> np.ndarray:
        """Rows of the open-eyed photo to read for output pixels ``(x, y)`` (same shapes) at ``closure``."""
        return self._map(x, y, closure, backward=True)

    def close(self, points_px: np.ndarray, closure: float) -> np.ndarray:
        """Points ``(N, ≥2)`` in the photo's pixels moved with the lids to ``closure`` (0 open, 1 shut)."""
        out = np.array(points_px, np.float64)
        out[:, 1] = self._map(out[:, 0], out[:, 1], closure, backward=False)
        return out

    def closed_face(self, face: PhotoFace, closure: float) -> PhotoFace:
        """``face`` whose lifted vertices follow the lids (each along its pixel ray, at its own depth)."""
        from dataclasses import replace

        if closure <= 0:
            return face
        moved = self.close(face.mesh_px, closure)
        z = face.vertices[:, 2]
        cam = face.camera
        vertices = np.stack([(moved[:, 0] - cam.cx) * z / cam.fx, (moved[:, 1] - cam.cy) * z / cam.fy, z], 1)
        return replace(face, vertices=vertices)
