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
from interanimate.data.annotate.contact import (FEATURES, ContactModel, ContactResult, contact_features,
                                                contact_points, decide, label_contact, true_runs)
from interanimate.data.annotate.geometry import face_frame, face_outline, signed_distance
from interanimate.data.annotate.patterns import OTHER, PATTERN_CLASSES, PatternModel, pattern_vector
from interanimate.data.annotate.patterns import decide as decide_pattern
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
    rng = np.random.default_rng([spec.subject_index, spec.clip_index, PATTERN_NAMES.index(spec.pattern)])
    meta = {"key": key, "pattern": spec.pattern, "hover": hover, "subject": spec.subject_index}
    return measure_frames(clip.frames, clip.annotations, clip.record.fps, spec.size, meta, noise, rng,
                          np.asarray(clip.record.extra["phases"], np.int8), perceive)


def measure_frames(frames: np.ndarray, gt, fps: float, size: int, meta: dict, noise: float,
                   rng: np.random.Generator, phase: np.ndarray | None = None, perceive: bool = True) -> dict:
    """The cached arrays of one rendered clip with exact labels ``gt`` (``ClipAnnotations``): the labels
    (``gt_*``), the frames where a hand is in front of the face without touching (``hover``), the cues of
    the ground-truth keypoints + ``noise`` x IOD (``gn_*``) and, with ``perceive``, of MediaPipe perception
    and the annotator's cleaning on ``frames`` (``mp_*``). ``phase`` is the choreography's phase per frame
    (-1 where unknown)."""
    phase = np.full(len(gt.contact), -1, np.int8) if phase is None else phase
    arrays = {"gt_contact": gt.contact, "gt_region": valid_regions(gt.contact_region), "gt_face": gt.face_keypoints,
              "gt_face_present": gt.face_present, "gt_hands": gt.hand_keypoints, "gt_hand_present": gt.hand_present,
              "phase": phase}
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
        analysis = analyse(frames, fps)
        tracks = analysis.tracks
        with np.errstate(all="ignore"):
            features, tip = contact_features(analysis.face, tracks.mesh, tracks.face_present, tracks.hands, tracks.hand_world,
                                             tracks.hand_present, fps, (size, size))
        arrays.update(mp_face=tracks.landmarks, mp_face_present=tracks.face_present, mp_hands=tracks.hands,
                      mp_hand_present=tracks.hand_present, mp_hand_found=tracks.hand_found, mp_features=features,
                      mp_tip=tip, mp_mesh=tracks.mesh.astype(np.float32),
                      mp_hand_world=tracks.hand_world.astype(np.float32))
    perceive_s = time.perf_counter() - start
    face, hands = ground_truth_tracks(gt, fps, noise, rng)
    with np.errstate(all="ignore"):
        frame = face_frame(np.nan_to_num(face))
        features, tip = contact_features(frame, face, gt.face_present, hands, None, gt.hand_present, fps, (size, size))
    arrays.update(gn_face=face, gn_face_present=gt.face_present, gn_hands=hands, gn_hand_present=gt.hand_present,
                  gn_hand_found=gt.hand_present, gn_features=features, gn_tip=tip)
    arrays["meta"] = json.dumps({**meta, "fps": fps, "size": size, "perceive_s": perceive_s})
    return arrays


COMPOSITE_SUBJECT = 5000  # composite clips' ``subject``: 5000 + the portrait's index (folds group by portrait)


def collect_clip(key: str, spec, hover: bool, out: Path, noise: float, perceive: bool = True) -> None:
    """``measure_clip`` written to ``out/<key>.npz`` (atomically: a killed run leaves no half file)."""
    save_arrays(measure_clip(key, spec, hover, noise, perceive), out, key)


def save_arrays(arrays: dict, out: Path, key: str) -> None:
    """One clip's cached arrays written to ``out/<key>.npz`` atomically."""
    tmp = out / f"{key}.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / f"{key}.npz")


