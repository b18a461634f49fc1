"""Face-relative geometry shared by contact detection, region labelling and pattern recognition.

Everything is expressed in the per-frame image-plane *face frame* of ``interanimate.data.face_frame`` (the
package's one face-frame module, shared with the synthetic generator): origin between the eye centres, ``u``
toward the subject's LEFT eye, ``v`` toward the chin, unit = the inter-ocular distance (IOD, ~63 mm in
adults). The annotator has only image-plane landmarks, so it uses the 2-D construction ``face_frame``; the
generator's plans use the 3-D ``landmark_frame`` of the same module (its docstring says why there are two).
"""

from __future__ import annotations

import cv2
import numpy as np

from interanimate.data.face_frame import FaceFrame, face_frame
from interanimate.taxonomy import region_id

IOD_METRES = 0.063
FOREHEAD_HEIGHT_IOD = 0.9  # brow line to hairline, in IODs (about 55 mm)


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
    corners), so they follow expression and head pitch instead of fixed numbers. The nose, mouth and chin
    are measured from the face's own midline (the nose's bridge-to-tip line, the mouth corners' midpoint)
    rather than from the frame's origin between the eyes, which a turned head moves off the nose.
    ``landmarks_face``: ``(F, 68, 2)`` iBUG points in the face frame.
    """
    u, v = coords[..., 0], coords[..., 1]
    lf = landmarks_face[:, None] if coords.ndim == 3 else landmarks_face
    nose_tip_v = lf[..., 30, 1]
    along = np.clip((v - lf[..., 27, 1]) / np.maximum(nose_tip_v - lf[..., 27, 1], 1e-6), 0.0, 1.0)
    nose_u = lf[..., 27, 0] + along * (lf[..., 30, 0] - lf[..., 27, 0])
    mouth_u = (lf[..., 48, 0] + lf[..., 54, 0]) / 2
    midline = np.where(v < nose_tip_v, nose_u, mouth_u)
    nose_half = np.maximum(np.abs(lf[..., 35, 0] - lf[..., 31, 0]) / 2, 0.15) + 0.05
    mouth_top = lf[..., 51, 1] - 0.1
    mouth_bottom = lf[..., 57, 1] + 0.1
    mouth_half = np.abs(lf[..., 54, 0] - lf[..., 48, 0]) / 2 + 0.1
    brow_v = np.minimum(lf[..., 19, 1], lf[..., 24, 1])
    eye_lid = 0.22  # eye regions: an ellipse of about the eye's size around each eye centre
    out = np.full(u.shape, region_id("cheek_left"), np.int8)
    out[u < midline] = region_id("cheek_right")
    lateral = np.abs(u) > 1.0
    out[lateral & (v < 0.45) & (u > 0)] = region_id("temple_left")
    out[lateral & (v < 0.45) & (u < 0)] = region_id("temple_right")
    jaw = (v > mouth_top) & (np.abs(u - mouth_u) > mouth_half)
    out[jaw & (v > (mouth_top + mouth_bottom) / 2)] = region_id("jaw")
    out[(v < brow_v + 0.05) & ~lateral] = region_id("forehead")
    out[(np.abs(u - nose_u) <= nose_half) & (v >= brow_v + 0.05) & (v < nose_tip_v + 0.12)] = region_id("nose")
    mouth = (np.abs(u - mouth_u) <= mouth_half) & (v >= nose_tip_v + 0.12) & (v < mouth_bottom)
    out[mouth] = region_id("mouth")
    out[(np.abs(u - mouth_u) <= mouth_half) & (v >= mouth_bottom)] = region_id("chin")
    for centre_u, name in ((0.5, "eye_left"), (-0.5, "eye_right")):
        inside = ((u - centre_u) / 0.3) ** 2 + (v / eye_lid) ** 2 <= 1.0
        out[inside] = region_id(name)
    return out


__all__ = ["FOREHEAD_HEIGHT_IOD", "IOD_METRES", "FaceFrame", "face_frame", "face_outline", "region_of_points",
           "signed_distance"]
