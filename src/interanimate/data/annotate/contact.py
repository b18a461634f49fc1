"""Hand-face contact detection: per frame and hand, touching or not, where, and which region.

A fingertip inside the face outline in the image is not contact: a hand held in front of the face
projects there too. Every frame and hand is therefore scored from several cues, each normalised by
face size so one calibration fits every resolution:

``reach``      signed 2-D distance of the nearest fingertip to the face outline, in IODs (> 0 inside);
``depth_gap``  fingertip depth minus face-surface depth (m, < 0 = in front of the face). Depths come
               from apparent scale: the hand's metric landmarks against its pixel landmarks (3-D
               lengths, so foreshortening cancels), the face's inter-ocular distance against 63 mm,
               a focal length of one image side, and the landmark z of hand and face mesh;
``coupling``   motion coupling: how much face points near the fingertip move *with* the finger
               after removing the head's own rigid motion (skin dragged or pressed by a touch moves;
               skin under a hovering hand does not);
``occlusion``  share of face points covered by the hand's outline (a palm across the face with no
               fingertip at the skin is the typical hover);
``speed``      fingertip speed relative to the face, in IODs per second (touching fingers slow down);
``size_ratio`` apparent-size depth alone: log of the hand's pixels per metre over the face's (> 0: the
               hand is nearer the camera than the face's eye plane);
``tip_depth``  how far the touching fingertip reaches *into* the scene past the rest of the hand, from
               the hand's metric landmarks (cm): a finger pointed at the skin reaches back, a flat hand
               held up in front of the face does not;
``wobble``     occlusion evidence: non-rigid motion of the face points the hand covers against that of
               the points it leaves free (log ratio); the face mesh guesses the covered skin, and its
               guess drifts with the occluder when the hand hovers in front, not when it rests on it.

A logistic model over the standardised cues turns them into a per-frame probability; hysteresis
(enter high, leave low), closing of short gaps and a minimum duration give temporal persistence.
The default parameters are fitted on synthetic renders with exact contact ground truth
(``tools/fit_annotate_models.py``) and ship as ``models/contact.json`` with their provenance (data,
seed, date, metrics); ``ContactModel.hand_set()`` keeps the earlier hand-set weights as a baseline.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from interanimate.data.annotate.geometry import IOD_METRES, FaceFrame, face_outline, region_of_points, signed_distance
from interanimate.data.schema import FINGERTIPS, NO_REGION

FEATURES = ("reach", "depth_gap", "coupling", "occlusion", "speed", "size_ratio", "tip_depth", "wobble")
PERSISTENCE_S = 0.15  # half-width of the window whose cue means the fitted model also weighs
BONES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
         (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))


MODEL_DIR = Path(__file__).with_name("models")
CONTACT_MODEL_FILE = MODEL_DIR / "contact.json"
# The cue weights set by hand from the cues' meaning, before any fit (kept as the baseline to beat).
HAND_SET = {"weights": (5.2, 2.1, 0.9, -1.6, -0.35, 0.0, 0.0, 0.0), "bias": -0.9, "mean": (0.0,) * 8,
            "scale": (1.0,) * 8,
            "enter": 0.6, "leave": 0.4, "close_gap_s": 0.08, "min_duration_s": 0.06, "min_reach": -1.5}


@functools.lru_cache(maxsize=4)
def _shipped(path: str) -> dict:
    """Parameters of a shipped model file; the hand-set values where none is installed."""
    file = Path(path)
    if not file.is_file():
        return dict(HAND_SET)
    params = json.loads(file.read_text(encoding="utf-8"))
    if tuple(params.get("features", FEATURES)) != FEATURES:
        raise ValueError(f"{file}: fitted on features {params.get('features')}, this code computes {FEATURES}")
    if params.get("persistence_s", PERSISTENCE_S) != PERSISTENCE_S:
        raise ValueError(f"{file}: fitted with a {params['persistence_s']} s persistence window, code uses {PERSISTENCE_S}")
    params.setdefault("min_reach", HAND_SET["min_reach"])
    return {key: tuple(value) if isinstance(value, list) else value for key, value in params.items() if key in HAND_SET}


def _default(key: str):
    return field(default_factory=lambda: _shipped(str(CONTACT_MODEL_FILE))[key])


@dataclass
class ContactModel:
    """Logistic weights over standardised ``FEATURES`` plus decision settings.

    ``ContactModel()`` is the shipped, fitted model (``models/contact.json``); ``ContactModel.hand_set()``
    the unfitted baseline. A cue that is undefined in a frame (NaN) takes its training mean, i.e.
    contributes nothing beyond the bias.

    Args:
        weights: one weight per standardised feature.
        bias: intercept.
        mean, scale: standardisation of each feature (``(x - mean) / scale``).
        enter, leave: hysteresis thresholds on the probability.
        close_gap_s: gaps shorter than this inside a contact are closed.
        min_duration_s: contacts shorter than this are dropped (flicker).
        min_reach: a hand none of whose fingertips comes this close to the face outline (IOD, ``reach``;
            negative = outside) is not touching, whatever the other cues say (the outline bounds the skin).
    """

    weights: tuple[float, ...] = _default("weights")
    bias: float = _default("bias")
    mean: tuple[float, ...] = _default("mean")
    scale: tuple[float, ...] = _default("scale")
    enter: float = _default("enter")
    leave: float = _default("leave")
    close_gap_s: float = _default("close_gap_s")
    min_duration_s: float = _default("min_duration_s")
    min_reach: float = _default("min_reach")

    @classmethod
    def hand_set(cls) -> "ContactModel":
        return cls(**HAND_SET)

    @classmethod
    def load(cls, path: str | Path) -> "ContactModel":
        return cls(**_shipped(str(path)))

    def save(self, path: str | Path, provenance: dict | None = None) -> None:
        """Write the parameters (and where they came from) as JSON."""
        params = {"features": list(FEATURES), "persistence_s": PERSISTENCE_S, **{k: getattr(self, k) for k in HAND_SET}}
        params = {k: [float(x) for x in v] if isinstance(v, tuple) else v for k, v in params.items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({**params, "provenance": provenance or {}}, indent=1) + "\n", encoding="utf-8")

    def inputs(self, features: np.ndarray, fps: float) -> np.ndarray:
        """The model's inputs: the cues, plus (for a model with twice as many weights) their means over
        +-``PERSISTENCE_S`` around each frame, which is how temporal persistence enters the score."""
        if len(self.weights) == len(FEATURES):
            return features
        return np.concatenate([features, window_mean(features, max(1, int(round(PERSISTENCE_S * fps))))], axis=-1)

    def standardise(self, inputs: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean, np.float64)
        return (np.where(np.isfinite(inputs), inputs, mean) - mean) / np.asarray(self.scale, np.float64)

    def probability(self, features: np.ndarray, fps: float = 25.0) -> np.ndarray:
        """Contact probability per frame (and hand) from ``(F, ..., len(FEATURES))`` cues."""
        z = self.bias + self.standardise(self.inputs(features, fps)) @ np.asarray(self.weights, np.float64)
        p = 1.0 / (1.0 + np.exp(-z))
        return np.where(np.isfinite(features[..., 0]) & (features[..., 0] >= self.min_reach), p, 0.0)


def window_mean(values: np.ndarray, half_width: int) -> np.ndarray:
    """NaN-ignoring mean over frames ``f - half_width .. f + half_width`` of ``(F, ...)`` values."""
    finite = np.isfinite(values)
    csum = np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(np.where(finite, values, 0.0), axis=0)])
    ccount = np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(finite, axis=0)])
    idx = np.arange(len(values))
    lo, hi = np.clip(idx - half_width, 0, len(values)), np.clip(idx + half_width + 1, 0, len(values))
    total, count = csum[hi] - csum[lo], ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass
class ContactResult:
    """Per-frame contact labels. ``probability``/``features`` are kept for diagnostics and calibration."""

    contact: np.ndarray  # (F, 2) bool
    point: np.ndarray  # (F, 2, 2) float32 pixels, NaN when not in contact
    region: np.ndarray  # (F, 2) int8, NO_REGION when not in contact
    probability: np.ndarray  # (F, 2)
    features: np.ndarray  # (F, 2, len(FEATURES))
    tip: np.ndarray | None = None  # (F, 2) int: the fingertip keypoint the cues were read at


def _px_per_metre_hand(points: np.ndarray, world: np.ndarray) -> float:
    """Pixels per metre at the hand's depth, from 3-D pixel-space bone lengths over metric ones."""
    px = sum(np.linalg.norm(points[a] - points[b]) for a, b in BONES)
    metres = sum(np.linalg.norm(world[a] - world[b]) for a, b in BONES)
    return float(px / metres) if metres > 1e-4 and np.isfinite(px) else np.nan