def clip_cues(arrays, source: str) -> SimpleNamespace:
    """One clip's labels and the cues of ``source`` (``mp``: MediaPipe, ``gn``: ground truth + noise)."""
    meta = json.loads(str(arrays["meta"]))
    face = arrays[f"{source}_face"].astype(np.float64)
    hands = arrays[f"{source}_hands"].astype(np.float64)
    face_present, hand_present = arrays[f"{source}_face_present"], arrays[f"{source}_hand_present"]
    features, tip = arrays[f"{source}_features"], arrays[f"{source}_tip"]
    if features.shape[-1] != len(FEATURES):  # cached by another version of the cues: recompute them
        mesh = arrays[f"{source}_mesh"].astype(np.float64) if f"{source}_mesh" in arrays else face
        world = arrays[f"{source}_hand_world"].astype(np.float64) if f"{source}_hand_world" in arrays else None
        if source == "mp" and world is None:
            raise ValueError(f"{meta['key']}: cached without the face mesh and metric hand landmarks the "
                             "current cues need; re-run collect")
        with np.errstate(all="ignore"):
            features, tip = contact_features(face_frame(np.nan_to_num(face)), mesh, face_present, hands, world,
                                             hand_present, meta["fps"], (meta["size"], meta["size"]))
    return SimpleNamespace(
        **meta, gt_contact=arrays["gt_contact"], gt_region=valid_regions(arrays["gt_region"]),
        hover_frames=arrays["hover"], phase=arrays["phase"], gt_hand_present=arrays["gt_hand_present"],
        face=face, face_present=face_present, hands=hands, hand_present=hand_present,
        hand_found=arrays[f"{source}_hand_found" if f"{source}_hand_found" in arrays else f"{source}_hand_present"],
        features=features, tip=tip)


def load_clips(cache: Path, split: str, source: str) -> list[SimpleNamespace]:
    """Cached clips of ``split`` with the cue arrays of ``source`` (``mp`` or ``gn``)."""
    return [clip_cues(np.load(path), source) for path in sorted(Path(cache).glob(f"{split}-*.npz"))
            if not path.name.endswith(".tmp.npz")]


def run_contact(clip, model: ContactModel):
    with np.errstate(all="ignore"):
        frame = face_frame(np.nan_to_num(clip.face))
        return label_contact(frame, clip.features, clip.tip, clip.hands, clip.hand_present, clip.face_present,
                             clip.fps, (clip.size, clip.size), model)


