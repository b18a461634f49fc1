"""Calibration of the contact detector and pattern recogniser on synthetic renders with exact labels.

The pieces ``tools/fit_annotate_models.py`` is made of, importable so tests can use them on small
samples: subject-disjoint clip lists, rendering a "hover" negative (a hand in front of the face that
never touches it), per-clip cue collection (MediaPipe perception, or ground-truth keypoints with
noise), the logistic fits, and the metrics (contact precision/recall/F1, hover false positives,
18-way and family accuracy with the confusion matrix).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from interanimate.data.annotate.analysis import analyse, contact_episodes, recognise_episodes, strongest
from interanimate.data.annotate.contact import FEATURES, ContactModel, contact_features, label_contact
from interanimate.data.annotate.geometry import face_frame, face_outline, signed_distance
from interanimate.data.annotate.patterns import PatternModel, pattern_vector
from interanimate.data.annotate.smoothing import one_euro
from interanimate.taxonomy import FACE_REGIONS, PATTERN_NAMES

NONE = "none"
FAMILIES = ("poke", "pinch", "stroke", "swipe")


@dataclass(frozen=True)
class Split:
    name: str
    first_subject: int
    num_subjects: int
    clips_per_pattern: int
    hover_per_subject: int


def splits(args) -> dict[str, Split]:
    return {"train": Split("train", 2000, args.train_subjects, args.clips_per_pattern, args.hover_per_subject),
            "test": Split("test", 3000, args.test_subjects, 1, args.hover_per_subject)}


def clip_specs(split: Split, seed: int, size: int, num_frames: int) -> list[tuple[str, object, bool]]:
    """``(key, ClipSpec, hover)`` for every clip of ``split``."""
    from interanimate.data.synth import ClipSpec

    out = []
    for s in range(split.first_subject, split.first_subject + split.num_subjects):
        for p in PATTERN_NAMES:
            for c in range(split.clips_per_pattern):
                spec = ClipSpec(seed=seed, subject_index=s, pattern=p, clip_index=c, num_frames=num_frames, size=size)
                out.append((f"{split.name}-{spec.clip_id}", spec, False))
        for k in range(split.hover_per_subject):
            p = PATTERN_NAMES[(s * 7 + k * 5) % len(PATTERN_NAMES)]
            spec = ClipSpec(seed=seed, subject_index=s, pattern=p, clip_index=100 + k, num_frames=num_frames, size=size,
                            hover_offset_m=hover_offset(seed, s, k))
            out.append((f"{split.name}-{spec.clip_id}-hover", spec, True))
    return out


def hover_offset(seed: int, subject: int, index: int, low: float = 0.025, high: float = 0.06) -> float:
    """How far in front of the face a hover clip's hand stays: 2.5-6 cm, drawn per clip from its ids."""
    return float(np.random.default_rng([seed, subject, index, 7]).uniform(low, high))


def valid_regions(region: np.ndarray) -> np.ndarray:
    """Region ids outside the taxonomy are treated as unknown (-1) rather than trusted."""
    region = np.asarray(region).astype(np.int16)
    return np.where((region >= 0) & (region < len(FACE_REGIONS)), region, -1).astype(np.int8)


def iod_of(face: np.ndarray) -> np.ndarray:
    return np.linalg.norm(face[:, 36:42].mean(1) - face[:, 42:48].mean(1), axis=-1)


def ground_truth_tracks(gt, fps: float, noise: float, rng: np.random.Generator):
    """Ground-truth 2-D keypoints + Gaussian noise (``noise`` x IOD), smoothed as real tracks are."""
    face = gt.face_keypoints.astype(np.float64)
    iod = np.nan_to_num(iod_of(face), nan=20.0)
    face = face + rng.normal(0, 1, face.shape) * noise * iod[:, None, None]
    hands = gt.hand_keypoints[..., :2].astype(np.float64)
    hands = hands + rng.normal(0, 1, hands.shape) * noise * iod[:, None, None, None]
    face = one_euro(face, gt.face_present, fps, min_cutoff=1.0, beta=0.05, scale=iod * 2.5)
    for h in range(2):
        hands[:, h] = one_euro(hands[:, h], gt.hand_present[:, h], fps, min_cutoff=1.5, beta=0.3, scale=iod * 1.5)
    return face, hands