def _rigid_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """2-D similarity transform (2x3) taking ``src`` to ``dst`` (least squares)."""
    if len(src) < 3:
        return None
    matrix, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32), method=cv2.LMEDS)
    return matrix


def contact_features(frame: FaceFrame, face_points: np.ndarray, face_present: np.ndarray, hands: np.ndarray,
                     hand_world: np.ndarray | None, hand_present: np.ndarray, fps: float,
                     image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cue values per frame and hand, and the best fingertip index per frame and hand.

    Args:
        frame: face frames of the clip.
        face_points: ``(F, P, 3)`` face points in pixels with z in pixels (the dense mesh), or
            ``(F, P, 2)`` when no depth is known (then ``depth_gap`` is NaN -> contributes 0).
        face_present: ``(F,)``.
        hands: ``(F, 2, 21, >=2)`` hand points; z (3rd channel) in pixels when available.
        hand_world: ``(F, 2, 21, 3)`` metric hand landmarks or ``None``.
        hand_present: ``(F, 2)``.
        fps: frame rate.
        image_size: ``(width, height)``.
    Returns:
        ``features (F, 2, len(FEATURES))`` (NaN where undefined) and ``tip (F, 2)`` fingertip ids.
    """
    num_frames = len(face_present)
    features = np.full((num_frames, 2, len(FEATURES)), np.nan, np.float64)
    best_tip = np.full((num_frames, 2), FINGERTIPS[1], np.int64)
    outline = face_outline(frame.landmarks, frame)
    focal = float(max(image_size))
    has_depth = face_points.shape[-1] >= 3 and hands.shape[-1] >= 3 and hand_world is not None
    tips = np.asarray(FINGERTIPS)
    rel_tip_prev = np.full((2, len(tips), 2), np.nan)
    for f in range(num_frames):
        if not face_present[f]:
            rel_tip_prev[:] = np.nan
            continue
        iod = frame.iod[f]
        face_xy = face_points[f, :, :2]
        # Rigid head motion since the previous frame, fitted on face points away from both hands.
        motion = None
        if f > 0 and face_present[f - 1]:
            far = np.ones(len(face_xy), bool)
            for h in range(2):
                if hand_present[f, h]:
                    d = np.linalg.norm(face_xy[:, None] - hands[f, h, None, :, :2], axis=-1).min(axis=1)
                    far &= d > 0.8 * iod
            if far.sum() >= 6:
                motion = _rigid_fit(face_points[f - 1, far, :2], face_xy[far])
        for h in range(2):
            if not hand_present[f, h]:
                rel_tip_prev[h] = np.nan
                continue
            pts = hands[f, h]
            tip_xy = pts[tips, :2]
            reach = signed_distance(tip_xy, outline[f]) / iod
            k = int(np.nanargmax(reach)) if np.isfinite(reach).any() else 1
            best_tip[f, h] = tips[k]
            feat = features[f, h]
            feat[0] = np.clip(reach[k], -1.5, 1.0)
            px_per_m_hand = px_per_m_face = np.nan
            if has_depth:
                px_per_m_hand = _px_per_metre_hand(pts[:, :3], hand_world[f, h])
                eye_r = face_points[f, :, :3][[33, 133]].mean(axis=0) if face_points.shape[1] >= 468 else None
                eye_l = face_points[f, :, :3][[263, 362]].mean(axis=0) if face_points.shape[1] >= 468 else None
                iod3 = float(np.linalg.norm(eye_l - eye_r)) if eye_r is not None else iod
                px_per_m_face = iod3 / IOD_METRES
                if np.isfinite(px_per_m_hand) and px_per_m_face > 0:
                    depth_face = focal / px_per_m_face
                    depth_tip = focal / px_per_m_hand + (pts[tips[k], 2] - pts[0, 2]) / px_per_m_hand
                    near = np.argsort(np.linalg.norm(face_xy - tip_xy[k], axis=-1))[:4]
                    eyes_z = (eye_r[2] + eye_l[2]) / 2 if eye_r is not None else 0.0
                    surface = depth_face + (float(face_points[f, near, 2].mean()) - eyes_z) / px_per_m_face
                    feat[1] = np.clip((depth_tip - surface) / 0.1, -3.0, 1.0)  # in 10 cm units
            if hand_world is not None and np.isfinite(hand_world[f, h]).all():
                world = hand_world[f, h]
                # MediaPipe's world z grows away from the camera; knuckles and wrist give the hand's plane.
                feat[6] = np.clip((world[tips[k], 2] - world[[0, 5, 9, 13, 17], 2].mean()) * 100.0, -6.0, 6.0)
                if has_depth and np.isfinite(px_per_m_hand) and px_per_m_face > 0:
                    feat[5] = np.clip(np.log(px_per_m_hand / px_per_m_face), -1.5, 1.5)
            # Occlusion: share of face points inside the hand's convex outline.
            hull = cv2.convexHull(pts[:, :2].astype(np.float32).reshape(-1, 1, 2))
            covered = np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0
                                for x, y in face_xy[::4]], bool)
            feat[3] = float(covered.mean()) if len(covered) else 0.0
            if motion is not None and covered.sum() >= 3 and (~covered).sum() >= 6:
                sub = face_points[f - 1, ::4, :2] @ motion[:, :2].T + motion[:, 2]
                residual = np.linalg.norm(face_xy[::4] - sub, axis=-1) / iod
                feat[7] = np.clip(np.log((np.median(residual[covered]) + 2e-3) / (np.median(residual[~covered]) + 2e-3)),
                                  -2.0, 2.0)
            # Coupling and speed need the previous frame and the head's motion.
            if motion is not None and hand_present[f - 1, h]:
                prev_tip = hands[f - 1, h, tips[k], :2]
                predicted_tip = motion[:, :2] @ prev_tip + motion[:, 2]
                tip_motion = tip_xy[k] - predicted_tip
                feat[4] = min(np.linalg.norm(tip_motion) / iod * fps, 20.0) / 5.0
                near = np.linalg.norm(face_xy - tip_xy[k], axis=-1) < 0.35 * iod
                if near.sum() >= 2:
                    predicted = face_points[f - 1, near, :2] @ motion[:, :2].T + motion[:, 2]
                    skin = (face_xy[near] - predicted).mean(axis=0)
                    denom = float(tip_motion @ tip_motion)
                    if denom > (0.02 * iod) ** 2:
                        feat[2] = float(np.clip(skin @ tip_motion / denom, -1.0, 1.0))
                    else:
                        feat[2] = 0.0
                else:
                    feat[2] = 0.0
    return features, best_tip


def true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` runs of True in a ``(F,)`` bool array."""
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def decide(probability: np.ndarray, fps: float, model: ContactModel) -> np.ndarray:
    """Hysteresis + gap closing + minimum duration on one hand's ``(F,)`` probabilities."""
    on = np.zeros(len(probability), bool)
    state = False
    for f, p in enumerate(probability):
        state = p >= model.enter if not state else p >= model.leave
        on[f] = state
    max_gap = int(round(model.close_gap_s * fps))
    runs = true_runs(on)
    for (a0, a1), (b0, _) in zip(runs[:-1], runs[1:]):
        if b0 - a1 <= max_gap:
            on[a1:b0] = True
    min_len = max(1, int(round(model.min_duration_s * fps)))
    for a, b in true_runs(on):
        if b - a < min_len:
            on[a:b] = False
    return on


def detect_contact(frame: FaceFrame, face_points: np.ndarray, face_present: np.ndarray, hands: np.ndarray,
                   hand_world: np.ndarray | None, hand_present: np.ndarray, fps: float,
                   image_size: tuple[int, int], model: ContactModel | None = None) -> ContactResult:
    """Contact per frame and hand, with the contact point (pixels) and face region."""
    features, tip = contact_features(frame, face_points, face_present, hands, hand_world, hand_present, fps, image_size)
    return label_contact(frame, features, tip, hands, hand_present, face_present, fps, image_size, model)


def label_contact(frame: FaceFrame, features: np.ndarray, tip: np.ndarray, hands: np.ndarray,
                  hand_present: np.ndarray, face_present: np.ndarray, fps: float, image_size: tuple[int, int],
                  model: ContactModel | None = None) -> ContactResult:
    """The decision half of ``detect_contact``: cues -> contact flags, points and regions.

    Kept separate so a model can be fitted and compared on cached cues without recomputing them.
    """
    model = model or ContactModel()
    probability = model.probability(features, fps)
    num_frames = len(face_present)
    contact = np.zeros((num_frames, 2), bool)
    for h in range(2):
        contact[:, h] = decide(probability[:, h], fps, model) & hand_present[:, h] & face_present
    point, region = contact_points(frame, contact, tip, hands, image_size)
    return ContactResult(contact, point, region, probability, features, tip)


def contact_points(frame: FaceFrame, contact: np.ndarray, tip: np.ndarray, hands: np.ndarray,
                   image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Contact point (pixels, ``(F, 2, 2)``, NaN off contact) and face region (``(F, 2)``) of ``contact``
    flags: the touching fingertip ``tip``, or the point between thumb and index in a pinch."""
    num_frames = len(contact)
    point = np.full((num_frames, 2, 2), np.nan, np.float32)
    region = np.full((num_frames, 2), NO_REGION, np.int8)
    width, height = image_size
    for f, h in zip(*np.nonzero(contact)):
        pts = hands[f, h, :, :2]
        palm = np.linalg.norm(pts[9] - pts[0]) + 1e-6
        if np.linalg.norm(pts[4] - pts[8]) < 0.45 * palm and tip[f, h] in (4, 8):
            xy = (pts[4] + pts[8]) / 2  # a pinch touches between thumb and index
        else:
            xy = pts[tip[f, h]]
        point[f, h] = np.clip(xy, 0.0, [width, height])
    if contact.any():
        coords = frame.to_face(np.nan_to_num(point.astype(np.float64)))
        labels = region_of_points(coords, frame.to_face(frame.landmarks))
        region[contact] = labels[contact]
    return point, region