def clip_episodes(clip, contact, core: bool = False):
    """``(EpisodeFeatures, overlaps ground-truth contact)`` for each contact episode of the clip (described over
    its touch core with ``core``)."""
    frame = face_frame(np.nan_to_num(clip.face))
    out = []
    with np.errstate(all="ignore"):
        for e in contact_episodes(frame, contact, clip.hands, clip.fps, core=core):
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

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (L-BFGS on the weighted mean log-loss); ``x`` already standardised."""
    from scipy.optimize import minimize

    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    target = y.astype(np.float64)
    weight = np.ones(len(x)) if weight is None else np.asarray(weight, np.float64)
    weight = weight / weight.mean()

    def loss(theta):
        z = design @ theta
        value = np.mean(weight * (np.logaddexp(0.0, z) - target * z)) + 0.5 * l2 * theta[:-1] @ theta[:-1]
        grad = design.T @ (weight * (1.0 / (1.0 + np.exp(-z)) - target)) / len(z)
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


def fit_softmax(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float,
                weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import minimize

    n, d = x.shape
    onehot = np.eye(num_classes)[y]
    weight = np.ones(n) if weight is None else np.asarray(weight, np.float64) / np.mean(weight)

    def loss(theta):
        w = theta[: d * num_classes].reshape(d, num_classes)
        b = theta[d * num_classes:]
        z = x @ w + b
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -np.mean(weight * (onehot * log_p).sum(axis=1)) + 0.5 * l2 * np.sum(w * w)
        g = weight[:, None] * (np.exp(log_p) - onehot) / n
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
                         min_confidence=0.0, decision="pattern")
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


# ---- the real development set -----------------------------------------------------------------------

def measure_real_clip(clip, path: Path) -> dict:
    """Run perception and tracking on one labelled real clip (``evaluation.devset.DevsetClip``) at the
    annotator's working resolution and keep the subject's *raw* tracks beside the hand labels, so that
    cleaning, cues and models can be changed, fitted and scored without running perception again."""
    from interanimate.data.annotate.analysis import _open, _perceive, identifier
    from interanimate.data.annotate.pipeline import AnnotateConfig
    from interanimate.data.annotate.tracking import build_tracks

    decoded, fetch, _, (num_frames, height, width, fps) = _open(path, None, AnnotateConfig().limits(), None)
    observations, cuts = _perceive(decoded, num_frames, float(fps), False, None, {})
    tracks = build_tracks(observations, cuts=cuts, identify=identifier(fetch))
    if len(observations) != clip.num_frames:
        raise ValueError(f"{clip.id}: perceived {len(observations)} frames, labels have {clip.num_frames}")
    return {"face_mesh": tracks.face_mesh.astype(np.float32), "face_found": tracks.face_found,
            "other_faces": tracks.other_faces, "hands": tracks.hands.astype(np.float32),
            "hand_world": tracks.hand_world.astype(np.float32), "hand_score": tracks.hand_score,
            "hand_found": tracks.hand_found, "truth": clip.contact_flags(), "scoring_mask": clip.scoring_mask(),
            "meta": json.dumps({"key": f"real-{clip.split}-{clip.id}", "id": clip.id, "split": clip.split,
                                "fps": float(fps), "width": int(width), "height": int(height),
                                "region": clip.region, "family": clip.family, "pattern": clip.pattern,
                                "hard_negative": clip.hard_negative})}


def collect_real_clip(clip, path: Path, out: Path) -> None:
    """``measure_real_clip`` written to ``out/real-<split>-<id>.npz`` atomically."""
    arrays = measure_real_clip(clip, path)
    key = f"real-{clip.split}-{clip.id}"
    tmp = out / f"{key}.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / f"{key}.npz")


def real_clip_cues(arrays) -> SimpleNamespace:
    """One cached real clip, cleaned and with its contact cues computed by the current code."""
    from interanimate.data.annotate.analysis import clean_tracks

    meta = json.loads(str(arrays["meta"]))
    raw = SimpleNamespace(**{k: arrays[k] for k in ("face_mesh", "face_found", "other_faces", "hands", "hand_world",
                                                     "hand_score", "hand_found")})
    with np.errstate(all="ignore"):
        t = clean_tracks(raw, meta["fps"])
        landmarks = t.landmarks.astype(np.float64)
        frame = face_frame(np.nan_to_num(landmarks))
        features, tip = contact_features(frame, t.mesh, t.face_present, t.hands, t.hand_world, t.hand_present,
                                         meta["fps"], (meta["width"], meta["height"]))
    return SimpleNamespace(**meta, frame=frame, landmarks=landmarks, face=landmarks, hands=t.hands,
                           face_present=t.face_present, hand_present=t.hand_present, hand_found=t.hand_found,
                           features=features, tip=tip, truth=arrays["truth"], keep=arrays["scoring_mask"],
                           size=max(meta["width"], meta["height"]))


def load_real_clips(cache: Path, split: str) -> list[SimpleNamespace]:
    """Cached real clips of one devset half (``collect_real_clip``), cues recomputed."""
    return [real_clip_cues(np.load(path)) for path in sorted(Path(cache).glob(f"real-{split}-*.npz"))
            if not path.name.endswith(".tmp.npz")]


def run_real_contact(clip, model: ContactModel):
    with np.errstate(all="ignore"):
        return label_contact(clip.frame, clip.features, clip.tip, clip.hands, clip.hand_present, clip.face_present,
                             clip.fps, (clip.width, clip.height), model)


def acting_hand_labels(clip) -> np.ndarray:
    """``(F, 2)`` per-hand contact targets of a real clip, whose labels say *that* a hand touches, not which:
    in a contact frame the seen hand whose fingertip reaches furthest into the face is the touching one."""
    labels = np.zeros(clip.hand_present.shape, bool)
    reach = np.where(np.isfinite(clip.features[..., 0]), clip.features[..., 0], -np.inf)
    acting = np.argmax(reach, axis=1)
    seen = np.isfinite(reach).any(axis=1)
    frames = np.flatnonzero(clip.truth & seen)
    labels[frames, acting[frames]] = True
    return labels


def real_counts(clips, model: ContactModel, probability: list | None = None) -> dict:
    """The devset's scores (``tools/score_devset.py``) on cached clips: frame P/R/F1 with edges ignored,
    touch clips found, hard-negative and no-touch clips with any contact, region accuracy over touches."""
    tp = fp = fn = 0
    found, hard, no_touch, regions = [], [], [], []
    for i, clip in enumerate(clips):
        if probability is None:
            result = run_real_contact(clip, model)
            pred, region = result.contact.any(axis=1), result.region
        else:  # out-of-fold probabilities: only the decision settings of ``model`` apply
            on = np.stack([decide(probability[i][:, h], clip.fps, model) for h in range(2)], axis=1)
            on &= clip.hand_present & clip.face_present[:, None]
            pred, region = on.any(axis=1), None
        tp += int((pred & clip.truth & clip.keep).sum())
        fp += int((pred & ~clip.truth & clip.keep).sum())
        fn += int((~pred & clip.truth & clip.keep).sum())
        if clip.truth.any():
            found.append(bool(pred.any()))
            if region is not None:
                ids = region[region >= 0]
                best = FACE_REGIONS[int(np.bincount(ids).argmax())] if len(ids) else None
                regions.append(best == clip.region)
        else:
            no_touch.append(bool(pred.any()))
            if clip.hard_negative:
                hard.append(bool(pred.any()))
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    rate = lambda v: float(np.mean(v)) if v else float("nan")
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(1e-9, precision + recall),
            "tp": tp, "fp": fp, "fn": fn, "touch_clips_found": rate(found), "touch_clips": len(found),
            "hard_negative_fp": rate(hard), "hard_negatives": len(hard), "no_touch_fp": rate(no_touch),
            "no_touch_clips": len(no_touch), "region_accuracy": rate(regions)}


def _contact_rows(clips, shape: ContactModel, real: bool):
    """Model inputs, targets and per-frame weights (each clip weighs the same in total) of usable frames."""
    width = len(shape.weights)
    xs, ys, ws = [], [], []
    for clip in clips:
        x = shape.inputs(clip.features, clip.fps).reshape(-1, width)
        if real:
            y = acting_hand_labels(clip).reshape(-1)
            keep = np.repeat(clip.keep, clip.features.shape[1])
        else:
            y = clip.gt_contact.reshape(-1)
            keep = np.ones(len(y), bool)
        usable = np.isfinite(x[:, 0]) & keep
        if usable.any():
            xs.append(x[usable]), ys.append(y[usable]), ws.append(np.full(usable.sum(), 1.0 / usable.sum()))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def fit_contact_real(real_clips, synthetic_clips=(), l2: float = 3e-2, folds: int = 5,
                     synthetic_share: float = 0.5, hover_weight: float = 1.0) -> tuple[ContactModel, dict]:
    """Fit the contact model on real labelled clips (the devset's fitting half) and, when given, synthetic
    renders with exact labels; choose the decision settings on out-of-fold probabilities of the real clips.

    Every clip weighs the same in the fit (long held touches would otherwise drown the short ones), and
    the synthetic clips together weigh ``synthetic_share`` of the whole. The hysteresis thresholds, gap
    closing and minimum duration maximise frame F1 + share of touch clips found - 2 x share of
    hard-negative clips with any contact, on probabilities each real clip gets from a model fitted
    without it (``folds``-fold, clips grouped by source video), minus ``hover_weight`` x the share of
    the synthetic clips' hand-in-front-of-the-face frames flagged (in-sample; the real fitting half has
    few such hands). A fingertip gate (``min_reach``) comes from the real contact frames' reach.
    """
    width = 2 * len(FEATURES)
    shape = ContactModel(weights=(0.0,) * width, bias=0.0, mean=(0.0,) * width, scale=(1.0,) * width)

    def fit_on(real, synthetic):
        x, y, w = _contact_rows(real, shape, True)
        if synthetic:
            xs, ys, ws = _contact_rows(synthetic, shape, False)
            w = w / w.sum() * (1 - synthetic_share)
            ws = ws / ws.sum() * synthetic_share
            x, y, w = np.concatenate([x, xs]), np.concatenate([y, ys]), np.concatenate([w, ws])
        mean = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
        scale = np.nanstd(np.where(np.isfinite(x), x, np.nan), axis=0) + 1e-6
        base = ContactModel(weights=(0.0,) * width, bias=0.0, mean=tuple(mean), scale=tuple(scale))
        weights, bias = fit_logistic(base.standardise(x), y, l2, w)
        return ContactModel(weights=tuple(float(v) for v in weights), bias=bias, mean=tuple(float(m) for m in mean),
                            scale=tuple(float(v) for v in scale)), int(len(y)), int(y.sum())

    order = np.arange(len(real_clips))
    out_of_fold = [None] * len(real_clips)
    for k in range(folds):
        held = [i for i in order if i % folds == k]
        model_k, _, _ = fit_on([real_clips[i] for i in order if i % folds != k], synthetic_clips)
        for i in held:
            out_of_fold[i] = model_k.probability(real_clips[i].features, real_clips[i].fps)
    model, frames, positives = fit_on(real_clips, synthetic_clips)
    # The geometric gate: the reach below which (almost) no labelled real touch has its fingertip.
    reach = np.concatenate([c.features[..., 0][acting_hand_labels(c) & c.keep[:, None]] for c in real_clips])
    reach = reach[np.isfinite(reach)]
    min_reach = float(np.quantile(reach, 0.01)) if len(reach) else -1.5
    model = ContactModel(**{**vars(model), "min_reach": min_reach})
    out_of_fold = [np.where(c.features[..., 0] >= min_reach, p, 0.0) for c, p in zip(real_clips, out_of_fold)]
    best, best_score, best_counts = None, -np.inf, None
    for enter in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        for leave in (enter - 0.15, enter - 0.05):
            for gap in (0.0, 0.1, 0.2):
                for min_dur in (0.0, 0.1, 0.2):
                    trial = ContactModel(**{**vars(model), "enter": enter, "leave": max(0.05, leave),
                                            "close_gap_s": gap, "min_duration_s": min_dur})
                    counts = real_counts(real_clips, trial, out_of_fold)
                    score = counts["f1"] + counts["touch_clips_found"] - 2.0 * np.nan_to_num(counts["hard_negative_fp"])
                    if synthetic_clips:  # hands held in front of the face: rendered hovers, exact labels
                        hover = contact_counts(synthetic_clips, trial)
                        counts["synthetic_hover_fp_rate"] = hover["hover_fp_rate"]
                        score -= hover_weight * hover["hover_fp_rate"]
                    if score > best_score:
                        best, best_score, best_counts = trial, score, counts
    return best, {"frames": frames, "positives": positives, "l2": l2, "real_clips": len(real_clips),
                  "min_reach": "1st percentile of the fingertip reach over the real fitting half's contact frames",
                  "synthetic_clips": len(synthetic_clips), "synthetic_share": synthetic_share if synthetic_clips else 0.0,
                  "selection": f"max frame F1 + touch clips found - 2 x hard-negative clips with contact, on "
                               f"{folds}-fold out-of-fold probabilities of the real fitting half"
                               + (f", - {hover_weight} x synthetic hover-frame false-positive rate" if synthetic_clips else ""),
                  "out_of_fold": {k: round(v, 4) if isinstance(v, float) else v for k, v in best_counts.items()}}


# ---- pattern fit that transfers ---------------------------------------------------------------------

STRETCHES = (0.5, 0.7, 1.0, 1.4, 2.0)  # time-stretch factors of the synthetic episodes (pacing is not a label)


def jittered_contact(flags: np.ndarray, rng: np.random.Generator, frames: int = 3) -> np.ndarray:
    """``(F, 2)`` contact flags with every run's ends moved by up to ``frames`` (a detector's edge errors)."""
    out = np.zeros_like(flags)
    for h in range(flags.shape[1]):
        for a, b in true_runs(flags[:, h]):
            a2 = int(np.clip(a + rng.integers(-frames, frames + 1), 0, len(flags)))
            b2 = int(np.clip(b + rng.integers(-frames, frames + 1), 0, len(flags)))
            if b2 - a2 >= 2:
                out[a2:b2, h] = True
    return out


def stretched(e, factor: float):
    """The episode as if it had been performed ``factor`` times slower (durations x, speeds /)."""
    from dataclasses import replace

    return replace(e, contact_seconds=e.contact_seconds * factor, longest_seconds=e.longest_seconds * factor,
                   speed=e.speed / factor)


def synthetic_pattern_rows(clips, contact_model: ContactModel, seed: int = 0, detected: bool = True,
                           core: bool = False):
    """``(vectors, labels, groups)`` from synthetic clips: the episodes of the exact contact (ends jittered),
    each at every ``STRETCHES`` pacing, labelled with the clip's pattern; episodes the detector finds away
    from any real contact are ``OTHER``. With ``detected``, the episodes ``contact_model`` finds that overlap
    the exact contact are rows of the clip's pattern too (at every pacing): the recogniser then learns the
    episodes it will be given, whose edges the detector extends into the approach and the retreat. With ``core``
    the detected episodes are described over their touch core (``patterns.touch_core``), as a recogniser fitted
    with ``episodes="core"`` is given them."""
    rng = np.random.default_rng(seed)
    rows, labels, groups = [], [], []
    for clip in clips:
        frame = face_frame(np.nan_to_num(clip.face))
        size = (clip.size, clip.size)
        if not clip.hover:
            flags = jittered_contact(clip.gt_contact & clip.hand_present, rng)
            point, region = contact_points(frame, flags, clip.tip, clip.hands, size)
            result = ContactResult(flags, point, region, np.zeros(flags.shape), clip.features, clip.tip)
            with np.errstate(all="ignore"):
                for e in contact_episodes(frame, result, clip.hands, clip.fps):
                    for factor in STRETCHES:
                        rows.append(pattern_vector(stretched(e, factor)))
                        labels.append(clip.pattern)
                        groups.append(clip.subject)
        for e, touches in clip_episodes(clip, run_contact(clip, contact_model), core):
            if not touches:
                rows.append(pattern_vector(e)), labels.append(OTHER), groups.append(clip.subject)
            elif detected and not clip.hover:
                for factor in STRETCHES:
                    rows.append(pattern_vector(stretched(e, factor)))
                    labels.append(clip.pattern)
                    groups.append(clip.subject)
    return rows, labels, groups


def real_pattern_rows(clips, contact_model: ContactModel, core: bool = False):
    """``(vectors, labels, clip ids)`` from the devset's fitting half: detected episodes that overlap a
    labelled touch take the clip's pattern, or ``OTHER`` when the touch fits none (held touches);
    episodes away from any touch are ``OTHER``. Touches with a family but no pattern are left out."""
    rows, labels, groups = [], [], []
    for clip in clips:
        result = run_real_contact(clip, contact_model)
        with np.errstate(all="ignore"):
            for e in contact_episodes(clip.frame, result, clip.hands, clip.fps, core=core):
                frames = np.concatenate([np.arange(a, b) for a, b in e.segments])
                touches = bool(clip.truth[frames].any())
                label = (clip.pattern if clip.pattern else (None if clip.family else OTHER)) if touches else OTHER
                if label is not None:
                    rows.append(pattern_vector(e)), labels.append(label), groups.append(clip.id)
    return rows, labels, groups


def calibration_error(confidence: np.ndarray, right: np.ndarray, weight: np.ndarray | None = None,
                      bins: int = 10) -> float:
    """Expected calibration error: the (weighted) mean gap between the top-class probability and the share
    of right answers, over ``bins`` equal-width confidence bins."""
    weight = np.ones(len(confidence)) if weight is None else np.asarray(weight, np.float64)
    which = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            gap += abs(np.sum(weight[mask] * (confidence[mask] - right[mask])))
    return float(gap / np.sum(weight))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_pattern_transfer(synthetic_clips, real_clips, contact_model: ContactModel, l2: float = 1e-2,
                         real_share: float = 0.3, folds: int = 3, seed: int = 0,
                         detected: bool = True, decision: str = "pattern",
                         episodes: str = "core") -> tuple[PatternModel, dict]:
    """Fit the recogniser (18 patterns + ``OTHER``) on time-stretched synthetic episodes and the real
    fitting half's episodes, then calibrate it: a temperature and the rejection threshold are chosen on
    out-of-fold probabilities (folds grouped by synthetic subject / real clip).

    The threshold maximises the out-of-fold share of episodes handled right: a pattern episode given its
    pattern, an ``OTHER`` episode left unlabelled (most probable class ``OTHER`` or below threshold), as the
    model's ``decision`` (``patterns.decide``) reads the probabilities. ``episodes``: the detected episodes
    described over their touch core (``"core"``) or over the detected runs (``"runs"``, the earlier fit).
    """
    classes = list(PATTERN_CLASSES) + [OTHER]
    core = {"core": True, "runs": False}[episodes]
    sx, sy, sg = synthetic_pattern_rows(synthetic_clips, contact_model, seed, detected, core)
    rx, ry, rg = real_pattern_rows(real_clips, contact_model, core) if real_clips else ([], [], [])
    x = np.array(sx + rx, np.float64)
    y = np.array([classes.index(v) for v in sy + ry])
    is_real = np.array([False] * len(sx) + [True] * len(rx))
    weight = np.where(is_real, real_share / max(1, len(rx)), (1 - real_share if rx else 1.0) / max(1, len(sx)))
    group_ids = {g: i for i, g in enumerate(dict.fromkeys([str(g) for g in sg + rg]))}
    fold = np.array([group_ids[str(g)] % folds for g in sg + rg])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    xs = (x - mean) / scale
    logits = np.zeros((len(x), len(classes)))
    for k in range(folds):
        train = fold != k
        w, b = fit_softmax(xs[train], y[train], len(classes), l2, weight[train])
        logits[~train] = xs[~train] @ w + b
    # Temperature: the out-of-fold negative log-likelihood, weighted as the fit.
    temps = np.exp(np.linspace(np.log(0.5), np.log(4.0), 29))
    nll = [-np.sum(weight * np.log(_softmax(logits / t)[np.arange(len(y)), y] + 1e-12)) for t in temps]
    temperature = float(temps[int(np.argmin(nll))])
    prob = _softmax(logits / temperature)
    other = len(classes) - 1
    # The answer and confidence of each row as the model will read them, before any threshold.
    decided = [decide_pattern(row, 0.0, decision) for row in prob]
    best_class = np.array([other if b is None else b for b, _ in decided])
    confidence = np.array([c for _, c in decided])
    raw = _softmax(logits)
    best_threshold, best_score = 0.0, -np.inf
    for threshold in np.linspace(0.0, 0.9, 19):
        labelled = (best_class != other) & (confidence >= threshold)
        right = np.where(y == other, ~labelled, labelled & (best_class == y))
        score = float(np.sum(weight * right) / np.sum(weight))
        if score > best_score:
            best_threshold, best_score = float(threshold), score
    w, b = fit_softmax(xs, y, len(classes), l2, weight)
    model = PatternModel(weights=(w / temperature).tolist(), bias=(b / temperature).tolist(), mean=mean.tolist(),
                         scale=scale.tolist(), min_confidence=best_threshold, decision=decision, episodes=episodes)
    oof_right = lambda mask: float(np.mean(((best_class == y) & (confidence >= best_threshold))[mask])) if mask.any() else float("nan")
    return model, {"episodes_synthetic": len(sx), "episodes_real": len(rx), "episodes_other": int((y == other).sum()),
                   "stretches": list(STRETCHES), "l2": l2, "real_share": real_share if rx else 0.0,
                   "temperature": round(temperature, 4), "decision": decision, "episodes": episodes,
                   "min_confidence": best_threshold,
                   "out_of_fold_score": round(best_score, 4),
                   "out_of_fold_ece_uncalibrated": round(calibration_error(raw.max(axis=1), raw.argmax(axis=1) == y,
                                                                           weight), 4),
                   "out_of_fold_ece": round(calibration_error(confidence, best_class == y, weight), 4),
                   "out_of_fold_pattern_accuracy_synthetic": round(oof_right(~is_real & (y != other)), 4),
                   "selection": f"temperature by out-of-fold NLL, then min_confidence maximising the out-of-fold "
                                f"share of episodes handled right ({folds} folds by subject / real clip)"}
