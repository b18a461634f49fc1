"""Identity preservation, measured the way face recognition decides it.

A face-recognition embedding is trained so that one *distance* with one *threshold* separates the
same person from different people; the score here uses exactly that rule:

* **dlib 128-d** (``dlib128``, offline): the Euclidean distance between descriptors, same person when
  ``d < 0.6`` — the threshold dlib publishes for ``dlib_face_recognition_resnet_model_v1`` (dlib's
  ``python_examples/face_recognition.py``: with a distance threshold of 0.6 the model obtains 99.38 %
  on the LFW benchmark). Cosine similarity is *not* used for dlib descriptors: they are
  not centred, so almost any two faces have a cosine near 0.9 and the cosine cannot tell the person
  from a stranger.
* **ArcFace 512-d** (``arcface512``, a user's ONNX file): the cosine of L2-normalised embeddings, same
  person when ``cos >= 0.28`` — InsightFace's own decision rule for its ``w600k_r50`` recogniser
  (``web-demos/src_recognition/main.py`` in deepinsight/insightface: below 0.2 not the same person,
  0.2–0.28 likely, 0.28 and above the same person).

Per frame a value (distance or cosine) to the reference embedding; frames where no face was found are
NaN. The summary gives the mean and worst value, the **same-person rate** (share of the frames with a
face that pass the threshold), the **face coverage** (share of all frames in which a face was found)
beside them, and ``reliable`` — false when coverage is under ``MIN_FACE_COVERAGE`` (50 %), because
then the identity numbers describe a minority of the video. *Drift* is the least-squares slope of the
per-frame value over time (per second when ``fps`` is given): for distances a positive drift means the
identity fades as the video goes on, which the mean alone hides.
"""

from __future__ import annotations

import numpy as np

DLIB_SAME_PERSON_DISTANCE = 0.6
ARCFACE_SAME_PERSON_COSINE = 0.28
MIN_FACE_COVERAGE = 0.5

# kind -> (comparison, threshold): "euclidean" passes below the threshold, "cosine" at or above it
DECISION_RULES = {"dlib128": ("euclidean", DLIB_SAME_PERSON_DISTANCE),
                  "arcface512": ("cosine", ARCFACE_SAME_PERSON_COSINE)}


def _check(embeddings: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(embeddings, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    if e.ndim != 2 or e.shape[1] != r.size:
        raise ValueError(f"embeddings {e.shape} do not match a reference of size {r.size}")
    return e, r


def euclidean_distance(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(F, D)`` embeddings and a ``(D,)`` reference -> ``(F,)`` Euclidean distances (NaN for NaN rows)."""
    e, r = _check(embeddings, reference)
    d = np.linalg.norm(e - r, axis=1)
    d[~np.isfinite(d)] = np.nan
    return d


def cosine_similarity(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(F, D)`` embeddings and a ``(D,)`` reference -> ``(F,)`` cosines (NaN for NaN or zero rows)."""
    e, r = _check(embeddings, reference)
    norms = np.linalg.norm(e, axis=1) * np.linalg.norm(r)
    with np.errstate(all="ignore"):
        sims = (e @ r) / norms
    sims[~np.isfinite(sims)] = np.nan
    return sims


def _drift(values: np.ndarray, valid: np.ndarray, fps: float | None) -> float:
    if valid.sum() < 2:
        return float("nan")
    t = np.flatnonzero(valid).astype(np.float64)
    if fps:
        t = t / float(fps)
    t_centred = t - t.mean()
    return float((t_centred @ (values[valid] - values[valid].mean())) / (t_centred @ t_centred))


def identity_summary(values: np.ndarray, fps: float | None = None, comparison: str = "euclidean",
                     threshold: float = DLIB_SAME_PERSON_DISTANCE) -> dict[str, object]:
    """Summary of a per-frame distance (``comparison="euclidean"``) or cosine (``"cosine"``) curve.

    Returns ``mean``, ``worst`` (largest distance / smallest cosine), ``same_person_rate`` (over frames
    with a face), ``face_coverage`` (frames with a face / all frames), ``reliable`` (coverage >= 50 %),
    ``drift``, ``faces`` (frames with a face), ``comparison`` and ``threshold``.
    """
    if comparison not in ("euclidean", "cosine"):
        raise ValueError(f"unknown comparison {comparison!r}; use 'euclidean' or 'cosine'")
    s = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(s)
    coverage = float(valid.mean()) if s.size else float("nan")
    out: dict[str, object] = {"mean": float("nan"), "worst": float("nan"), "same_person_rate": float("nan"),
                              "face_coverage": coverage, "reliable": bool(s.size and coverage >= MIN_FACE_COVERAGE),
                              "drift": float("nan"), "faces": int(valid.sum()), "comparison": comparison,
                              "threshold": float(threshold)}
    if not valid.any():
        return out
    v = s[valid]
    same = v < threshold if comparison == "euclidean" else v >= threshold
    out.update(mean=float(v.mean()), worst=float(v.max() if comparison == "euclidean" else v.min()),
               same_person_rate=float(same.mean()), drift=_drift(s, valid, fps))
    return out


def identity_scores(embeddings: np.ndarray, reference: np.ndarray, fps: float | None = None,
                    kind: str = "dlib128", threshold: float | None = None) -> dict[str, object]:
    """Per-frame value (``"per_frame"``, ``(F,)``) plus ``identity_summary``'s numbers, using the
    decision rule of the embedding ``kind`` (``DECISION_RULES``); ``threshold`` overrides its threshold."""
    if kind not in DECISION_RULES:
        raise ValueError(f"unknown embedding kind {kind!r}; choose from {', '.join(DECISION_RULES)}")
    comparison, default = DECISION_RULES[kind]
    values = euclidean_distance(embeddings, reference) if comparison == "euclidean" else \
        cosine_similarity(embeddings, reference)
    return {"per_frame": values, **identity_summary(values, fps, comparison,
                                                    default if threshold is None else threshold)}
