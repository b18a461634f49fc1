"""Anatomy and interaction metrics on keypoint and label arrays in the dataset contract's layout.

All functions are pure: they take arrays as ``interanimate.data.schema`` defines them — face
keypoints ``(F, 68, 2)`` (iBUG-68, NaN when absent), hand keypoints ``(F, 2, 21, 3)`` with ``(x, y,
confidence)`` (hand 0 = the subject's left), presence flags ``(F, 2)``, contact flags ``(F, 2)`` —
where "predicted" arrays come from re-detecting the generated video and "target" arrays are the driving
conditions or ground truth.

Definitions:

* **Hand PCK@alpha**: a target keypoint (finite, confidence > 0) is correct when the predicted point
  is within ``alpha * s`` pixels, with ``s`` the longer side of the tight box around that hand's target
  keypoints in that frame (box-size normalisation as in hand-pose benchmarks; default ``alpha = 0.2``).
  A predicted keypoint that is missing (NaN or confidence <= ``min_confidence``) counts as wrong, so
  a hand that vanishes from the generated video lowers PCK.
* **Face NME**: mean point-to-point error over the 68 landmarks divided by the inter-ocular distance
  — the distance between the outer eye corners, iBUG points 36 and 45 (the 300-W convention) — or,
  with ``normalization="inter_pupil"``, between the eye centres (means of points 36-41 and 42-47).
  Frames where the target face is absent are skipped; frames where the prediction is absent are
  counted in ``missing_rate`` and excluded from the mean.
* **Hand detection rate**: of the hand-frames present in the target, the fraction present in the
  prediction (plus the false-detection rate on target-absent hand-frames).
* **Hand matching** (``match_hands``): before the hand metrics, a frame's re-detected hands may be swapped
  between the two slots when that puts them nearer the target's, as keypoint benchmarks match detections
  to people by position rather than by a class label; how often the detector's own left/right label was
  kept is reported on its own (``handedness_agreement``). A matched hand counts as detected only where it
  lies on the target hand (``localised``: the centroids of the labelled keypoints within half a hand size), not
  when the detector fires on something else in the frame.
* **Bone-length stability**: per hand and bone (``schema.HAND_BONES``), the coefficient of variation
  ``std / mean`` of the 2-D bone length over the frames where both joints are valid. 2-D lengths
  change with foreshortening, so compare a generated video's value with its driving video's.
* **Contact precision/recall/F1** per frame (a frame is "in contact" when any hand is) against the
  requested contact frames, with an optional ``tolerance`` in frames.
* **Penetration statistics** on synthetic ground truth (millimetres, ``schema``'s ``penetration``).
"""

from __future__ import annotations

import warnings

import numpy as np

from interanimate.data import schema

LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45  # iBUG-68: 36 = image-left eye's outer corner
EYE_RANGES = ((36, 42), (42, 48))


def _valid_hand_points(keypoints: np.ndarray, min_confidence: float) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    return np.all(np.isfinite(kp[..., :2]), axis=-1) & (np.nan_to_num(kp[..., 2]) > min_confidence)


