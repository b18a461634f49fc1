"""The face frame: the one definition of "where the face is, which way is down" on iBUG-68 landmarks.

Every frame here has its origin midway between the eye centres (points 36-41, the subject's right eye, and
42-47, the left), its first axis toward the subject's LEFT eye and its unit the inter-ocular distance (IOD,
about 63 mm in adults). Working in it makes rules independent of resolution, face size and in-plane roll, and
makes "leftward" mean the subject's left whatever the camera does.

Two constructions share that origin, axis and unit, because their users hold different data:

* ``face_frame`` — the annotator (contact, face regions, pattern features, masks) and the composite renderer:
  image-plane landmarks of every frame of a video, ``(F, 68, 2)``. There is no depth, so the second axis ``v``
  is the in-plane perpendicular of the eye axis, signed so the nose tip lies on its positive side (right for
  mirrored input too). Vectorised over frames.
* ``landmark_frame`` — the synthetic generator's plans and their retargeting onto another face: one face's
  landmarks that may be 3-D ``(68, 3)`` (the generator's head coordinates), whose frame needs a depth axis
  to carry 3-D joints. Its "down" axis is the direction to the lower lip (57) made orthogonal to the eye axis
  (Gram-Schmidt), the third axis their cross product.

On 2-D landmarks both second axes are the perpendicular of the eye axis pointing to the lower face, so they
agree up to rounding (``tests/test_face_frame.py``); they are not merged because each is bit-for-bit what its
stored outputs were made with (annotated datasets, retargeted performances).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIGHT_EYE = slice(36, 42)  # the subject's right eye (image left in a frontal, unmirrored view)
LEFT_EYE = slice(42, 48)
NOSE_TIP = 30
LOWER_LIP = 57


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 68, D)`` landmarks -> the subject's ``(right eye, left eye)`` centres, each ``(..., D)``."""
    return landmarks[..., RIGHT_EYE, :].mean(axis=-2), landmarks[..., LEFT_EYE, :].mean(axis=-2)


@dataclass
class FaceFrame:
    """Per-frame image-plane face frames. Arrays are ``(F, ...)``; NaN where there is no face."""

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
        """Inverse of ``to_face``: ``(F, ..., 2)`` face-frame coordinates in IODs -> pixels."""
        shape = (coords.shape[0],) + (1,) * (coords.ndim - 2)
        c = coords * self.iod.reshape(shape + (1,))
        return (self.origin.reshape(shape + (2,)) + c[..., :1] * self.u.reshape(shape + (2,))
                + c[..., 1:] * self.v.reshape(shape + (2,)))


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """Build image-plane face frames from ``(F, 68, 2)`` iBUG-68 points."""
    right_eye, left_eye = eye_centres(landmarks)
    origin = (right_eye + left_eye) / 2
    axis = left_eye - right_eye
    iod = np.linalg.norm(axis, axis=-1)
    u = axis / np.maximum(iod, 1e-6)[:, None]
    v = np.stack([-u[:, 1], u[:, 0]], axis=-1)
    # Choose v's sign so the nose tip lies on its positive side: works for mirrored input too.
    flip = ((landmarks[:, NOSE_TIP] - origin) * v).sum(-1) < 0
    v[flip] *= -1
    return FaceFrame(origin, u, v, iod, landmarks)


def landmark_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin, axes (rows: subject-left, down, into-face) and scale (IOD) of one face.

    Works for 3-D landmarks ``(68, 3)``; 2-D ``(68, 2)`` landmarks get a zero depth axis component.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.shape[1] == 2:
        lm = np.concatenate([lm, np.zeros((len(lm), 1))], 1)
    right_eye, left_eye = eye_centres(lm)
    origin = (right_eye + left_eye) / 2
    x = _unit(left_eye - right_eye)
    down = lm[LOWER_LIP] - origin
    y = _unit(down - (down @ x) * x)
    z = np.cross(x, y)
    return origin, np.stack([x, y, z]), float(np.linalg.norm(left_eye - right_eye))


def to_landmark_frame(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Express points (e.g. planned joints) in the face's landmark frame, in inter-ocular units."""
    origin, axes, scale = landmark_frame(landmarks)
    return (np.asarray(points) - origin) @ axes.T / scale


def from_landmark_frame(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Inverse of ``to_landmark_frame`` for another face's landmarks: retargets a plan to that face."""
    origin, axes, scale = landmark_frame(landmarks)
    return np.asarray(points) * scale @ axes + origin


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)


__all__ = ["FaceFrame", "eye_centres", "face_frame", "from_landmark_frame", "landmark_frame", "to_landmark_frame"]
