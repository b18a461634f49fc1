"""Moving a performance (face motion + hands + contacts) from a source face onto the reference face.

Every source frame ``f`` is read in the source face's own *landmark frame* (``face_frame.to_landmark_frame``:
origin between the eyes, axes toward the subject's left eye and toward the mouth, unit = inter-ocular distance), so
what is transferred is independent of where the source face was in its image and how large it was:

1. **Head motion.** ``P_f`` maps landmark-frame coordinates of source frame ``f`` to those of source frame 0 (a
   similarity: the head's translation, in-plane rotation and scale change since the first frame). The reference is
   moved by the same relative motion expressed in *its* landmark frame: ``H_f(y) = ref(P_f(ref⁻¹(y)))``. So the
   reference keeps its own position, size and face shape, and takes on the source's head motion relative to the
   source's first-frame pose.
2. **Face.** Reference landmarks at frame ``f`` are its own landmark-frame shape plus the source's landmark-frame
   change since frame 0 (blinks, small expression and contact-induced changes), placed by ``H_f``.
3. **Hands and contact points** are read in source frame ``f``'s landmark frame and placed in the reference's moved
   frame; hands therefore scale with the face (reference IOD / source IOD). Faces differ in proportions (eye-to-mouth
   height, face width), so a fingertip at the same landmark-frame coordinates could land on a different part of
   another face. Each hand is therefore shifted, rigidly, by the correction that the moving-least-squares affine
   deformation (Schaefer et al. 2006, "Image deformation using moving least squares", §2.1) defined by the two
   faces' 68 landmarks applies at the hand's interaction point (the index tip for pokes, between thumb and index
   for pinches, between index and middle tips for strokes and swipes): the touch lands on the same anatomical
   spot, and the hand keeps its shape.
"""

from __future__ import annotations

import numpy as np

from interanimate.data.face_frame import from_landmark_frame, to_landmark_frame

# Hand keypoints that make a hand's interaction point, per family (the synthetic choreography's anchors).
ANCHOR_KEYPOINTS: dict[str, tuple[int, ...]] = {"poke": (8,), "pinch": (4, 8), "stroke": (8, 12), "swipe": (8, 12)}
DEFAULT_ANCHOR = (8,)


def _pad3(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return np.concatenate([points, np.zeros(points.shape[:-1] + (1,))], axis=-1)


def to_face(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``(..., 2)`` pixel points → ``(..., 2)`` coordinates in the landmark frame of ``landmarks (68, 2)``."""
    return to_landmark_frame(_pad3(points), landmarks)[..., :2]


def from_face(coords: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Inverse of ``to_face``."""
    return from_landmark_frame(_pad3(coords), landmarks)[..., :2]


def mls_affine(control_src: np.ndarray, control_dst: np.ndarray, point: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Moving-least-squares affine deformation of one point (Schaefer et al. 2006, eqs. 1-5).

    ``w_i = 1/|p_i − v|^{2α}``; ``p*``, ``q*`` the weighted centroids; ``M = (Σ p̂_iᵀ w_i p̂_i)⁻¹ Σ w_i p̂_iᵀ q̂_i``;
    ``f(v) = (v − p*)·M + q*``.
    """
    p, q, v = np.asarray(control_src, np.float64), np.asarray(control_dst, np.float64), np.asarray(point, np.float64)
    weights = 1.0 / np.maximum(((p - v) ** 2).sum(axis=1), 1e-8) ** alpha
    p_star = weights @ p / weights.sum()
    q_star = weights @ q / weights.sum()
    p_hat, q_hat = p - p_star, q - q_star
    a = (p_hat * weights[:, None]).T @ p_hat
    b = (p_hat * weights[:, None]).T @ q_hat
    matrix = np.linalg.solve(a + 1e-9 * np.eye(2), b)
    return (v - p_star) @ matrix + q_star


def transfer_face(source_landmarks: np.ndarray, reference_landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference landmarks per frame ``(F, 68, 2)`` and the reference's rigidly moved landmarks ``(F, 68, 2)``.

    ``source_landmarks (F, 68, 2)`` must be finite in every frame (fill gaps first).
    """
    source = np.asarray(source_landmarks, np.float64)
    reference = np.asarray(reference_landmarks, np.float64)
    ref_shape = to_face(reference, reference)  # (68, 2)
    src_shape0 = to_face(source[0], source[0])
    rigid = np.empty_like(source)
    moved = np.empty_like(source)
    for f in range(len(source)):
        # P_f(q) = to_face(from_face(q, src_f), src_0), applied to the reference's landmark-frame shape.
        motion = to_face(from_face(ref_shape, source[f]), source[0])
        rigid[f] = from_face(motion, reference)
        expression = to_face(source[f], source[f]) - src_shape0
        moved[f] = from_face(ref_shape + expression, rigid[f])
    return moved, rigid


def transfer_points(points: np.ndarray, source_landmarks: np.ndarray, target_landmarks: np.ndarray,
                    rigid_target: np.ndarray, anchors: np.ndarray | None = None) -> np.ndarray:
    """Move ``points (F, K, 2)`` of one hand from the source faces to the target faces.

    Args:
        points: pixel points in the source frames (NaN allowed).
        source_landmarks: ``(F, 68, 2)`` source face per frame.
        target_landmarks: ``(F, 68, 2)`` target face per frame (``transfer_face``'s first output).
        rigid_target: ``(F, 68, 2)`` target face moved rigidly (its landmark frame places the points).
        anchors: ``(F, 2)`` the hand's interaction point in source pixels, or ``None`` (no anatomical correction).
    """
    out = np.full(points.shape, np.nan)
    for f in range(len(points)):
        coords = to_face(points[f], source_landmarks[f])
        if anchors is not None and np.isfinite(anchors[f]).all():
            anchor = to_face(anchors[f], source_landmarks[f])
            src_shape = to_face(source_landmarks[f], source_landmarks[f])
            dst_shape = to_face(target_landmarks[f], rigid_target[f])
            coords = coords + (mls_affine(src_shape, dst_shape, anchor) - anchor)
        out[f] = from_face(coords, rigid_target[f])
    return out


def anchor_points(hand_keypoints: np.ndarray, family: str | None) -> np.ndarray:
    """``(F, 21, >=2)`` → ``(F, 2)`` the hand's interaction point per frame (NaN where its keypoints are)."""
    index = list(ANCHOR_KEYPOINTS.get(family or "", DEFAULT_ANCHOR))
    return hand_keypoints[:, index, :2].mean(axis=1)


def fill_missing_frames(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Copy the nearest present frame into frames without one (``values (F, ...)``, ``present (F,)``)."""
    present = np.asarray(present, bool)
    if not present.any():
        raise ValueError("no frame to fill from")
    index = np.flatnonzero(present)
    nearest = index[np.abs(np.arange(len(present))[:, None] - index[None]).argmin(axis=1)]
    return values[nearest]
