"""Identity preservation: similarity of every generated frame's face embedding to the reference.

Embeddings are any face-recognition vectors of one kind (``dlib128`` offline via
``backbones.DlibFaceDescriptor``, ``arcface512`` from a user's model); the reference embedding is the
clip's ``identity_embedding`` or the embedding of the reference photo. Similarity is the cosine;
frames without a face (NaN rows) are skipped and counted.

*Drift* is the least-squares slope of similarity against time (per second when ``fps`` is given,
otherwise per frame): a negative drift means the identity fades as the video goes on, which the mean
alone hides.
"""

from __future__ import annotations

import numpy as np


def cosine_similarity(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(F, D)`` embeddings and a ``(D,)`` reference -> ``(F,)`` cosines (NaN for NaN or zero rows)."""
    e = np.asarray(embeddings, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    if e.ndim != 2 or e.shape[1] != r.size:
        raise ValueError(f"embeddings {e.shape} do not match a reference of size {r.size}")
    norms = np.linalg.norm(e, axis=1) * np.linalg.norm(r)
    with np.errstate(all="ignore"):
        sims = (e @ r) / norms
    sims[~np.isfinite(sims)] = np.nan
    return sims


def identity_summary(similarity: np.ndarray, fps: float | None = None) -> dict[str, float]:
    """Mean, minimum, drift (slope over time) and face coverage of a per-frame similarity curve."""
    s = np.asarray(similarity, dtype=np.float64)
    valid = np.isfinite(s)
    out = {"mean": float("nan"), "min": float("nan"), "drift": float("nan"),
           "face_coverage": float(valid.mean()) if s.size else float("nan")}
    if not valid.any():
        return out
    out["mean"] = float(s[valid].mean())
    out["min"] = float(s[valid].min())
    if valid.sum() >= 2:
        t = np.flatnonzero(valid).astype(np.float64)
        if fps:
            t = t / float(fps)
        t_centred = t - t.mean()
        out["drift"] = float((t_centred @ (s[valid] - s[valid].mean())) / (t_centred @ t_centred))
    return out


def identity_scores(embeddings: np.ndarray, reference: np.ndarray, fps: float | None = None) -> dict[str, object]:
    """Per-frame similarity (``"per_frame"``, ``(F,)``) plus ``identity_summary``'s numbers."""
    sims = cosine_similarity(embeddings, reference)
    return {"per_frame": sims, **identity_summary(sims, fps)}