def match_hands(predicted: np.ndarray, predicted_present: np.ndarray, target: np.ndarray,
                target_present: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Swap a frame's two predicted hand slots where the swapped order lies nearer the target hands.

    ``predicted``/``target`` are ``(F, 2, 21, 3)`` keypoints, ``*_present`` ``(F, 2)`` flags. Per frame, each
    order is scored by the target hands it leaves without a prediction, then by the mean keypoint distance in
    target hand sizes; ties keep the detector's order. Returns the re-ordered keypoints and presence, and
    ``handedness_agreement`` (of the frames with a matched hand, the share whose order was kept) with
    ``frames_swapped``.
    """
    pred = np.asarray(predicted, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    pred_on = np.asarray(predicted_present, dtype=bool)
    tgt_on = np.asarray(target_present, dtype=bool)
    tgt_valid = _valid_hand_points(tgt, 0.0) & tgt_on[..., None]
    xs = np.where(tgt_valid, tgt[..., 0], np.nan)
    ys = np.where(tgt_valid, tgt[..., 1], np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # absent hands: all-NaN slices
        size = np.maximum(np.nanmax(xs, -1) - np.nanmin(xs, -1), np.nanmax(ys, -1) - np.nanmin(ys, -1))

        def cost(order: list[int]) -> tuple[np.ndarray, np.ndarray]:
            unmatched = np.zeros(len(pred))
            spread = np.zeros(len(pred))
            for slot, source in enumerate(order):
                on = tgt_on[:, slot] & pred_on[:, source]
                unmatched += tgt_on[:, slot] & ~pred_on[:, source]
                d = np.linalg.norm(pred[:, source, :, :2] - tgt[:, slot, :, :2], axis=-1)
                d = np.nanmean(np.where(tgt_valid[:, slot], d, np.nan), axis=-1) / np.maximum(size[:, slot], 1.0)
                spread += np.where(on, np.nan_to_num(d, nan=0.0), 0.0)
            return unmatched, spread

        kept_unmatched, kept_spread = cost([0, 1])
        swap_unmatched, swap_spread = cost([1, 0])
    swap = (swap_unmatched < kept_unmatched) | ((swap_unmatched == kept_unmatched) & (swap_spread < kept_spread))
    out_kp = np.where(swap[:, None, None, None], pred[:, ::-1], pred)
    out_on = np.where(swap[:, None], pred_on[:, ::-1], pred_on)
    matched = (out_on & tgt_on).any(axis=1)
    stats = {"handedness_agreement": float(1.0 - (swap & matched).sum() / matched.sum()) if matched.any()
             else float("nan"), "frames_swapped": int((swap & matched).sum())}
    return out_kp, out_on, stats


LOCALISED_OFFSET = 0.5  # hand sizes between a detection's keypoint centroid and the target's


def localised(predicted: np.ndarray, predicted_present: np.ndarray, target: np.ndarray, target_present: np.ndarray,
              max_offset: float = LOCALISED_OFFSET) -> np.ndarray:
    """``(F, 2)`` presence of the predicted hands that lie on their target hand.

    Where a target hand is present, its prediction counts only when the centroid of the predicted keypoints the
    target labels lies within ``max_offset`` target hand sizes (the larger side of the labelled keypoints' box) of the
    target's centroid; a detection elsewhere in the frame does not find the hand. Where no target hand is present
    the prediction's presence is kept (a false detection stays one).
    """
    pred = np.asarray(predicted, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    pred_on = np.asarray(predicted_present, dtype=bool)
    tgt_on = np.asarray(target_present, dtype=bool)
    valid = _valid_hand_points(tgt, 0.0) & np.all(np.isfinite(pred[..., :2]), axis=-1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # hands without valid points: all-NaN slices
        tx = np.where(valid, tgt[..., 0], np.nan)
        ty = np.where(valid, tgt[..., 1], np.nan)
        size = np.maximum(np.nanmax(tx, -1) - np.nanmin(tx, -1), np.nanmax(ty, -1) - np.nanmin(ty, -1))
        offset = np.hypot(np.nanmean(np.where(valid, pred[..., 0], np.nan), -1) - np.nanmean(tx, -1),
                          np.nanmean(np.where(valid, pred[..., 1], np.nan), -1) - np.nanmean(ty, -1))
        on_target = offset <= max_offset * np.maximum(size, 1.0)
    return pred_on & (~tgt_on | on_target)


def found_on_target(predicted: np.ndarray, predicted_present: np.ndarray, target: np.ndarray,
                    target_present: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """``match_hands`` then ``localised``: the predicted hands in the target's slots, the ``(F, 2)`` presence of
    those that lie on their target hand, and the matching's record."""
    keypoints, present, matching = match_hands(predicted, predicted_present, target, target_present)
    return keypoints, localised(keypoints, present, target, target_present), matching


def hand_pck(
    predicted: np.ndarray, target: np.ndarray, alpha: float = 0.2, min_confidence: float = 0.0
) -> dict[str, float]:
    """PCK of ``(F, 2, 21, 3)`` predicted hand keypoints against the target's.

    Returns ``pck`` (all hands), ``pck_left``/``pck_right`` and ``num_keypoints`` evaluated; NaN where
    there was nothing to evaluate.
    """
    pred = np.asarray(predicted, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    if pred.shape != tgt.shape or pred.shape[1:] != (schema.NUM_HANDS, schema.NUM_HAND_KEYPOINTS, 3):
        raise ValueError(f"expected two (F, 2, 21, 3) arrays, got {pred.shape} and {tgt.shape}")
    tgt_valid = _valid_hand_points(tgt, 0.0)
    pred_valid = _valid_hand_points(pred, min_confidence)
    xs = np.where(tgt_valid, tgt[..., 0], np.nan)
    ys = np.where(tgt_valid, tgt[..., 1], np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: absent hands are expected
        size = np.maximum(np.nanmax(xs, -1) - np.nanmin(xs, -1), np.nanmax(ys, -1) - np.nanmin(ys, -1))  # (F, 2)
    dist = np.linalg.norm(np.nan_to_num(pred[..., :2]) - np.nan_to_num(tgt[..., :2]), axis=-1)
    correct = pred_valid & tgt_valid & (dist <= alpha * size[..., None])
    out: dict[str, float] = {}
    total = tgt_valid.sum()
    out["pck"] = float(correct.sum() / total) if total else float("nan")
    for h, side in enumerate(schema.HAND_SIDES):
        n = tgt_valid[:, h].sum()
        out[f"pck_{side}"] = float(correct[:, h].sum() / n) if n else float("nan")
    out["num_keypoints"] = int(total)
    return out


def face_nme(predicted: np.ndarray, target: np.ndarray, normalization: str = "inter_ocular") -> dict[str, float]:
    """NME of ``(F, 68, 2)`` predicted face landmarks against the target's.

    Returns ``nme`` (mean over frames where both faces exist), ``missing_rate`` (target faces not found
    in the prediction) and ``frames_scored``; ``face_nme_per_frame`` gives the per-frame curve.
    """
    per_frame, target_present, pred_present = face_nme_per_frame(predicted, target, normalization)
    scored = np.isfinite(per_frame)
    return {
        "nme": float(per_frame[scored].mean()) if scored.any() else float("nan"),
        "missing_rate": float((target_present & ~pred_present).sum() / target_present.sum()) if target_present.any() else float("nan"),
        "frames_scored": int(scored.sum()),
    }


def face_nme_per_frame(
    predicted: np.ndarray, target: np.ndarray, normalization: str = "inter_ocular"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(F,)`` NME per frame (NaN where either face is absent), target presence, predicted presence."""
    pred = np.asarray(predicted, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    if pred.shape != tgt.shape or pred.shape[1:] != (schema.NUM_FACE_KEYPOINTS, 2):
        raise ValueError(f"expected two (F, 68, 2) arrays, got {pred.shape} and {tgt.shape}")
    target_present = np.all(np.isfinite(tgt), axis=(1, 2))
    pred_present = np.all(np.isfinite(pred), axis=(1, 2))
    if normalization == "inter_ocular":
        norm = np.linalg.norm(tgt[:, LEFT_EYE_OUTER] - tgt[:, RIGHT_EYE_OUTER], axis=-1)
    elif normalization == "inter_pupil":
        centres = [tgt[:, a:b].mean(axis=1) for a, b in EYE_RANGES]
        norm = np.linalg.norm(centres[0] - centres[1], axis=-1)
    else:
        raise ValueError(f"unknown normalization {normalization!r}; use 'inter_ocular' or 'inter_pupil'")
    err = np.linalg.norm(pred - tgt, axis=-1).mean(axis=1)
    with np.errstate(all="ignore"):
        per_frame = np.where(target_present & pred_present & (norm > 0), err / norm, np.nan)
    return per_frame, target_present, pred_present


def hand_detection_rate(predicted_present: np.ndarray, target_present: np.ndarray) -> dict[str, float]:
    """Detection and false-detection rates of ``(F, 2)`` hand presence flags."""
    pred = np.asarray(predicted_present, dtype=bool)
    tgt = np.asarray(target_present, dtype=bool)
    if pred.shape != tgt.shape:
        raise ValueError(f"presence shapes differ: {pred.shape} vs {tgt.shape}")
    out = {
        "detection_rate": float((pred & tgt).sum() / tgt.sum()) if tgt.any() else float("nan"),
        "false_detection_rate": float((pred & ~tgt).sum() / (~tgt).sum()) if (~tgt).any() else float("nan"),
    }
    for h, side in enumerate(schema.HAND_SIDES):
        n = tgt[:, h].sum()
        out[f"detection_rate_{side}"] = float((pred[:, h] & tgt[:, h]).sum() / n) if n else float("nan")
    return out


def bone_lengths(hand_keypoints: np.ndarray, min_confidence: float = 0.0) -> np.ndarray:
    """``(F, 2, 21, 3)`` -> ``(F, 2, len(HAND_BONES))`` 2-D bone lengths in pixels (NaN where a joint is missing)."""
    kp = np.asarray(hand_keypoints, dtype=np.float64)
    valid = _valid_hand_points(kp, min_confidence)
    parents = np.array([p for p, _ in schema.HAND_BONES])
    children = np.array([c for _, c in schema.HAND_BONES])
    length = np.linalg.norm(kp[..., children, :2] - kp[..., parents, :2], axis=-1)
    return np.where(valid[..., parents] & valid[..., children], length, np.nan)


def bone_length_stability(hand_keypoints: np.ndarray, min_frames: int = 3) -> dict[str, object]:
    """Coefficient of variation of each bone's length over time.

    Returns ``cv`` as a ``(2, len(HAND_BONES))`` array (NaN with fewer than ``min_frames`` valid
    frames), ``cv_mean`` (mean over all defined bones) and ``cv_mean_left``/``cv_mean_right``.
    """
    lengths = bone_lengths(hand_keypoints)  # (F, 2, B)
    counts = np.isfinite(lengths).sum(axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: absent hands are expected
        mean = np.nanmean(lengths, axis=0)
        std = np.nanstd(lengths, axis=0)
        cv = np.where((counts >= min_frames) & (mean > 0), std / mean, np.nan)

    def _m(v: np.ndarray) -> float:
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    out: dict[str, object] = {"cv": cv, "cv_mean": _m(cv)}
    for h, side in enumerate(schema.HAND_SIDES):
        out[f"cv_mean_{side}"] = _m(cv[h])
    return out


def _dilate(flags: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return flags
    out = flags.copy()
    for shift in range(1, radius + 1):
        out[shift:] |= flags[:-shift]
        out[:-shift] |= flags[shift:]
    return out


def contact_scores(predicted: np.ndarray, requested: np.ndarray, tolerance: int = 0, per_hand: bool = False) -> dict[str, float]:
    """Per-frame contact precision/recall/F1.

    Args:
        predicted: ``(F,)`` or ``(F, 2)`` contact flags re-detected in the generated video.
        requested: same shape, the contact frames the video was asked to show.
        tolerance: a predicted contact frame is a true positive when a requested one lies within
            ``tolerance`` frames (and symmetrically for recall), absorbing small timing offsets.
        per_hand: score ``(F, 2)`` flags per hand-frame instead of collapsing to "any hand".
    """
    pred = np.asarray(predicted, dtype=bool)
    req = np.asarray(requested, dtype=bool)
    if pred.shape != req.shape:
        raise ValueError(f"contact shapes differ: {pred.shape} vs {req.shape}")
    if pred.ndim == 2 and not per_hand:
        pred, req = pred.any(axis=1), req.any(axis=1)
    tp_precision = (pred & _dilate(req, tolerance)).sum()
    tp_recall = (req & _dilate(pred, tolerance)).sum()
    precision = float(tp_precision / pred.sum()) if pred.any() else float("nan")
    recall = float(tp_recall / req.sum()) if req.any() else float("nan")
    if np.isfinite(precision) and np.isfinite(recall) and precision + recall > 0:
        f1 = 2 * precision * recall / (precision + recall)
    elif np.isfinite(precision) and np.isfinite(recall):
        f1 = 0.0
    else:
        f1 = float("nan")
    return {"precision": precision, "recall": recall, "f1": float(f1),
            "predicted_frames": int(pred.sum()), "requested_frames": int(req.sum())}


def pattern_accuracy(recognised, requested) -> dict[str, object]:
    """Accuracy of recognised vs requested pattern labels (names or ids; ``None``/-1 = unrecognised,
    which counts as wrong), with a confusion table ``{requested: {recognised: count}}``."""
    rec = list(recognised)
    req = list(requested)
    if len(rec) != len(req):
        raise ValueError(f"{len(rec)} recognised vs {len(req)} requested patterns")
    confusion: dict[str, dict[str, int]] = {}
    correct = 0
    for r, q in zip(rec, req):
        r_key = "none" if r is None or r == -1 else str(r)
        q_key = str(q)
        confusion.setdefault(q_key, {}).setdefault(r_key, 0)
        confusion[q_key][r_key] += 1
        correct += int(r_key == q_key)
    return {"accuracy": correct / len(req) if req else float("nan"), "num_clips": len(req), "confusion": confusion}


def penetration_stats(penetration_mm: np.ndarray, contact: np.ndarray | None = None, threshold_mm: float = 1.0) -> dict[str, float]:
    """Statistics of per-frame penetration depth (mm, synthetic ground truth).

    Args:
        penetration_mm: ``(F,)`` deepest hand-into-face penetration per frame (NaN = unknown).
        contact: optional ``(F,)`` or ``(F, 2)`` flags; when given, statistics are over contact frames.
        threshold_mm: depth above which a frame counts as penetrating.
    """
    p = np.asarray(penetration_mm, dtype=np.float64)
    keep = np.isfinite(p)
    if contact is not None:
        c = np.asarray(contact, dtype=bool)
        keep &= c.any(axis=1) if c.ndim == 2 else c
    v = p[keep]
    if v.size == 0:
        return {"mean_mm": float("nan"), "max_mm": float("nan"), "rate_above_threshold": float("nan"), "frames": 0}
    return {"mean_mm": float(v.mean()), "max_mm": float(v.max()),
            "rate_above_threshold": float((v > threshold_mm).mean()), "frames": int(v.size)}