def measure_clip(key: str, spec, hover: bool, noise: float, perceive: bool = True) -> dict:
    """Render one clip and compute the contact cues of its ground truth + noise (``gn_*``) and, with
    ``perceive``, of MediaPipe perception (``mp_*``), beside the exact labels (``gt_*``)."""
    from interanimate.data.synth import render_clip

    clip = render_clip(spec)
    gt = clip.annotations
    fps, size = clip.record.fps, spec.size
    arrays = {"gt_contact": gt.contact, "gt_region": valid_regions(gt.contact_region), "gt_face": gt.face_keypoints,
              "gt_face_present": gt.face_present, "gt_hands": gt.hand_keypoints, "gt_hand_present": gt.hand_present,
              "phase": np.asarray(clip.record.extra["phases"], np.int8)}
    # Hand in front of the face without touching: a fingertip projects inside the face outline.
    outline = face_outline(np.nan_to_num(gt.face_keypoints.astype(np.float64)))
    near = np.zeros(gt.contact.shape, bool)
    for f in np.flatnonzero(gt.face_present):
        for h in np.flatnonzero(gt.hand_present[f]):
            tips = gt.hand_keypoints[f, h, [4, 8, 12, 16, 20], :2].astype(np.float64)
            near[f, h] = not gt.contact[f, h] and bool((signed_distance(tips, outline[f]) > 0).any())
    arrays["hover"] = near
    start = time.perf_counter()
    if perceive:
        analysis = analyse(clip.frames, fps)
        tracks = analysis.tracks
        with np.errstate(all="ignore"):
            features, tip = contact_features(analysis.face, tracks.mesh, tracks.face_present, tracks.hands, tracks.hand_world,
                                             tracks.hand_present, fps, (size, size))
        arrays.update(mp_face=tracks.landmarks, mp_face_present=tracks.face_present, mp_hands=tracks.hands,
                      mp_hand_present=tracks.hand_present, mp_hand_found=tracks.hand_found, mp_features=features,
                      mp_tip=tip)
    perceive_s = time.perf_counter() - start
    rng = np.random.default_rng([spec.subject_index, spec.clip_index, PATTERN_NAMES.index(spec.pattern)])
    face, hands = ground_truth_tracks(gt, fps, noise, rng)
    with np.errstate(all="ignore"):
        frame = face_frame(np.nan_to_num(face))
        features, tip = contact_features(frame, face, gt.face_present, hands, None, gt.hand_present, fps, (size, size))
    arrays.update(gn_face=face, gn_face_present=gt.face_present, gn_hands=hands, gn_hand_present=gt.hand_present,
                  gn_hand_found=gt.hand_present, gn_features=features, gn_tip=tip)
    arrays["meta"] = json.dumps({"key": key, "pattern": spec.pattern, "hover": hover, "subject": spec.subject_index,
                                 "fps": fps, "size": size, "perceive_s": perceive_s})
    return arrays


def collect_clip(key: str, spec, hover: bool, out: Path, noise: float) -> None:
    """``measure_clip`` written to ``out/<key>.npz`` (atomically: a killed run leaves no half file)."""
    arrays = measure_clip(key, spec, hover, noise)
    tmp = out / f"{key}.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / f"{key}.npz")


def clip_cues(arrays, source: str) -> SimpleNamespace:
    """One clip's labels and the cues of ``source`` (``mp``: MediaPipe, ``gn``: ground truth + noise)."""
    meta = json.loads(str(arrays["meta"]))
    return SimpleNamespace(
        **meta, gt_contact=arrays["gt_contact"], gt_region=valid_regions(arrays["gt_region"]),
        hover_frames=arrays["hover"], phase=arrays["phase"], gt_hand_present=arrays["gt_hand_present"],
        face=arrays[f"{source}_face"].astype(np.float64), face_present=arrays[f"{source}_face_present"],
        hands=arrays[f"{source}_hands"].astype(np.float64), hand_present=arrays[f"{source}_hand_present"],
        hand_found=arrays[f"{source}_hand_found" if f"{source}_hand_found" in arrays else f"{source}_hand_present"],
        features=arrays[f"{source}_features"], tip=arrays[f"{source}_tip"])


def load_clips(cache: Path, split: str, source: str) -> list[SimpleNamespace]:
    """Cached clips of ``split`` with the cue arrays of ``source`` (``mp`` or ``gn``)."""
    return [clip_cues(np.load(path), source) for path in sorted(Path(cache).glob(f"{split}-*.npz"))
            if not path.name.endswith(".tmp.npz")]


