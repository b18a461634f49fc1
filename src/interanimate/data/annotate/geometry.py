"""Face-relative geometry shared by contact detection, region labelling and pattern recognition.

Everything is expressed in a per-frame *face frame* built from the iBUG-68 points: origin between the
eye centres, ``u`` toward the subject's LEFT eye, ``v`` toward the chin, unit = the inter-ocular
distance (IOD, ~63 mm in adults). Working in this frame makes rules independent of resolution, face
size and in-plane head roll, and makes "leftward" mean the subject's left whatever the camera does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from interanimate.taxonomy import region_id

IOD_METRES = 0.063
FOREHEAD_HEIGHT_IOD = 0.9  # brow line to hairline, in IODs (about 55 mm)


@dataclass
class FaceFrame:
    """Per-frame face coordinate frames. Arrays are ``(F, ...)``; NaN where there is no face."""

    origin: np.ndarray  # (F, 2) pixels
    u: np.ndarray  # (F, 2) unit vector toward the subject's left eye
    v: np.ndarray  # (F, 2) unit vector toward the chin
    iod: np.ndarray  # (F,) pixels
    landmarks: np.ndarray  # (F, 68, 2) pixels

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """``(F, ..., 2)`` pixel points -> face-frame coordinates ``(F, ..., 2)`` in IODs."""
        shape = (points.shape[0],) + (1,) * (points.ndim - 2)
        rel = points - self.origin.reshape(shape + (2,))
        return np.stack([(rel * self.u.reshape(shape + (2,))).sum(-1),
                         (rel * self.v.reshape(shape + (2,))).sum(-1)], axis=-1) / self.iod.reshape(shape + (1,))

    def to_pixels(self, coords: np.ndarray) -> np.ndarray:
        shape = (coords.shape[0],) + (1,) * (coords.ndim - 2)
        c = coords * self.iod.reshape(shape + (1,))
        return (self.origin.reshape(shape + (2,)) + c[..., :1] * self.u.reshape(shape + (2,))
                + c[..., 1:] * self.v.reshape(shape + (2,)))


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """Build face frames from ``(F, 68, 2)`` iBUG-68 points."""
    right_eye = landmarks[:, 36:42].mean(axis=1)  # subject's right eye (image left in a frontal view)
    left_eye = landmarks[:, 42:48].mean(axis=1)
    origin = (right_eye + left_eye) / 2
    axis = left_eye - right_eye
    iod = np.linalg.norm(axis, axis=-1)
    u = axis / np.maximum(iod, 1e-6)[:, None]
    v = np.stack([-u[:, 1], u[:, 0]], axis=-1)
    # Choose v's sign so the nose tip (iBUG 30) lies on its positive side: works for mirrored input too.
    flip = ((landmarks[:, 30] - origin) * v).sum(-1) < 0
    v[flip] *= -1
    return FaceFrame(origin, u, v, iod, landmarks)


def face_outline(landmarks: np.ndarray, frame: FaceFrame | None = None) -> np.ndarray:
    """``(F, 68, 2)`` -> ``(F, 27, 2)`` closed outline of the face *skin*: jaw line 0-16 then the
    brows 26..17 lifted to the hairline (iBUG has no forehead points; the forehead is a pattern
    target, so it must be inside)."""
    frame = frame or face_frame(landmarks)
    brows = landmarks[:, 26:16:-1]
    lift = (FOREHEAD_HEIGHT_IOD * frame.iod)[:, None, None] * frame.v[:, None, :]
    return np.concatenate([landmarks[:, 0:17], brows - lift], axis=1)


def signed_distance(points: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, positive inside) of ``(K, 2)`` points to the polygon ``(N, 2)``."""
    if not np.isfinite(outline).all():
        return np.full(len(points), np.nan)
    contour = outline.astype(np.float32).reshape(-1, 1, 2)
    hull = cv2.convexHull(contour)
    return np.array([cv2.pointPolygonTest(hull, (float(p[0]), float(p[1])), True) if np.isfinite(p).all()
                     else np.nan for p in points])


def region_of_points(coords: np.ndarray, landmarks_face: np.ndarray) -> np.ndarray:
    """Face region id (``taxonomy.FACE_REGIONS``) of face-frame points ``(F, K, 2)``.

    Boundaries come from the frame's own landmarks in the face frame (nose tip, lips, chin, mouth
    corners), so they follow expression and head pitch instead of fixed numbers.
    ``landmarks_face``: ``(F, 68, 2)`` iBUG points in the face frame.
    """
    u, v = coords[..., 0], coords[..., 1]
    lf = landmarks_face[:, None] if coords.ndim == 3 else landmarks_face
    nose_tip_v = lf[..., 30, 1]
    nose_half = np.maximum(np.abs(lf[..., 35, 0] - lf[..., 31, 0]) / 2, 0.15) + 0.05
    mouth_top = lf[..., 51, 1] - 0.1
    mouth_bottom = lf[..., 57, 1] + 0.1
    mouth_half = np.abs(lf[..., 54, 0] - lf[..., 48, 0]) / 2 + 0.1
    brow_v = np.minimum(lf[..., 19, 1], lf[..., 24, 1])
    eye_lid = 0.22  # eye regions: an ellipse of about the eye's size around each eye centre
    out = np.full(u.shape, region_id("cheek_left"), np.int8)
    out[u < 0] = region_id("cheek_right")
    lateral = np.abs(u) > 1.0
    out[lateral & (v < 0.45) & (u > 0)] = region_id("temple_left")
    out[lateral & (v < 0.45) & (u < 0)] = region_id("temple_right")
    jaw = (v > mouth_top) & (np.abs(u) > mouth_half)
    out[jaw & (v > (mouth_top + mouth_bottom) / 2)] = region_id("jaw")
    out[(v < brow_v + 0.05) & ~lateral] = region_id("forehead")
    out[(np.abs(u) <= nose_half) & (v >= brow_v + 0.05) & (v < nose_tip_v + 0.12)] = region_id("nose")
    mouth = (np.abs(u) <= mouth_half) & (v >= nose_tip_v + 0.12) & (v < mouth_bottom)
    out[mouth] = region_id("mouth")
    out[(np.abs(u) <= mouth_half) & (v >= mouth_bottom)] = region_id("chin")
    for centre_u, name in ((0.5, "eye_left"), (-0.5, "eye_right")):
        inside = ((u - centre_u) / 0.3) ** 2 + (v / eye_lid) ** 2 <= 1.0
        out[inside] = region_id(name)
    return out