def run_contact(clip, model: ContactModel):
    with np.errstate(all="ignore"):
        frame = face_frame(np.nan_to_num(clip.face))
        return label_contact(frame, clip.features, clip.tip, clip.hands, clip.hand_present, clip.face_present,
                             clip.fps, (clip.size, clip.size), model)


def clip_episodes(clip, contact):
    """``(EpisodeFeatures, overlaps ground-truth contact)`` for each contact episode of the clip."""
    frame = face_frame(np.nan_to_num(clip.face))
    out = []
    with np.errstate(all="ignore"):
        for e in contact_episodes(frame, contact, clip.hands, clip.fps):
            frames = np.concatenate([np.arange(a, b) for a, b in e.segments])
            out.append((e, bool(clip.gt_contact[frames].any())))
    return out


def clip_prediction(clip, contact, pattern_model) -> tuple[str, float]:
    """The clip's label as the annotator would give it: its most confident labelled episode."""
    frame = face_frame(np.nan_to_num(clip.face))
    with np.errstate(all="ignore"):
        best = strongest(recognise_episodes(frame, contact, clip.hands, clip.fps, pattern_model))
    return (NONE, 0.0) if best is None else (best.pattern, best.confidence)


# ---- contact fit ------------------------------------------------------------------------------------

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (L-BFGS on the mean log-loss); ``x`` already standardised."""
    from scipy.optimize import minimize

    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    target = y.astype(np.float64)

    def loss(theta):
        z = design @ theta
        value = np.mean(np.logaddexp(0.0, z) - target * z) + 0.5 * l2 * theta[:-1] @ theta[:-1]
        grad = design.T @ (1.0 / (1.0 + np.exp(-z)) - target) / len(z)
        grad[:-1] += l2 * theta[:-1]
        return value, grad

    theta = minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B").x
    return theta[:-1], float(theta[-1])


def contact_counts(clips, model: ContactModel) -> dict:
    tp = fp = fn = hover = hover_fp = hover_clip = hover_clip_fp = 0
    for clip in clips:
        pred = run_contact(clip, model).contact
        true = clip.gt_contact
        tp += int((pred & true).sum())
        fp += int((pred & ~true).sum())
        fn += int((~pred & true).sum())
        hover += int(clip.hover_frames.sum())
        hover_fp += int((pred & clip.hover_frames).sum())
        if clip.hover:
            hover_clip += int(clip.hover_frames.sum())
            hover_clip_fp += int((pred & clip.hover_frames).sum())
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(1e-9, precision + recall),
            "tp": tp, "fp": fp, "fn": fn, "hover_frames": hover, "hover_fp": hover_fp,
            "hover_fp_rate": hover_fp / max(1, hover), "hover_clip_frames": hover_clip,
            "hover_clip_fp_rate": hover_clip_fp / max(1, hover_clip)}


def fit_contact(clips, l2: float = 1e-3) -> tuple[ContactModel, dict]:
    width = 2 * len(FEATURES)  # the cues and their windowed means (ContactModel.inputs)
    shape = ContactModel(weights=(0.0,) * width, bias=0.0, mean=(0.0,) * width, scale=(1.0,) * width)
    features = np.concatenate([shape.inputs(c.features, c.fps).reshape(-1, width) for c in clips])
    labels = np.concatenate([c.gt_contact.reshape(-1) for c in clips])
    usable = np.isfinite(features[:, 0])  # a hand and the face were seen
    features, labels = features[usable], labels[usable]
    mean = np.nanmean(features, axis=0)
    scale = np.nanstd(features, axis=0) + 1e-6
    base = ContactModel(weights=(0.0,) * width, bias=0.0, mean=tuple(mean), scale=tuple(scale))
    weights, bias = fit_logistic(base.standardise(features), labels, l2)
    model = ContactModel(weights=tuple(float(w) for w in weights), bias=bias, mean=tuple(float(m) for m in mean),
                         scale=tuple(float(s) for s in scale))
    # Temporal settings: chosen on the train split for F1, with hover false positives penalised
    # (a hand in front of the face that reads as touching is the error the product cares most about).
    best, best_score = None, -np.inf
    for enter in (0.25, 0.35, 0.45, 0.55, 0.65):
        for leave in (enter - 0.25, enter - 0.15, enter - 0.05):
            for gap in (0.0, 0.08, 0.16):
                for min_dur in (0.0, 0.08, 0.16):
                    trial = ContactModel(**{**vars(model), "enter": enter, "leave": max(0.05, leave),
                                            "close_gap_s": gap, "min_duration_s": min_dur})
                    counts = contact_counts(clips, trial)
                    score = counts["f1"] - 0.5 * counts["hover_fp_rate"]
                    if score > best_score:
                        best, best_score = trial, score
    return best, {"frames": int(usable.sum()), "positives": int(labels.sum()), "l2": l2,
                  "selection": "max F1 - 0.5 x hover false-positive rate over enter/leave/gap/min-duration grid"}


# ---- pattern fit ------------------------------------------------------------------------------------

def pattern_dataset(clips, contact_model: ContactModel):
    rows, labels = [], []
    for clip in clips:
        for e, touches in clip_episodes(clip, run_contact(clip, contact_model)):
            rows.append(pattern_vector(e))
            labels.append(clip.pattern if touches and not clip.hover else NONE)
    return np.array(rows), np.array(labels)


def fit_softmax(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import minimize

    n, d = x.shape
    onehot = np.eye(num_classes)[y]

    def loss(theta):
        w = theta[: d * num_classes].reshape(d, num_classes)
        b = theta[d * num_classes:]
        z = x @ w + b
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -np.mean((onehot * log_p).sum(axis=1)) + 0.5 * l2 * np.sum(w * w)
        g = (np.exp(log_p) - onehot) / n
        return value, np.concatenate([(x.T @ g + l2 * w).ravel(), g.sum(axis=0)])

    theta = minimize(loss, np.zeros(d * num_classes + num_classes), jac=True, method="L-BFGS-B",
                     options={"maxiter": 2000}).x
    return theta[: d * num_classes].reshape(d, num_classes), theta[d * num_classes:]


def pattern_accuracy(clips, contact_model, pattern_model) -> dict:
    confusion = np.zeros((len(PATTERN_NAMES), len(PATTERN_NAMES) + 1), np.int64)  # last column: none
    hover_labelled = hover_clips = 0
    for clip in clips:
        predicted, _ = clip_prediction(clip, run_contact(clip, contact_model), pattern_model)
        if clip.hover:
            hover_clips += 1
            hover_labelled += int(predicted != NONE)
            continue
        column = PATTERN_NAMES.index(predicted) if predicted != NONE else len(PATTERN_NAMES)
        confusion[PATTERN_NAMES.index(clip.pattern), column] += 1
    n = int(confusion.sum())
    family = sum(confusion[i, j] for i in range(len(PATTERN_NAMES)) for j in range(len(PATTERN_NAMES))
                 if PATTERN_NAMES[i].split("_")[0] == PATTERN_NAMES[j].split("_")[0])
    return {"clips": n, "accuracy": float(np.trace(confusion[:, :-1]) / max(1, n)),
            "family_accuracy": float(family / max(1, n)), "unlabelled": int(confusion[:, -1].sum()),
            "hover_clips": hover_clips, "hover_clips_labelled": hover_labelled, "confusion": confusion.tolist()}


def fit_pattern(clips, contact_model: ContactModel, l2: float = 1e-2) -> tuple[PatternModel, dict]:
    x, labels = pattern_dataset(clips, contact_model)
    classes = list(PATTERN_NAMES)
    keep = labels != NONE
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    xs = (x - mean) / scale
    y = np.array([classes.index(label) for label in labels[keep]])
    weights, bias = fit_softmax(xs[keep], y, len(classes), l2)
    model = PatternModel(weights=weights.tolist(), bias=bias.tolist(), mean=mean.tolist(), scale=scale.tolist(),
                         min_confidence=0.0)
    # Rejection threshold: the clip-level accuracy on the train split, where hover clips and episodes
    # that do not overlap a real contact should come out as none/other. A clip's label is its most
    # confident episode, so one pass at threshold 0 gives every clip's candidate and its confidence.
    candidates = [(clip.pattern, clip.hover) + clip_prediction(clip, run_contact(clip, contact_model), model)
                  for clip in clips]
    best_threshold, best = 0.0, -1.0
    for threshold in np.linspace(0.0, 0.9, 19):
        correct = sum((predicted == NONE or confidence < threshold) if hover
                      else (predicted == true and confidence >= threshold)
                      for true, hover, predicted, confidence in candidates)
        if correct > best:
            best_threshold, best = float(threshold), correct
    model.min_confidence = best_threshold
    return model, {"episodes": int(len(labels)), "episodes_none": int((~keep).sum()), "l2": l2,
                   "selection": "min_confidence maximising train clip accuracy (hover clips must stay none/other)"}
